"""Pure-logic checks of the Tinker path: key format, loopback guard, file names, prices.

None of these talk to Tinker or the stand-in."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import pytest

from character.testing.tinker_standin import LoopbackOnlyError, StandinServer, ensure_loopback
from character.tinker.errors import TinkerKeyError, TinkerUnreachableError
from character.tinker.preflight import PreflightConfig, check_key_format, run_preflight
from character.tinker.weights import UnsafeFileNameError, safe_relative_name

pytestmark = pytest.mark.unit


def _jwt() -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': 'x'})}.c2lnbmF0dXJl"


def test_key_format_accepts_tml_and_jwt_and_names_the_variable() -> None:
    assert check_key_format("tml-abcDEF123") == "tml-abcDEF123"
    assert check_key_format(_jwt()).count(".") == 2
    with pytest.raises(TinkerKeyError, match="TINKER_API_KEY"):
        check_key_format(None)
    for bad in ("sk-123456789", "tml-", "tml-has space", "a.b.c", "   "):
        with pytest.raises(TinkerKeyError):
            check_key_format(bad)


def test_loopback_guard_refuses_remote_hosts() -> None:
    for ok in ("127.0.0.1", "http://127.0.0.1:9", "http://localhost:1", "::1", "http://[::1]:5"):
        assert ensure_loopback(ok) == ok
    for bad in ("10.0.0.1", "http://10.0.0.1:8000", "example.com", "https://example.com/x", ""):
        with pytest.raises(LoopbackOnlyError):
            ensure_loopback(bad)
    with pytest.raises(LoopbackOnlyError):
        StandinServer("10.0.0.1", adapter_model_dir=Path("/nonexistent"))
    with pytest.raises(LoopbackOnlyError):
        StandinServer("example.com", adapter_model_dir=Path("/nonexistent"))


def test_downloaded_file_names_are_validated() -> None:
    assert str(safe_relative_name("adapter_config.json")) == "adapter_config.json"
    assert str(safe_relative_name("sub/adapter_model.safetensors")) == (
        "sub/adapter_model.safetensors"
    )
    for bad in ("../evil", "/etc/passwd", "a\\b", "", "a/../../b", "./x", ".hidden", "a b"):
        with pytest.raises(UnsafeFileNameError):
            safe_relative_name(bad)


def test_preflight_missing_key_says_which_variable() -> None:
    with pytest.raises(TinkerKeyError, match="TINKER_API_KEY"):
        run_preflight(PreflightConfig(base_url="http://127.0.0.1:9"))


def test_preflight_unreachable_port_fails_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from character.settings import get_settings

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("TINKER_API_KEY", "tml-unit-test-key")
    get_settings.cache_clear()
    start = time.monotonic()
    with pytest.raises(TinkerUnreachableError, match=f"127.0.0.1:{port}"):
        run_preflight(PreflightConfig(base_url=url, base_model="Qwen/Qwen3-8B", timeout_s=3))
    assert time.monotonic() - start < 5
    report = run_preflight(PreflightConfig(base_url=url, timeout_s=3), raise_errors=False)
    assert not report.ok and report.problem_kind == "network" and report.key_ok


def test_price_table_is_editable_and_estimates_scale(tmp_path: Path) -> None:
    from character.settings import get_settings
    from character.tinker.pricing import count_tokens, estimate_cost, load_price_table

    packaged = load_price_table()
    assert packaged.models["Qwen/Qwen3-8B"].train == pytest.approx(0.44)
    user = get_settings().data_path / "tinker_prices.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(
        "default: {prefill: 1, sample: 1, train: 1}\n"
        "models:\n  Qwen/Qwen3-8B: {prefill: 2.0, sample: 3.0, train: 10.0}\n",
        encoding="utf-8",
    )
    table = load_price_table()
    assert table.path == str(user) and table.models["Qwen/Qwen3-8B"].train == 10.0

    sft = tmp_path / "sft.jsonl"
    sft.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi" * 50},
                    {"role": "assistant", "content": "yo" * 200},
                ]
            }
        )
        + "\n",
        encoding="utf-8",
    )
    tokens = count_tokens(sft, "sft")
    assert not tokens.exact and tokens.total_tokens > tokens.trained_tokens > 0
    one = estimate_cost(tokens, model="Qwen/Qwen3-8B", kind="sft", epochs=1, table=table)
    three = estimate_cost(tokens, model="Qwen/Qwen3-8B", kind="sft", epochs=3, table=table)
    assert three.usd == pytest.approx(3 * one.usd, rel=0.01) and one.usd > 0
    dpo = estimate_cost(tokens, model="Qwen/Qwen3-8B", kind="dpo", epochs=1, table=table)
    assert dpo.usd > one.usd  # the reference pass and custom-loss forward cost extra
    guess = estimate_cost(tokens, model="some/unknown-model", kind="sft", table=table)
    assert guess.price_is_default and any("default" in n for n in guess.notes)

    user.write_text("default: {prefill: -1, sample: 1, train: 1}\n", encoding="utf-8")
    from character.io import DataFileError

    with pytest.raises(DataFileError, match="default.prefill"):
        load_price_table()


def test_lr_schedule_warms_up_then_decays_to_a_tenth() -> None:
    from character.tinker.train import lr_at

    lrs = [lr_at(s, 100, 1e-4, 0.1) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-4)
    assert lrs[-1] == pytest.approx(1e-5, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_cli_preflight_fails_fast_with_plain_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from character.settings import get_settings
    from character.tinker.cli import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = CliRunner()
    result = runner.invoke(app, ["preflight", "--base-url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1 and "TINKER_API_KEY" in result.output
    monkeypatch.setenv("TINKER_API_KEY", "tml-unit-test-key")
    get_settings.cache_clear()
    start = time.monotonic()
    result = runner.invoke(app, ["preflight", "--base-url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1 and "Cannot reach" in result.output
    assert time.monotonic() - start < 5
    result = runner.invoke(app, ["prices"])
    assert result.exit_code == 0 and "Qwen/Qwen3-8B" in result.output


def test_local_training_config_switches_to_tinker() -> None:
    from pydantic import ValidationError

    from character.tinker.train import TinkerTrainingConfig, tinker_config_from_local

    local = {
        "backend": "local",
        "dataset_path": "pairs.jsonl",
        "model": "smollm2-135m",
        "lora_rank": 16,
        "lora_alpha": 32,
        "learning_rate": 5e-5,
        "beta": 0.2,
        "nll_weight": 0.05,
        "epochs": 1.0,
        "batch_size": 4,
        "save_steps": 10,
        "max_steps": 7,
        "output_dir": "out",
        "gradient_accumulation_steps": 2,
    }
    cfg, dropped = tinker_config_from_local(local)
    assert cfg.backend == "tinker" and cfg.base_model == "smollm2-135m" and cfg.lora_rank == 16
    assert (cfg.beta, cfg.nll_alpha, cfg.save_every, cfg.max_steps) == (0.2, 0.05, 10, 7)
    assert dropped == ["gradient_accumulation_steps", "lora_alpha"]
    with pytest.raises(ValidationError, match="lora_alpha"):
        TinkerTrainingConfig.model_validate(local | {"backend": "tinker"})


@pytest.mark.parametrize(
    ("cls_name", "status", "detail", "expected"),
    [
        ("BillingError", 402, "no credits", "billing"),
        ("RateLimitError", 429, "slow down", "rate_limit"),
        ("AuthenticationError", 401, "Invalid API key", "auth"),
        ("NotFoundError", 404, "Checkpoint tinker://r/weights/x has expired", "checkpoint"),
        ("BadRequestError", 400, "Model acme/x is not supported", "unsupported_model"),
        ("InternalServerError", 500, "boom", "job_failed"),
    ],
)
def test_sdk_errors_map_to_plain_words(
    cls_name: str, status: int, detail: str, expected: str
) -> None:
    import httpx
    import tinker

    from character.tinker.errors import map_error

    request = httpx.Request("POST", "http://127.0.0.1:1/api/v1/x")
    response = httpx.Response(status, request=request, json={"detail": detail})
    exc = getattr(tinker, cls_name)(detail, response=response, body={"detail": detail})
    mapped = map_error(exc, "Doing X")
    assert mapped.kind == expected and str(mapped).startswith("Doing X")
    assert mapped.hint and mapped.hint in str(mapped)
    # Wrapped the way the SDK's futures wrap fatal errors (ValueError from the status error).
    try:
        try:
            raise exc
        except tinker.APIStatusError as inner:
            raise ValueError(f"Error retrieving result: {inner}") from inner
    except ValueError as outer:
        assert map_error(outer, "Doing X").kind == expected


def test_connection_and_job_failures_map_to_plain_words() -> None:
    import httpx
    import tinker

    from character.tinker.errors import map_error

    conn = tinker.APIConnectionError(request=httpx.Request("GET", "http://127.0.0.1:1/"))
    assert map_error(conn).kind == "network"
    failed = tinker.RequestFailedError("too long", request_id="r1", category="user")
    assert map_error(failed).kind == "job_failed"
