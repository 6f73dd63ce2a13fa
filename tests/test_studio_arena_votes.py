"""The arena's leaderboard after the first votes: no red error after a 'both bad' vote, and
no zero-width 95% interval after one vote (it says it needs more votes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from studio_pages import open_page, use_constitutions

pytestmark = pytest.mark.unit


def _battle(i: int):  # noqa: ANN202
    from character.eval.arena import Battle

    return Battle(
        battle_id=f"b{i}",
        created_at="2026-01-01T00:00:00+00:00",
        prompt=f"prompt {i}",
        model_a="smollm2-135m",
        model_b="smollm2-135m|system:beekeeper",
        response_a="plain answer",
        response_b="buzzing answer",
        swapped=False,
    )


def test_both_bad_then_one_vote_then_enough_votes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from character.eval.arena import record_vote

    use_constitutions(tmp_path / "constitutions", monkeypatch)
    record_vote(_battle(0), "both_bad")
    at = open_page("studio/views/arena.py")
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Votes"] == "1"
    assert any("all 'both bad'" in i.value for i in at.info)

    record_vote(_battle(1), "B")
    at.run()
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["95% interval"]) == ["need more votes (3+ more)"] * 2

    for i in range(2, 8):
        record_vote(_battle(i), "B" if i % 3 else "A")
    at.run()
    shown = list(at.dataframe[0].value["95% interval"])
    assert all(" to " in s for s in shown), shown


def test_a_both_bad_vote_from_the_page_shows_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from character.eval.arena import load_votes

    use_constitutions(tmp_path / "constitutions", monkeypatch)
    at = open_page("studio/views/arena.py")
    at.session_state["ar_battle"] = _battle(0)
    at.run()
    at.button(key="ar_vote_both_bad").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Vote saved" in s.value for s in at.success)
    assert [v.choice for v in load_votes().votes] == ["both_bad"]
