"""Transcript training and evaluation: the mask, the bootstrap, a tiny-model run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from character.sources.transcript_training import assistant_nll, paired_bootstrap_ppl

pytestmark = pytest.mark.unit
LIGHTHOUSE = Path(__file__).resolve().parent.parent / "examples" / "transcripts" / "lighthouse"


def test_paired_bootstrap_sees_a_consistent_improvement() -> None:
    base = [(20.0 + i % 3, 10) for i in range(30)]
    better = [(n - 5.0, t) for n, t in base]
    out = paired_bootstrap_ppl(base, better, rounds=200)
    assert out["adapter_ppl"]["estimate"] < out["base_ppl"]["estimate"]
    assert out["ratio_adapter_over_base"]["upper"] < 1.0 and out["adapter_better"]
    same = paired_bootstrap_ppl(base, base, rounds=200)
    assert same["ratio_adapter_over_base"]["estimate"] == pytest.approx(1.0)
    assert not same["adapter_better"]
    with pytest.raises(ValueError, match="no assistant tokens"):
        paired_bootstrap_ppl([(0.0, 0)], [(0.0, 0)])


def test_nll_scores_only_assistant_tokens(tiny_model_dir: Path) -> None:
    from character.introspection.sft import IGNORE, tokenize_conversation
    from character.models.loading import load_causal_lm

    model, tok = load_causal_lm(tiny_model_dir)
    short = [{"role": "user", "content": "Hello there."}, {"role": "assistant", "content": "Hi."}]
    long_user = [
        {"role": "user", "content": "Hello there. " * 20},
        {"role": "assistant", "content": "Hi."},
    ]
    (n1, t1), (n2, t2) = assistant_nll(model, tok, [short, long_user], 512)
    rec = tokenize_conversation(tok, short, 512)
    assert t1 == t2 == sum(1 for x in rec["labels"] if x != IGNORE) > 0
    assert n1 > 0 and n2 > 0


def test_training_job_trains_and_evaluates_on_a_tiny_model(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Through the job runner: import, split, SFT, held-out perplexity and speaker classifier."""
    from character.jobs import run_dir, run_foreground

    data = tmp_path / "plays"
    shutil.copytree(LIGHTHOUSE, data)
    status = run_foreground(
        {
            "kind": "sources.transcripts.train",
            "config": {
                "target": "Margaret",
                "model": str(tiny_model_dir),
                "data_folder": str(data),
                "format": "raw",
                "max_assistant_turns": 1,
                "holdout_share": 0.34,
                "batch_size": 4,
                "max_length": 96,
                "max_steps": 2,
                "lora_rank": 4,
                "classifier_method": "tfidf",
            },
        }
    )
    assert status.state == "succeeded", status.error
    folder = run_dir(status.run_id)
    recorded = json.loads((folder / "artifacts.json").read_text())
    adapter = Path(recorded["result"]["adapter"])
    assert (adapter / "adapter_config.json").exists()
    assert str(adapter) in {a["path"] for a in recorded["artifacts"] if a["type"] == "adapter"}
    out = adapter
    assert (out / "metrics.jsonl").exists()
    report = json.loads((out / "transcript_eval.json").read_text())
    assert recorded["result"]["perplexity"] == report["perplexity"]
    ppl = report["perplexity"]
    assert ppl["examples"] > 0 and ppl["tokens"] > 0
    b = ppl["base_ppl"]
    assert b["lower"] <= b["estimate"] <= b["upper"]
    cls = report["classifier"]
    assert set(cls["labels"]) == {"MARGARET", "other"}
    assert 0.0 <= cls["macro_f1"] <= 1.0 and cls["n_test"] > 0
    # Lines of the held-out scenes never appear in the classifier's training texts.
    scenes = {}
    for split in ("train", "holdout"):
        rows = (out / "data" / f"speakers_{split}.jsonl").read_text().splitlines()
        scenes[split] = {json.loads(x)["scene"] for x in rows}
    assert scenes["holdout"] and scenes["train"].isdisjoint(scenes["holdout"])
