"""A transcript speaker adapter trained on Tinker, through the job runner and the real `tinker`
SDK against the loopback stand-in (character/testing/tinker_standin.py); never a remote service.

The stand-in's training is SYNTHETIC (plumbing, not learning): this checks that the transcript
dataset reaches Tinker, the adapter comes back as a PEFT folder, and the held-out evaluation runs
on it because its base is on this machine. The "Tinker model" is the tiny random llama, served by
the stand-in under its folder name, so the evaluation's forward passes take seconds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinker_standin_env import use_standin

from character.testing.tinker_standin import DEFAULT_MODELS, StandinServer, ensure_loopback

pytestmark = pytest.mark.unit
LIGHTHOUSE = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "lighthouse"


@pytest.fixture
def tinker_standin(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StandinServer]:
    tiny = {"model_name": str(tiny_model_dir), "max_context_length": 1024, "trainable": True}
    models = [*DEFAULT_MODELS, {**tiny, "sampleable": True}]
    with StandinServer(adapter_model_dir=tiny_model_dir, models=models) as server:
        yield use_standin(server, monkeypatch)


def test_transcript_adapter_on_tinker_through_the_job(
    tinker_standin: StandinServer, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from character.jobs import run_dir, run_foreground
    from character.settings import get_settings

    ensure_loopback(get_settings().tinker_base_url or "")
    data = tmp_path / "plays"
    shutil.copytree(LIGHTHOUSE, data)
    status = run_foreground(
        {
            "kind": "sources.transcripts.train",
            "config": {
                "target": "Margaret",
                "backend": "tinker",
                "model": str(tiny_model_dir),
                "data_folder": str(data),
                "format": "raw",
                "max_assistant_turns": 2,
                "holdout_share": 0.34,
                "batch_size": 2,
                "max_length": 128,
                "max_steps": 2,
                "lora_rank": 4,
                "classifier_method": "tfidf",
            },
        }
    )
    assert status.state == "succeeded", status.error
    recorded = json.loads((run_dir(status.run_id) / "artifacts.json").read_text())
    result = recorded["result"]
    adapter = Path(result["adapter"])
    assert adapter.name == "adapter" and adapter.parent.name == "tinker"
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tiny_model_dir)

    # The speaker's conversations are what Tinker trained on: 2 steps of 2 rows.
    tinker_dir = adapter.parent
    saved = json.loads((tinker_dir / "config.json").read_text())
    assert saved["kind"] == "sft" and saved["base_model"] == str(tiny_model_dir)
    assert Path(saved["dataset_path"]).name == "train.jsonl"
    assert "api_key" not in json.dumps(saved)
    metrics = [json.loads(x) for x in (tinker_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    train_rows = (tinker_dir.parent / "data" / "train.jsonl").read_text().splitlines()
    first = json.loads(train_rows[0])["messages"]
    assert first[-1]["role"] == "assistant"
    assert len(tinker_standin.requests("/forward_backward")) == 2
    assert len(tinker_standin.requests("/optim_step")) == 2

    # Evaluated like a local adapter: the base is the embedded model.
    assert "evaluation_skipped" not in result
    ppl = result["perplexity"]
    assert ppl["examples"] > 0 and ppl["base_ppl"]["estimate"] > 1.0
    # The downloaded LoRA is live: the adapter's numbers differ from the base's.
    assert ppl["adapter_ppl"]["estimate"] != ppl["base_ppl"]["estimate"]
    assert set(result["classifier"]["labels"]) == {"MARGARET", "other"}


def test_evaluation_is_skipped_with_a_reason_when_the_base_is_not_here(tmp_path: Path) -> None:
    from character.sources.transcript_training import local_evaluation_blocker

    adapter = tmp_path / "run" / "tinker" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "Qwen/Qwen3-8B", "peft_type": "LORA"})
    )
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    reason = local_evaluation_blocker(tmp_path / "run")
    assert reason and "Qwen/Qwen3-8B" in reason and "not available locally" in reason
    assert "no adapter" in (local_evaluation_blocker(tmp_path / "empty") or "")
