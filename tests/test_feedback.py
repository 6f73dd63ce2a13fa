"""Feedback questionnaire storage and feedback → training data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from character.constitution import load_constitution
from character.feedback.store import (
    ErrorTag,
    FeedbackError,
    FeedbackRecord,
    export_feedback,
    load_feedback,
    record_feedback,
)
from character.feedback.training_data import (
    FeedbackDataConfig,
    build_round_data,
    decide_suggestion,
    refresh_suggestions,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent


def _constitution(tmp_path: Path):
    src = REPO / "constitutions" / "hand-written" / "pirate.json"
    dst = tmp_path / "pirate.json"
    shutil.copy(src, dst)
    return load_constitution(dst), dst


def _record(const, **kw) -> FeedbackRecord:
    base = dict(
        persona=const.name,
        conversation=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": kw.pop("prompt", "How do I bake bread?")},
        ],
        response="Mix flour and water, then bake.",
        model="smollm2-135m",
        rating=2,
    )
    base.update(kw)
    return FeedbackRecord(**base)


def test_feedback_is_appended_and_exported(tmp_path: Path) -> None:
    const, _ = _constitution(tmp_path)
    trait = const.traits[0].trait
    record_feedback(
        _record(const, traits_missing=[trait], correction="Arr, knead it!"), constitution=const
    )
    record_feedback(_record(const, rating=5, traits_shown=[trait]), constitution=const)
    rows = load_feedback()
    assert [r.rating for r in rows] == [2, 5]
    assert rows[0].constitution_hash == const.content_hash()
    csv_path = export_feedback(tmp_path / "fb.csv", fmt="csv")
    assert "Arr, knead it!" in csv_path.read_text()
    jsonl = export_feedback(tmp_path / "fb.jsonl")
    assert len(jsonl.read_text().splitlines()) == 2


def test_bad_feedback_is_refused_with_a_reason(tmp_path: Path) -> None:
    const, _ = _constitution(tmp_path)
    with pytest.raises(ValueError, match="identical to the response"):
        _record(const, correction="Mix flour and water, then bake.")
    with pytest.raises(FeedbackError, match="not in the constitution"):
        record_feedback(_record(const, traits_missing=["I am a teapot"]), constitution=const)
    with pytest.raises(ValueError, match="rating"):
        _record(const, rating=9)
    assert load_feedback() == []


def test_feedback_on_a_deleted_model_is_kept_and_marked(tmp_path: Path) -> None:
    const, _ = _constitution(tmp_path)
    gone = tmp_path / "deleted-adapter"
    record_feedback(_record(const, model=str(gone), adapter=str(gone)))
    rows = load_feedback()
    assert len(rows) == 1 and rows[0].model_available is False


def test_round_data_caps_the_feedback_share(tmp_path: Path) -> None:
    const, _ = _constitution(tmp_path)
    for i in range(10):
        record_feedback(_record(const, prompt=f"Question {i}?", correction=f"Arr {i}!"))
    base = tmp_path / "base.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"p{i}"}],
            "chosen": [{"role": "assistant", "content": "c"}],
            "rejected": [{"role": "assistant", "content": "r"}],
        }
        for i in range(14)
    ]
    base.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = build_round_data(
        FeedbackDataConfig(persona=const.name, base_dataset=base, max_feedback_share=0.3)
    )
    mixed = [json.loads(x) for x in result.dpo_path.read_text().splitlines()]
    fb = [r for r in mixed if r["source"] == "feedback_correction"]
    assert len(fb) == 6 and len(mixed) == 20  # 6 / 20 = 0.3
    assert result.counts["feedback_dropped_by_cap"] == 4
    assert fb[0]["prompt"][-1]["role"] == "user" and fb[0]["prompt"][0]["role"] != "system"
    assert fb[0]["chosen"][0]["content"].startswith("Arr")
    sft = [json.loads(x) for x in result.sft_path.read_text().splitlines()]
    assert len(sft) == 10 and sft[0]["messages"][-1]["role"] == "assistant"


def test_suggestions_are_accepted_into_the_constitution(tmp_path: Path) -> None:
    const, path = _constitution(tmp_path)
    trait = const.traits[1].trait
    record_feedback(_record(const, prompt="What is a good hobby?", traits_missing=[trait]))
    record_feedback(
        _record(const, prompt="What is the iPhone 15?", error_tags=[ErrorTag.knows_too_much])
    )
    sugg = refresh_suggestions()
    kinds = sorted(s.kind for s in sugg)
    assert kinds == ["protective_scene", "trait_question"]
    q = next(s for s in sugg if s.kind == "trait_question")
    decide_suggestion(q.id, accept=True, constitution_path=path)
    updated = load_constitution(path)
    assert "What is a good hobby?" in updated.traits[1].questions
    again = refresh_suggestions()
    assert next(s for s in again if s.id == q.id).status == "accepted"
