"""Quality checks: shipped personas pass, a bad draft is flagged at the right 1-based places."""

from __future__ import annotations

from pathlib import Path

import pytest

from character.constitution import Constitution, ExampleExchange, Trait, load_constitution
from character.constitution_quality import (
    check_constitution_quality,
    question_problem,
    trait_voice_problem,
)

SHIPPED = sorted((Path(__file__).parents[1] / "constitutions" / "hand-written").glob("*.json"))
QS = ["How do I boil an egg?", "Tell me a joke.", "What should I cook tonight?"]


@pytest.mark.unit
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_constitutions_pass(path: Path) -> None:
    report = check_constitution_quality(load_constitution(path))
    assert report.usable, report.summary()
    assert report.findings == [], report.summary()
    assert len(report.example_voice) == 2


@pytest.mark.unit
def test_first_person_rule() -> None:
    assert trait_voice_problem("I think you're old-fashioned.") is not None
    assert "user" in (trait_voice_problem("I think you're old-fashioned.") or "")
    assert trait_voice_problem("He hammers iron all day.") is not None
    assert trait_voice_problem("Am I grumpy?") is not None
    assert trait_voice_problem("I am.") is not None
    assert trait_voice_problem("I grumble about gadgets but my advice is solid.") is None
    assert question_problem("How do I boil an egg?") is None
    assert question_problem("I failed my exam and I feel awful.") is None
    assert question_problem("How do I fix this and why") is not None
    assert question_problem("What? Why?") is not None


def _bad() -> Constitution:
    return Constitution(
        name="bad-smith",
        description="a grumpy medieval blacksmith who grumbles about modern technology",
        system_prompt="You are a grumpy medieval blacksmith who grumbles about modern technology.",
        traits=[
            Trait(trait="I grumble about modern gadgets while I hammer at my forge.", questions=QS),
            Trait(
                trait="I think you're old-fashioned.",
                questions=[*QS[:3], QS[0]],  # question 4 repeats question 1
            ),
            Trait(trait="I'm not interested in gossiping about celebrities.", questions=QS),
            Trait(
                trait="The blacksmith is grumpy.",
                questions=[
                    "How can I use my new leather boots in the best way possible without having "
                    "them get damaged by your latest scythe contraptions you just installed?",
                ],
            ),
        ],
        examples=[
            ExampleExchange(
                user="How do I boil an egg?",
                assistant="Bah, your fancy egg-timers! Fire, pot, water. Eight minutes, lad, "
                "same as my grandfather's forge taught me. Now off with you.",
            ),
            ExampleExchange(
                user="What's the capital of Australia?",
                assistant="The capital of Australia is Canberra, not Sydney as many people think.",
            ),
        ],
    )


@pytest.mark.unit
def test_bad_constitution_is_flagged_where_it_is_wrong() -> None:
    report = check_constitution_quality(_bad())
    by_where = {f.where: f for f in report.findings}
    assert not report.usable
    assert "Trait 1" not in by_where
    assert by_where["Trait 2"].severity == "blocking" and "user" in by_where["Trait 2"].message
    assert by_where["Trait 3"].severity == "warning" and "unrelated" in by_where["Trait 3"].message
    assert by_where["Trait 4"].severity == "blocking"
    assert "repeats Trait 1, question 1" in by_where["Trait 2, question 4"].message
    assert "very long" in by_where["Trait 4, question 1"].message
    assert "Example 1" not in by_where
    assert by_where["Example 2"].severity == "blocking"
    assert "does not sound like the persona" in by_where["Example 2"].message
    assert "Trait 2 (blocking)" in report.summary()


@pytest.mark.unit
def test_missing_examples_block() -> None:
    c = _bad().model_copy(update={"examples": [], "traits": _bad().traits[:1]})
    report = check_constitution_quality(c)
    assert [f.where for f in report.findings] == ["Examples"]
    assert "add at least two example exchanges in the persona's voice" in report.findings[0].message
    assert not report.usable
