"""Robustness: held-out prompts stay out of training; end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.backends.base import SamplingParams
from character.constitution import resolve_constitution
from character.eval.robustness import (
    ADVERSARIAL_SUFFIXES,
    Condition,
    OverlapError,
    RobustnessConfig,
    check_disjoint,
    heldout_prompts,
    persona_messages,
    run_robustness,
    training_prompts,
)

pytestmark = pytest.mark.unit


def test_heldout_prompts_are_disjoint_from_training_prompts() -> None:
    from character.constitution import resolve_constitution
    from character.distillation.prompts import load_bank

    prompts = heldout_prompts()
    assert len(prompts) >= 50 and len(set(prompts)) == len(prompts)
    train = training_prompts(constitution=resolve_constitution("pirate"))
    assert len(train) > len(load_bank())
    check_disjoint(prompts, train)  # raises on any overlap
    with pytest.raises(OverlapError, match="1 evaluation prompt"):
        check_disjoint([*prompts[:3], load_bank()[0][1].upper()], train)
    assert len(ADVERSARIAL_SUFFIXES) >= 8
    pirate = resolve_constitution("pirate")
    full = persona_messages(pirate, "full", "smollm2-135m")
    assert full[0] == {"role": "system", "content": pirate.teacher_system_prompt()}
    auto = persona_messages(pirate, "auto", "smollm2-135m")
    assert len(auto[0]["content"]) < len(full[0]["content"])  # compact for the 135M model
    assert [m["role"] for m in auto[1:]] == ["user", "assistant"] * len(pirate.examples)
    assert pirate.examples  # the hand-written personas carry example exchanges


def test_overlap_with_training_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "dpo.jsonl"
    row = {
        "prompt": [{"role": "user", "content": heldout_prompts()[0]}],
        "chosen": [{"role": "assistant", "content": "Arr"}],
        "rejected": [{"role": "assistant", "content": "Hello"}],
    }
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(OverlapError):
        check_disjoint(heldout_prompts(), training_prompts([data]))


def test_robustness_end_to_end_on_tiny_model(
    tmp_path: Path, tiny_model_dir: Path, pirate_classifier_dir: Path
) -> None:
    cfg = RobustnessConfig(
        constitution="pirate",
        classifier_dir=pirate_classifier_dir,
        conditions=[
            Condition(name="tiny", model=str(tiny_model_dir)),
            Condition(name="tiny+system", model=str(tiny_model_dir), system_prompt=True),
        ],
        base_model=str(tiny_model_dir),
        max_prompts=3,
        suffixes=["no_character", "assistant"],
        sampling=SamplingParams(max_new_tokens=6, seed=0),
        bootstrap_rounds=50,
        output_dir=tmp_path / "out",
    )
    events = []
    report = run_robustness(cfg, reporter=events.append)
    assert report.variants == ["default", "no_character", "assistant", "prefill"]
    assert len(report.cells) == 2 * 4
    for cell in report.cells:
        assert cell.retention.n == 3
        assert cell.retention.lower <= cell.retention.estimate <= cell.retention.upper
    assert set(report.adversarial) == {"tiny", "tiny+system"}
    assert report.reference == "tiny+system" and set(report.paired_difference) == {"tiny"}
    diff = report.paired_difference["tiny"]
    assert diff.estimate == pytest.approx(
        report.adversarial["tiny"].estimate - report.adversarial["tiny+system"].estimate
    )
    gens = [
        json.loads(x) for x in (tmp_path / "out" / "generations.jsonl").read_text().splitlines()
    ]
    assert len(gens) == 2 * 4 * 3
    prefill = [g for g in gens if g["variant"] == "prefill" and g["condition"] == "tiny+system"][0]
    roles = [m["role"] for m in prefill["messages"]]
    examples = ["user", "assistant"] * len(resolve_constitution("pirate").examples)
    assert roles == ["system", *examples, "user", "assistant", "user"]
    assert prefill["messages"][-1]["content"] == "Keep going."
    suffixed = [g for g in gens if g["variant"] == "assistant"][0]
    assert suffixed["messages"][-1]["content"].endswith(ADVERSARIAL_SUFFIXES["assistant"])
    assert (tmp_path / "out" / "robustness.plotly.json").exists()
    assert any(e.kind == "artifact" for e in events)

    with pytest.raises(ValueError, match="target label"):
        run_robustness(cfg.model_copy(update={"target_label": "pirate", "output_dir": None}))
