"""The Tinker path end to end against the loopback stand-in, driven by the real `tinker` SDK.

Plumbing tests: the stand-in's losses and samples are SYNTHETIC (a per-token bias model), so
these check transport, futures, checkpoints, resume, downloads and faults, not model quality.
Every URL is checked to be loopback before use.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinker_standin_env import use_standin, write_dpo

from character.testing.tinker_standin import STANDIN_BASE_MODEL, StandinServer, ensure_loopback

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent

SFT_ROWS = [
    [("user", "Who are you?"), ("assistant", "Arr, I be Captain Mira of the Saltwind!")],
    [("user", "How do I learn Python?"), ("assistant", "Hoist yer keyboard and practise, matey!")],
    [("user", "Any advice?"), ("assistant", "Share yer treasure and keep yer crew warm, arr.")],
    [("user", "Tell me a joke"), ("assistant", "Why did the pirate learn Python? Arr-guments!")],
]


@pytest.fixture(scope="module")
def standin(embedded_model_dir: Path) -> Iterator[StandinServer]:
    with StandinServer(adapter_model_dir=embedded_model_dir) as server:
        ensure_loopback(server.base_url)
        yield server


@pytest.fixture()
def tinker_env(standin: StandinServer, monkeypatch: pytest.MonkeyPatch) -> StandinServer:
    return use_standin(standin, monkeypatch)


def _write_sft(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for conv in SFT_ROWS:
            msgs = [{"role": r, "content": c} for r, c in conv]
            fh.write(json.dumps({"messages": msgs}) + "\n")
    return path


def _config(tmp_path: Path, data: Path, **kw: object):
    from character.tinker.train import TinkerTrainingConfig

    values: dict[str, object] = dict(
        dataset_path=data,
        base_model="smollm2-135m",
        batch_size=2,
        epochs=3,
        save_every=2,
        learning_rate=1e-4,
        output_dir=tmp_path / "run",
        request_timeout_s=60,
        network_grace_s=2,
    )
    values.update(kw)
    return TinkerTrainingConfig(**values)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_standin_synthetic_preflight_models_cost_and_unsupported(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.errors import TinkerAuthError, TinkerUnsupportedModelError
    from character.tinker.preflight import PreflightConfig, run_preflight

    data = write_dpo(tmp_path / "pairs.jsonl")
    report = run_preflight(
        PreflightConfig(base_model=STANDIN_BASE_MODEL, dataset_path=data, epochs=2, batch_size=2)
    )
    assert report.ok and report.reachable and report.seconds > 0
    assert STANDIN_BASE_MODEL in [m.model_name for m in report.models]
    est = report.estimate
    assert est is not None and est["kind"] == "dpo" and est["tokens"]["exact"]
    assert est["tokens"]["examples"] == 4 and est["tokens"]["sequences"] == 8
    assert est["steps"] == 4 and est["usd"] == 0.0

    with pytest.raises(TinkerUnsupportedModelError, match="Available: .*SmolLM2"):
        run_preflight(PreflightConfig(base_model="acme/NoSuchModel-1B"))
    with pytest.raises(TinkerUnsupportedModelError, match="not trained"):
        run_preflight(PreflightConfig(base_model="Qwen/Qwen3-8B", need="train"))
    assert run_preflight(PreflightConfig(base_model="Qwen/Qwen3-8B", need="sample")).ok

    start = time.monotonic()
    with pytest.raises(TinkerAuthError):
        run_preflight(PreflightConfig(), api_key="tml-" + "wrong-key-for-standin")
    assert time.monotonic() - start < 10


def test_standin_synthetic_sft_trains_samples_checkpoints_and_downloads(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.backends.base import SamplingParams
    from character.models.registry import build_backend, resolve
    from character.tinker.train import read_checkpoints, run_tinker_training

    events = []
    cfg = _config(tmp_path, _write_sft(tmp_path / "sft.jsonl"))
    result = run_tinker_training(cfg, reporter=events.append)
    out = cfg.output_dir
    assert result.status == "completed" and result.kind == "sft" and result.steps == 6

    losses = [row["loss"] for row in _metrics(out)]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.9  # synthetic loss falls
    assert [e.step for e in events if e.kind == "progress"][-1] == 6

    ckpts = read_checkpoints(out)
    assert [c.name for c in ckpts] == ["step-000002", "step-000004", "final"]
    assert all(c.state_path and "/weights/" in c.state_path for c in ckpts)
    assert all(c.sampler_path and "/sampler_weights/" in c.sampler_path for c in ckpts)
    assert result.sampler_path == ckpts[-1].sampler_path
    saved = json.loads((out / "config.json").read_text())
    assert saved["base_model"] == STANDIN_BASE_MODEL and "api_key" not in json.dumps(saved)

    conv = [[{"role": "user", "content": "Who are you?"}]]
    params = SamplingParams(max_new_tokens=24, temperature=0.7, seed=7, n=2)
    base = build_backend(f"tinker:{STANDIN_BASE_MODEL}", timeout_s=30)
    trained = build_backend(resolve(result.sampler_path), timeout_s=30)
    try:
        base_out = base.generate(conv, params)[0]
        trained_out = trained.generate(conv, params)[0]
    finally:
        base.close()
        trained.close()
    assert len(base_out) == len(trained_out) == 2
    assert all(c.text and c.tokens > 0 for c in base_out + trained_out)
    assert [c.text for c in base_out] != [c.text for c in trained_out]  # weights changed samples
    assert trained.describe()["base_model"] == STANDIN_BASE_MODEL

    # Getting the weights home: a PEFT folder that loads onto the embedded model.
    adapter = Path(result.adapter_dir or "")
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    from character.models.loading import load_causal_lm
    from character.models.registry import local_paths

    spec = resolve(str(adapter))
    base_dir, adapter_dir = local_paths(spec)
    model, _tok = load_causal_lm(base_dir, adapter=adapter_dir)
    assert type(model).__name__.startswith("Peft")
    lora = [n for n, _ in model.named_parameters() if "lora_B" in n]
    assert len(lora) == 2 * 30


def test_standin_synthetic_dpo_loss_falls_with_reference_logprobs(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.train import run_tinker_training

    before = len(tinker_env.requests("/asample"))
    cfg = _config(tmp_path, write_dpo(tmp_path / "pairs.jsonl"), download_adapter=False)
    result = run_tinker_training(cfg)
    assert result.kind == "dpo" and result.status == "completed"
    assert result.external_path and "/external_weights/" in result.external_path
    rows = _metrics(cfg.output_dir)
    assert rows[0]["dpo_loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference at start
    assert rows[-1]["dpo_loss"] < rows[0]["dpo_loss"] - 0.1
    assert rows[-1]["accuracy"] == 1.0 and rows[-1]["margin"] > 0
    assert {"nll", "kl", "lr", "tokens"} <= rows[-1].keys()
    # Reference log-probs: one compute_logprobs per chosen and rejected sequence, cached.
    assert len(tinker_env.requests("/asample")) - before == 8
    refs = json.loads((cfg.output_dir / "reference_logprobs.json").read_text())
    assert len(refs["refs"]) == 4


def test_standin_synthetic_resume_after_killed_worker(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.train import read_checkpoints, run_tinker_training

    data = _write_sft(tmp_path / "sft.jsonl")
    out = tmp_path / "run"
    tinker_env.faults.optim_delay_s = 0.4
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "character", "tinker", "train", str(data), "--model",
           "smollm2-135m", "--batch-size", "1", "--epochs", "3", "--save-every", "2",
           "--out", str(out), "--plain", "--no-download"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if len(read_checkpoints(out)) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    tinker_env.faults.optim_delay_s = 0.0
    killed_at = max(c.step for c in read_checkpoints(out))
    assert 4 <= killed_at < 12

    cfg = _config(tmp_path, data, batch_size=1, save_every=2, output_dir=out)
    with pytest.raises(FileExistsError, match="resume"):
        run_tinker_training(cfg)
    loads = len(tinker_env.requests("/load_weights"))
    result = run_tinker_training(cfg.model_copy(update={"resume": True, "download_adapter": False}))
    assert result.status == "completed" and result.steps == 12
    assert len(tinker_env.requests("/load_weights")) == loads + 1
    steps = [r["step"] for r in _metrics(out)]
    assert steps[-1] == 12 and set(range(1, 13)) <= set(steps)
    assert read_checkpoints(out)[-1].name == "final"


def test_standin_synthetic_injected_job_failure_is_resumable(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.errors import TinkerJobFailedError
    from character.tinker.train import run_tinker_training

    cfg = _config(tmp_path, _write_sft(tmp_path / "sft.jsonl"), download_adapter=False)
    tinker_env.faults.fail_forward_backward = 1
    with pytest.raises(TinkerJobFailedError, match="injected"):
        run_tinker_training(cfg)
    status = json.loads((cfg.output_dir / "tinker_status.json").read_text())
    assert status["status"] == "interrupted" and status["error_kind"] == "job_failed"


def test_standin_synthetic_connection_loss_interrupts_then_resumes(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.errors import TinkerInterruptedError
    from character.tinker.train import run_tinker_training

    cfg = _config(
        tmp_path, _write_sft(tmp_path / "sft.jsonl"), batch_size=1, save_every=1,
        download_adapter=False, export_weights=False,
    )  # fmt: skip

    def drop_after_step_3(event) -> None:
        if event.kind == "progress" and event.step == 3:
            tinker_env.faults.drop_connections = True

    start = time.monotonic()
    with pytest.raises(TinkerInterruptedError, match="resumable") as info:
        run_tinker_training(cfg, reporter=drop_after_step_3)
    assert time.monotonic() - start < 40
    assert info.value.resume_from and "/weights/step-00000" in info.value.resume_from
    tinker_env.faults.drop_connections = False
    result = run_tinker_training(cfg.model_copy(update={"resume": True}))
    assert result.status == "completed" and result.steps == 12


def test_standin_synthetic_billing_402_surfaces_within_seconds(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.tinker.errors import TinkerBillingError
    from character.tinker.tokenizer import load_tokenizer
    from character.tinker.train import run_tinker_training

    load_tokenizer(STANDIN_BASE_MODEL)  # cold imports (torch, transformers) are not the point

    tinker_env.faults.billing = True
    cfg = _config(tmp_path, _write_sft(tmp_path / "sft.jsonl"), download_adapter=False)
    start = time.monotonic()
    with pytest.raises(TinkerBillingError, match="402"):
        run_tinker_training(cfg)
    assert time.monotonic() - start < 20  # the SDK alone would pause for an hour
    status = json.loads((cfg.output_dir / "tinker_status.json").read_text())
    assert status["error_kind"] == "billing"

    # Sampling: the SDK would retry a 402 for up to an hour; our backend says so at once.
    from character.backends.base import SamplingParams
    from character.backends.tinker_backend import TinkerBackend

    tinker_env.faults.billing = False
    backend = TinkerBackend(STANDIN_BASE_MODEL, timeout_s=30)
    try:
        tinker_env.faults.billing = True
        start = time.monotonic()
        with pytest.raises(TinkerBillingError):
            backend.chat([{"role": "user", "content": "Ahoy?"}], SamplingParams(max_new_tokens=4))
        assert time.monotonic() - start < 15
        tinker_env.faults.billing = False
        assert backend.chat(
            [{"role": "user", "content": "Ahoy?"}], SamplingParams(max_new_tokens=4)
        )
    finally:
        backend.close()


def test_standin_synthetic_expired_checkpoint_and_sampler_download_refused(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.backends.tinker_backend import TinkerBackend
    from character.tinker.errors import TinkerCheckpointError
    from character.tinker.train import run_tinker_training
    from character.tinker.weights import download_adapter

    cfg = _config(tmp_path, _write_sft(tmp_path / "sft.jsonl"), epochs=1, download_adapter=False)
    result = run_tinker_training(cfg)
    assert result.sampler_path and result.external_path
    with pytest.raises(TinkerCheckpointError, match="sampler"):
        download_adapter(result.sampler_path, tmp_path / "nope")
    tinker_env.expire_checkpoint(result.sampler_path)
    with pytest.raises(TinkerCheckpointError, match="expired"):
        TinkerBackend(result.sampler_path, timeout_s=20)
    folder = download_adapter(result.external_path, tmp_path / "adapter")
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tinker_source.json",
    ]
    with pytest.raises(FileExistsError):
        download_adapter(result.external_path, tmp_path / "adapter")


def test_standin_synthetic_cooperative_stop_then_resume_and_job_kind(
    tinker_env: StandinServer, tmp_path: Path
) -> None:
    from character.jobs.registry import get_job_kind
    from character.tinker.train import TinkerTrainingConfig, read_checkpoints, run_tinker_training

    kind = get_job_kind("tinker.train")
    assert kind.config_model is TinkerTrainingConfig and kind.cooperative_stop

    cfg = _config(
        tmp_path, _write_sft(tmp_path / "sft.jsonl"), batch_size=1, epochs=1, save_every=10,
        download_adapter=False, export_weights=False,
    )  # fmt: skip
    seen: list[int] = []

    def reporter(event) -> None:
        if event.kind == "progress" and event.step:
            seen.append(event.step)

    result = run_tinker_training(cfg, reporter=reporter, stop_requested=lambda: len(seen) >= 2)
    assert result.status == "stopped" and result.steps == 2
    assert [c.step for c in read_checkpoints(cfg.output_dir)] == [2]  # saved on stop
    result = run_tinker_training(cfg.model_copy(update={"resume": True}))
    assert result.status == "completed" and result.steps == 4
    steps = [r["step"] for r in _metrics(cfg.output_dir)]
    assert steps == [1, 2, 3, 4]


def test_standin_synthetic_tinker_run_as_a_job(tinker_env: StandinServer, tmp_path: Path) -> None:
    from character.jobs.api import read_metrics, run_dir, run_foreground

    data = _write_sft(tmp_path / "sft.jsonl")
    spec = {
        "kind": "tinker.train",
        "config": {
            "dataset_path": str(data),
            "model": "smollm2-135m",
            "batch_size": 2,
            "epochs": 2,
            "save_steps": 2,
            "download_adapter": False,
        },
    }
    status = run_foreground(spec)
    assert status.state.value == "succeeded", status.message
    rows = [r for r in read_metrics(status.run_id) if "loss" in r]
    assert len(rows) >= 4 and rows[-1]["loss"] < rows[0]["loss"]
    out = run_dir(status.run_id) / "output"
    assert (out / "checkpoints.jsonl").exists() and (out / "tinker_run.json").exists()
