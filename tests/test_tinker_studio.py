"""The studio's Tinker path end to end (AppTest) against the loopback Tinker stand-in.

Pick Tinker in the training launcher, see the key state and the cost estimate, launch the
`tinker.train` job, follow it on the Runs page, download the adapter, sample the trained
checkpoint in the Arena. The stand-in's losses and samples are SYNTHETIC (plumbing, not model
quality); every URL is checked to be loopback. Fake keys are built at run time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from studio_pages import open_page
from tinker_standin_env import use_standin, write_dpo

from character.presets import PRESETS
from character.testing.tinker_standin import STANDIN_BASE_MODEL, StandinServer, ensure_loopback

pytestmark = pytest.mark.integration

FAKE_KEY = "tml-" + "studio" + "x" * 10


@pytest.fixture(scope="module")
def standin(embedded_model_dir: Path) -> Iterator[StandinServer]:
    with StandinServer(adapter_model_dir=embedded_model_dir, api_key=FAKE_KEY) as server:
        ensure_loopback(server.base_url)
        yield server


@pytest.fixture()
def tinker_env(standin: StandinServer, monkeypatch: pytest.MonkeyPatch) -> StandinServer:
    return use_standin(standin, monkeypatch)


def _pairs_file() -> Path:
    from character.settings import get_settings

    return write_dpo(get_settings().data_path / "distillation" / "pirate_dpo.jsonl")


def _launcher_on_tinker() -> AppTest:
    at = open_page("studio/views/training.py", timeout=90)
    at.radio(key="tl_where").set_value("Tinker (remote service)").run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.success, *at.error, *at.warning, *at.info, *at.code]
    return "\n".join(str(e.value) for e in parts)


def _wait_final(run_id: str, timeout: float = 120) -> str:
    from character.jobs import get_run, tail_log
    from character.jobs.models import FINAL_STATES

    deadline = time.time() + timeout
    while time.time() < deadline:
        state = get_run(run_id).state
        if state in FINAL_STATES:
            return state.value
        time.sleep(0.25)
    raise AssertionError(f"{run_id} did not finish:\n{tail_log(run_id, 30)}")


def test_tinker_launcher_without_key_names_the_variable_and_still_estimates_cost() -> None:
    _pairs_file()
    at = _launcher_on_tinker()
    errors = " ".join(e.value for e in at.error)
    assert "TINKER_API_KEY" in errors and ".env" in errors
    assert at.button(key="tk_launch").disabled
    # The estimate works offline (local tokenizer + price table), before anyone has a key.
    assert STANDIN_BASE_MODEL in at.selectbox(key="tk_model").options
    at.selectbox(key="tk_model").set_value("Qwen/Qwen3-8B").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training kind"] == "DPO"
    assert int(metrics["Tokens per pass"].replace(",", "")) > 20
    assert metrics["Estimated cost"].startswith("$")
    assert "price table" in _texts(at)
    assert "kind: tinker.train" in at.code[0].value


def test_tinker_studio_synthetic_launch_progress_adapter_and_arena_sample(
    tinker_env: StandinServer,
) -> None:
    from character.jobs import get_run, list_runs

    start = time.monotonic()
    _pairs_file()
    at = _launcher_on_tinker()
    assert any("TINKER_API_KEY is set" in s.value for s in at.success)
    assert FAKE_KEY not in _texts(at)  # the key is never shown
    model = at.selectbox(key="tk_model")
    assert model.options == [STANDIN_BASE_MODEL]  # from the service: Qwen is sample-only there
    at.number_input(key="tk_demo_epochs").set_value(3).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Estimated cost"] == "$0.0000"  # the stand-in's model is priced at zero
    assert metrics["Training steps"] == "6" and metrics["Training kind"] == "DPO"
    assert "can be trained there" in _texts(at)
    at.checkbox(key="tk_autodl").uncheck().run()  # fetch the adapter from the Runs page instead
    assert "download_adapter: false" in at.code[0].value
    assert not at.button(key="tk_launch").disabled
    tinker_env.faults.optim_delay_s = 0.5  # slow steps a little, to watch the run live
    at.button(key="tk_launch").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["runs_selected"]
    assert [r.run_id for r in list_runs()] == [run_id] and get_run(run_id).kind == "tinker.train"

    # Live progress: the Runs page shows the running Tinker job, its step and first metrics.
    deadline = time.time() + 60
    while (get_run(run_id).step or 0) < 2 and get_run(run_id).state.value in ("queued", "running"):
        assert time.time() < deadline, get_run(run_id)
        time.sleep(0.2)
    live = open_page("studio/views/runs.py", timeout=90)
    assert {m.label: m.value for m in live.metric}["State"] == "running"
    assert {m.label: m.value for m in live.metric}["Stage"] == "tinker: dpo training"
    assert "Per-step metrics" in _texts(live)
    assert any(f"tk_chart_{run_id}_dpo_loss" in c.proto.id for c in live.get("plotly_chart"))
    tinker_env.faults.optim_delay_s = 0.0
    assert _wait_final(run_id) == "succeeded", get_run(run_id).error

    # Runs page: the generic progress plus the Tinker panel (metrics, checkpoints, adapter).
    at.switch_page("studio/views/runs.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["State"] == "succeeded"
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert len(charts) >= 4, "loss, DPO loss, accuracy and margin charts"
    table = at.dataframe[-1].value
    assert list(table["name"]) == ["step-000003", "final"]
    assert all("/sampler_weights/" in s for s in table["sampler"])
    assert all("/weights/" in s for s in table["state"])
    assert not at.get("download_button") or all(
        "adapter" not in b.proto.label.lower() for b in at.get("download_button")
    )
    at.button(key=f"tk_fetch_{run_id}").click().run()
    assert not at.exception, at.exception
    assert any("PEFT folder" in s.value for s in at.success), _texts(at)
    from character.tinker.runs import tinker_run_info

    info = tinker_run_info(run_id)
    adapter = Path(info.adapter_dir or "")
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    assert any(b.proto.label == "Save adapter (.zip)" for b in at.get("download_button"))

    import io
    import zipfile

    from character.tinker.runs import zip_folder

    names = zipfile.ZipFile(io.BytesIO(zip_folder(adapter))).namelist()
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(names)

    from character.models.loading import load_causal_lm
    from character.models.registry import local_paths, resolve

    base_dir, adapter_dir = local_paths(resolve(str(adapter)))
    peft_model, _tok = load_causal_lm(base_dir, adapter=adapter_dir)
    assert type(peft_model).__name__.startswith("Peft")
    del peft_model

    # Arena: the trained sampler checkpoint is a contestant, sampled through the tinker backend.
    assert info.sampler_path and info.sampler_path.startswith("tinker://")
    at.switch_page("studio/views/arena.py").run()
    assert not at.exception, at.exception
    assert "Tinker · tinker pirate_dpo demo · final (step 6)" in at.selectbox(key="ar_m1").options
    at.selectbox(key="ar_m1").set_value(info.sampler_path)
    at.selectbox(key="ar_m2").set_value("tinker:<model>").run()
    at.text_input(key="ar_m2_name").set_value(STANDIN_BASE_MODEL)
    at.selectbox(key="ar_p2").set_value("(no system prompt)")
    at.slider(key="ar_tokens").set_value(16).run()
    before = len(tinker_env.requests("/asample"))
    at.button(key="ar_new").click().run()
    assert not at.exception, at.exception
    battle = at.session_state["ar_battle"]
    assert {battle.model_a, battle.model_b} == {
        info.sampler_path,
        f"tinker:{STANDIN_BASE_MODEL}",
    }
    assert battle.response_a.strip() and battle.response_b.strip()
    assert battle.response_a != battle.response_b  # trained weights shift the synthetic samples
    assert len(tinker_env.requests("/asample")) >= before + 2

    # The same from a terminal: list the checkpoint, bring the adapter home again.
    from typer.testing import CliRunner

    from character.tinker.cli import app

    cli = CliRunner()
    listed = cli.invoke(app, ["runs"])
    assert listed.exit_code == 0 and "sampler_path" in listed.output, listed.output
    assert "final" in listed.output and "step-000003" in listed.output
    fetched = cli.invoke(app, ["fetch", run_id, "--again"])
    assert fetched.exit_code == 0 and "Adapter saved to" in fetched.output, fetched.output
    missing = cli.invoke(app, ["fetch", "no-such-run"])
    assert missing.exit_code == 1 and "no run named" in missing.output
    assert time.monotonic() - start < 90


@pytest.mark.unit
def test_key_status_never_contains_the_key_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from character.settings import get_settings
    from character.tinker.launcher import key_status

    missing = key_status()
    assert not missing.set and not missing.well_formed and "TINKER_API_KEY" in missing.message
    monkeypatch.setenv("TINKER_API_KEY", "sk-" + "y" * 12)
    get_settings.cache_clear()
    bad = key_status()
    assert bad.set and not bad.well_formed and "tml-" in bad.message
    monkeypatch.setenv("TINKER_API_KEY", FAKE_KEY)
    get_settings.cache_clear()
    good = key_status()
    assert good.well_formed and good.fingerprint and FAKE_KEY not in good.model_dump_json()


@pytest.mark.unit
def test_training_files_spec_and_offline_check_without_a_key(tmp_path: Path) -> None:
    from character.jobs import validate
    from character.settings import get_settings
    from character.tinker.launcher import launch_check, tinker_job_spec, training_files
    from character.tinker.train import EMBEDDED_TINKER_NAME, TinkerTrainingConfig

    root = get_settings().data_path
    pairs = _pairs_file()
    sft = root / "sources" / "chat.jsonl"
    sft.parent.mkdir(parents=True)
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Ahoy!"}]
    sft.write_text(json.dumps({"messages": msgs}) + "\n", encoding="utf-8")
    (root / "eval").mkdir()
    (root / "eval" / "scores.jsonl").write_text('{"score": 1}\n', encoding="utf-8")
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "runs" / "r1" / "metrics.jsonl").write_text('{"messages": []}\n', encoding="utf-8")
    assert sorted((p.name, k) for p, k in training_files()) == [
        ("chat.jsonl", "sft"),
        ("pirate_dpo.jsonl", "dpo"),
    ]

    spec = tinker_job_spec(pairs, "smollm2-135m", "demo", learning_rate=2e-4)
    cfg = validate(spec)
    assert isinstance(cfg, TinkerTrainingConfig)
    assert cfg.base_model == EMBEDDED_TINKER_NAME and cfg.learning_rate == 2e-4
    assert cfg.max_steps == PRESETS["demo"].dpo_steps and spec.kind == "tinker.train"

    check = launch_check(pairs, "smollm2-135m", epochs=2, batch_size=2)
    assert not check.can_launch and "TINKER_API_KEY" in check.problems[0]
    assert check.kind == "dpo" and check.preflight is None
    assert check.estimate and check.estimate["steps"] == 4 and check.estimate["tokens"]["exact"]
    broken = root / "broken.jsonl"
    broken.write_text('{"prompt": [], "chosen": "x"}\n', encoding="utf-8")
    bad = launch_check(broken, "smollm2-135m")
    assert bad.estimate is None and "broken.jsonl" in (bad.estimate_problem or "")


def test_tinker_launcher_unreachable_service_blocks_launch_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from character.settings import get_settings

    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TINKER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("TINKER_BASE_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    _pairs_file()
    start = time.monotonic()
    at = _launcher_on_tinker()
    assert time.monotonic() - start < 30
    errors = " ".join(e.value for e in at.error)
    assert "Cannot reach the Tinker service" in errors and str(port) in errors
    assert at.button(key="tk_launch").disabled
    assert any("price table" in c.value for c in at.caption)  # models offered offline
    assert {m.label for m in at.metric} >= {"Estimated cost", "Tokens per pass"}
