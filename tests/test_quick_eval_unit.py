"""The pipeline's quick evaluation: in-voice shares with intervals per model, a classifier fit
only on the run's training pairs, and a flag when DPO raised held-out NLL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quick_eval_runs import pair_row, run_folder, write_jsonl

from character.constitution import resolve_constitution
from character.eval.robustness import OverlapError, heldout_prompts, normalize_prompt
from character.introspection.quick_eval import (
    QuickEvalResult,
    format_share,
    quick_eval,
    select_eval_prompts,
    train_run_classifier,
)

pytestmark = pytest.mark.unit


def test_quick_eval_reports_in_voice_shares_with_intervals(
    tiny_model_dir: Path, tiny_lora_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARACTER_TORCH_THREADS", "1")
    folder = run_folder("qe")
    result = quick_eval(
        resolve_constitution("pirate"),
        heldout=folder / "pairs" / "heldout.jsonl",
        train_pairs=folder / "pairs" / "dpo_train.jsonl",
        base_ref=str(tiny_model_dir),
        dpo_merged=tiny_model_dir,
        sft_adapter=tiny_lora_dir,
        output_dir=folder / "eval",
        samples=6,
        max_new_tokens=4,
        seed=3,
    )
    # The file round-trips through the typed model.
    path = folder / "eval" / "quick_eval.json"
    path.write_text(result.model_dump_json(), encoding="utf-8")
    again = QuickEvalResult.model_validate_json(path.read_text(encoding="utf-8"))
    assert list(again.models) == ["base", "base+prompt", "dpo", "dpo+sft", "dpo+sft+prompt"]
    assert again.eval_prompts == 6 and again.heldout_pairs == 3
    assert (again.prompts_from_heldout_pairs, again.prompts_from_builtin) == (3, 3)
    assert again.sampling.temperature == 0.7 and again.sampling.top_p == 0.95
    assert again.sampling.repetition_penalty == 1.1 and again.sampling.seed == 3
    report = again.classifier.report
    assert report is not None and report.n_train + report.n_test == 32
    assert 0.0 <= report.accuracy.lower <= report.accuracy.estimate <= report.accuracy.upper <= 1
    assert (folder / "eval" / "classifier" / "classifier.json").exists()
    for name, row in again.models.items():
        for iv in (row.in_voice, row.judge_in_voice):
            assert iv is not None and iv.n == 6, name
            assert 0.0 <= iv.lower <= iv.estimate <= iv.upper <= 1.0
        assert len(row.samples) == 6
        assert all(s.classifier_in_voice is not None and s.judge_score is not None
                   for s in row.samples)  # fmt: skip
        assert row.system_prompt == name.endswith("+prompt")
        assert (row.heldout_answer_nll is None) == row.system_prompt
        assert format_share(row.in_voice).count("[") == 1
    head = again.headline
    assert head["in_voice_dpo_sft_prompt_ci"][0] <= head["in_voice_dpo_sft_prompt"]
    assert "judge_in_voice_base_prompt" in head and "classifier_accuracy_ci" in head
    # The DPO model is the base here: same NLL, so DPO did not raise it.
    assert head["nll_dpo"] == head["nll_base"] and again.dpo_raised_nll is False
    assert "dpo_raised_nll" in head and not again.warnings


def test_pipeline_says_plainly_when_dpo_raised_heldout_nll(
    tiny_model_dir: Path, tiny_lora_dir: Path
) -> None:
    """The eval stage of a real pipeline run. The student is the tiny model with a random LoRA
    merged in, and the "DPO model" is the plain tiny model, whose NLL on these answers is
    higher: DPO made in-voice answers less likely, and the run must say so."""
    import shutil

    from character.models.merge import merge_adapter_exact
    from character.pipeline import STAGES, PipelineConfig, run_pipeline

    folder = run_folder("qe-nll")
    student = merge_adapter_exact(tiny_model_dir, tiny_lora_dir, folder.parent / "student").path
    shutil.copytree(tiny_model_dir, folder / "merged-dpo")
    events: list = []
    cfg = PipelineConfig(
        persona="pirate",
        run_id="qe-nll",
        student_model=str(student),
        skip=[s for s in STAGES if s != "eval"],
        overrides={"eval_samples": 3, "eval_max_new_tokens": 2},
    )
    run_pipeline(cfg, events.append)
    result = QuickEvalResult.model_validate_json(
        (folder / "eval" / "quick_eval.json").read_text(encoding="utf-8")
    )
    base, dpo = result.headline["nll_base"], result.headline["nll_dpo"]
    assert dpo > base and result.dpo_raised_nll is True and result.headline["dpo_raised_nll"]
    logs = [e.message for e in events if e.kind == "log"]
    assert any("WARNING DPO made held-out NLL" in m and f"{dpo:.4f}" in m for m in logs), logs
    assert any(m.startswith("pipeline: dpo in voice ") for m in logs)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["stages"]["eval"]["dpo_raised_nll"] is True
    assert summary["stages"]["eval"]["warnings"] == result.warnings
    assert list(result.models) == ["base", "base+prompt", "dpo"]

    # The CLI on the same run id (every stage resumed or skipped) prints each model's shares
    # with their intervals, and the warning.
    import re

    from typer.testing import CliRunner

    from character.pipeline_cli import app

    args = ["--persona", "pirate", "--run-id", "qe-nll", "--student-model", str(student)]
    args += [a for s in cfg.skip for a in ("--skip", s)]
    out = CliRunner().invoke(app, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "eval: done (resumed)" in out.output
    assert "Quick evaluation on 3 held-out prompts" in out.output
    share = r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]"
    for name in result.models:
        line = rf"{re.escape(name)}: in voice {share} \(classifier\), {share} \(judge\)"
        assert re.search(line, out.output), out.output
    assert f"WARNING: DPO made held-out NLL of in-voice replies worse: base {base:.4f}" in (
        out.output
    )


def test_classifier_never_trains_on_heldout_prompts(tmp_path: Path) -> None:
    folder = run_folder("qe-clf", n_train=10)
    train = folder / "pairs" / "dpo_train.jsonl"
    held = [f"What is a good name for a pet snail {i}?" for i in range(3)]
    prompts, n_builtin = select_eval_prompts(held, [f"x{i}" for i in range(3)], 8, seed=0)
    assert prompts[:3] == held and n_builtin == 5
    assert {normalize_prompt(p) for p in prompts[3:]} <= {
        normalize_prompt(p) for p in heldout_prompts()
    }
    report = train_run_classifier(train, prompts, folder / "eval" / "classifier")
    # Fit and test split together are exactly the training pairs' texts (2 per pair).
    assert report.n_train + report.n_test == 20
    assert report.train_counts == {"in_persona": report.n_train // 2,
                                   "out_of_persona": report.n_train // 2}  # fmt: skip

    # A held-out prompt leaking into the training pairs is refused, not silently scored.
    leaked = write_jsonl(
        tmp_path / "leaky.jsonl", [pair_row(held[1], 0), *[pair_row(f"p{i}", i) for i in range(9)]]
    )
    with pytest.raises(OverlapError, match="pet snail 1"):
        train_run_classifier(leaked, prompts, folder / "eval" / "classifier-leaky")
    # ... and so is an evaluation set whose held-out pair prompt is also a training prompt,
    # while built-in prompts a training pair used are simply skipped.
    builtin = heldout_prompts()[0]
    with pytest.raises(OverlapError):
        select_eval_prompts([held[0]], [held[0]], 4, seed=0)
    picked, _ = select_eval_prompts([], [builtin], 100, seed=0)
    assert normalize_prompt(builtin) not in {normalize_prompt(p) for p in picked}


def test_too_few_pairs_for_a_classifier_is_said_and_the_judge_still_scores(
    tiny_model_dir: Path,
) -> None:
    folder = run_folder("qe-few", n_train=1, n_held=1)
    result = quick_eval(
        resolve_constitution("pirate"),
        heldout=folder / "pairs" / "heldout.jsonl",
        train_pairs=folder / "pairs" / "dpo_train.jsonl",
        base_ref=str(tiny_model_dir),
        dpo_merged=None,
        sft_adapter=None,
        output_dir=folder / "eval",
        samples=2,
        max_new_tokens=2,
    )
    assert result.classifier.report is None and result.classifier.error
    assert any(w.startswith("no persona classifier:") for w in result.warnings)
    assert all(row.in_voice is None and row.judge_in_voice is not None
               for row in result.models.values())  # fmt: skip
    assert "in_voice_base" not in result.headline and "judge_in_voice_base" in result.headline
    assert format_share(None) == "–" and result.dpo_raised_nll is None
