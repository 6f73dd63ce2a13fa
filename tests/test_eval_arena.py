"""Arena: blind battles on the tiny model, append-only votes, leaderboard, DPO export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from character.backends.base import SamplingParams
from character.eval.arena import (
    ArenaVote,
    Battle,
    arena_leaderboard,
    contestant_id,
    create_battle,
    export_dpo_pairs,
    load_votes,
    record_vote,
    votes_path,
)
from character.io import append_jsonl

pytestmark = pytest.mark.unit


def test_battle_vote_leaderboard_export(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = str(tiny_model_dir)
    prompted = contestant_id(base, "pirate")
    params = SamplingParams(max_new_tokens=5, seed=0)
    sides = set()
    battles = []
    for seed in range(4):
        b = create_battle(f"prompt {seed % 2}", base, prompted, sampling=params, seed=seed)
        assert {b.model_a, b.model_b} == {base, prompted}
        assert b.swapped == (b.model_a == prompted)
        sides.add(b.swapped)
        battles.append(b)
    assert sides == {True, False}  # sides really are randomised
    assert len((votes_path().parent / "battles.jsonl").read_text().splitlines()) == 4

    # The prompted system wins 3, loses 1, one tie; recorded with who and when.
    for b in battles[:3]:
        record_vote(b, "A" if b.model_a == prompted else "B", voter="ana", reason_tags=["voice"])
    record_vote(battles[3], "A" if battles[3].model_a == base else "B", voter="bo")
    record_vote(battles[3], "tie", voter="bo")
    record_vote(battles[2], "both_bad", voter="cy")
    with pytest.raises(ValueError):
        record_vote(battles[0], "C")  # type: ignore[arg-type]

    vs = load_votes()
    assert len(vs.votes) == 6 and vs.problems == [] and vs.unknown_models == []
    assert vs.votes[0].voter == "ana" and vs.votes[0].created_at
    assert sum(v.winner_model == prompted for v in vs.votes) == 3

    lb = arena_leaderboard(anchor=base, rounds=100)
    assert lb.leaderboard is not None
    rows = {r.system: r for r in lb.leaderboard.rows}
    assert rows[base].rating == pytest.approx(1000.0)
    assert rows[prompted].rating > 1000.0
    assert rows[prompted].lower <= rows[prompted].rating <= rows[prompted].upper
    assert rows[prompted].both_bad == 1 and rows[prompted].ties == 1

    out = tmp_path / "arena_dpo.jsonl"
    exp = export_dpo_pairs(out)
    assert (exp.n_pairs, exp.skipped_ties, exp.skipped_both_bad) == (4, 1, 1)
    pairs = [json.loads(x) for x in out.read_text().splitlines()]
    assert sum(p["chosen_model"] == prompted for p in pairs) == 3
    first = pairs[0]
    assert first["prompt"][0]["role"] == "user"
    assert first["chosen"][0]["role"] == "assistant" and "source_vote_id" in first
    vote0 = vs.votes[0]
    winner_text = vote0.response_a if vote0.choice == "A" else vote0.response_b
    assert first["chosen"][0]["content"] == winner_text


def test_unknown_models_and_bad_lines_are_reported_not_fatal(tiny_model_dir: Path) -> None:
    path = votes_path()
    good = ArenaVote(
        vote_id="v1",
        battle_id="b1",
        created_at="2026-01-01T00:00:00+00:00",
        voter="x",
        prompt="p",
        model_a=str(tiny_model_dir),
        model_b="ghost-adapter-that-was-deleted",
        response_a="a",
        response_b="b",
        choice="B",
    )
    append_jsonl(path, [good])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{torn line\n")
        fh.write(json.dumps({**good.model_dump(), "choice": "maybe"}) + "\n")
    lb = arena_leaderboard(rounds=10)
    assert lb.unknown_models == ["ghost-adapter-that-was-deleted"]
    assert len(lb.problems) == 2
    assert ":2:" in lb.problems[0] and "choice" in lb.problems[1]
    assert lb.n_votes == 1 and lb.leaderboard is not None
    dropped = arena_leaderboard(rounds=10, drop_unknown=True)
    assert dropped.n_votes == 0 and dropped.leaderboard is None
    # An empty arena is not an error either.
    path.unlink()
    assert arena_leaderboard().leaderboard is None


def test_battle_input_errors(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        create_battle("  ", "a", "b")
    with pytest.raises(ValueError, match="different"):
        create_battle("hi", str(tiny_model_dir), str(tiny_model_dir))
    assert Battle.model_fields["swapped"].description
