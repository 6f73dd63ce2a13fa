"""Validation errors in the form's words: labels, not field paths, and items counted from 1."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from character.constitution import Constitution
from character.plain_errors import CONSTITUTION_LABELS, field_label, plain_problems

pytestmark = pytest.mark.unit


def test_constitution_errors_use_the_editor_labels_counted_from_one() -> None:
    data = {
        "name": "pirate",
        "traits": [
            {"trait": "I sail", "questions": ["Where to?"]},
            {"trait": "   ", "questions": ["ok"]},
        ],
        "examples": [{"user": "hi", "assistant": ""}],
    }
    with pytest.raises(ValidationError) as info:
        Constitution.model_validate(data)
    problems = plain_problems(info.value, CONSTITUTION_LABELS)
    assert "Trait 2: the trait text is empty" in problems
    assert "Example 1: the persona's answer is empty" in problems
    assert not any("traits.1" in p or "examples.0" in p for p in problems)
    with_path = plain_problems(info.value, CONSTITUTION_LABELS, with_path=True)
    assert "Trait 2: the trait text is empty [traits.1.trait]" in with_path


def test_unknown_paths_and_other_configs_are_spelled_out() -> None:
    class Knobs(BaseModel):
        steps: int = Field(ge=1)
        prompts: list[str]

    with pytest.raises(ValidationError) as info:
        Knobs.model_validate({"steps": 0, "prompts": ["a", 3]})
    problems = plain_problems(info.value, {"steps": "Training steps"})
    assert problems == ["Training steps must be at least 1", "Field 'prompts #2' must be text"]
    assert field_label(("traits", 0, "questions", 4), CONSTITUTION_LABELS) == (
        "Trait 1, question 5"
    )


def test_a_reply_cut_by_the_length_limit_ends_at_a_word_with_an_ellipsis() -> None:
    from character.backends.base import Completion, trim_to_word

    cut = Completion(text="My bees are happy, and the hon", finish_reason="length")
    assert cut.display_text() == "My bees are happy, and the…"
    assert Completion(text="Buzz, friend.", finish_reason="stop").display_text() == (
        "Buzz, friend."
    )
    assert trim_to_word("The hive, ") == "The…"  # the trailing comma does not stay
    assert trim_to_word("Supercalifragilistic") == "Supercalifragilistic…"
