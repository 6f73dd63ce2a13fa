"""Ratings: Bradley–Terry is order-invariant and recovers known strengths; online Elo is not
order-invariant; match files fail loudly."""

from __future__ import annotations

import math
import random

import pytest

from character.eval.bradley_terry import (
    Comparison,
    fit_bradley_terry,
    leaderboard,
    win_rate,
)
from character.eval.elo import Match, compute_elo, load_matches, save_matches, score_report
from character.eval.stats import bootstrap_mean, wilson_interval
from character.io import DataFileError

pytestmark = pytest.mark.unit

TRUE = {"base": 1000.0, "sys": 1080.0, "adapter": 1200.0, "weak": 900.0}


def synthetic_votes(n: int, seed: int) -> list[Comparison]:
    rng = random.Random(seed)
    names = sorted(TRUE)
    out = []
    for k in range(n):
        a, b = rng.sample(names, 2)
        p_a = 1 / (1 + 10 ** ((TRUE[b] - TRUE[a]) / 400))
        out.append(
            Comparison(
                model_a=a, model_b=b, winner="a" if rng.random() < p_a else "b", cluster=f"p{k}"
            )
        )
    return out


def test_bt_is_order_invariant_and_elo_is_not() -> None:
    votes = synthetic_votes(400, seed=1)
    shuffled = list(votes)
    random.Random(7).shuffle(shuffled)
    bt1 = fit_bradley_terry(votes, anchor="base")
    bt2 = fit_bradley_terry(shuffled, anchor="base")
    bt3 = fit_bradley_terry(list(reversed(votes)), anchor="base")
    for s in TRUE:
        assert bt1[s] == pytest.approx(bt2[s], abs=1e-6)
        assert bt1[s] == pytest.approx(bt3[s], abs=1e-6)
    assert bt1["base"] == pytest.approx(1000.0)

    matches = [
        Match(prompt=f"q{i}", base_response="b", tuned_response="t", winner=w)
        for i, w in enumerate(["tuned"] * 12 + ["base"] * 8 + ["tie"] * 3)
    ]
    forward = compute_elo(matches)
    backward = compute_elo(list(reversed(matches)))
    assert abs(forward["tuned"] - backward["tuned"]) > 1.0
    # BT on the same matches does not care.
    from character.eval.elo import ratings_with_intervals

    f = ratings_with_intervals(matches, rounds=0).as_dict()
    b = ratings_with_intervals(list(reversed(matches)), rounds=0).as_dict()
    assert f["tuned"] == pytest.approx(b["tuned"], abs=1e-6)


def test_bt_recovers_truth_with_intervals() -> None:
    votes = synthetic_votes(3000, seed=0)
    board = leaderboard(votes, anchor="base", rounds=200, seed=0)
    assert [r.system for r in board.rows] == ["adapter", "sys", "base", "weak"]
    for row in board.rows:
        assert row.lower <= row.rating <= row.upper
        assert row.lower - 1e-9 <= TRUE[row.system] <= row.upper + 1e-9, row
    # Intervals are informative, not [-inf, inf].
    assert board.row("adapter").upper - board.row("adapter").lower < 120
    # Seeded: the same call gives the same intervals.
    again = leaderboard(votes, anchor="base", rounds=200, seed=0)
    assert again.row("sys").lower == board.row("sys").lower


def test_ties_half_and_both_bad_never_a_win() -> None:
    tie_votes = [Comparison(model_a="x", model_b="y", winner="tie") for _ in range(10)]
    r = fit_bradley_terry(tie_votes, anchor="x")
    assert r["y"] == pytest.approx(1000.0, abs=1e-6)
    bad = [Comparison(model_a="x", model_b="y", winner="both_bad") for _ in range(10)]
    bad += [Comparison(model_a="x", model_b="y", winner="a") for _ in range(3)]
    bad += [Comparison(model_a="x", model_b="y", winner="b") for _ in range(3)]
    r = fit_bradley_terry(bad, anchor="x")
    assert r["y"] == pytest.approx(1000.0, abs=1e-6)
    wr = win_rate(bad, "y", "x")
    assert (wr.wins, wr.losses, wr.both_bad) == (3, 3, 10)
    assert wr.rate.estimate == pytest.approx(0.5)
    # A clean sweep stays finite.
    sweep = [Comparison(model_a="x", model_b="y", winner="b") for _ in range(20)]
    assert math.isfinite(fit_bradley_terry(sweep, anchor="x")["y"])


def test_wilson_and_bootstrap() -> None:
    w = wilson_interval(8, 10)
    assert 0.44 < w.lower < 0.5 and 0.94 < w.upper < 0.98
    assert wilson_interval(0, 0).upper == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    b = bootstrap_mean([1, 1, 0, 0, 1, 1, 0, 1], clusters=list("aabbccdd"), rounds=500)
    assert b.lower <= b.estimate <= b.upper


def test_match_files(tmp_path) -> None:
    path = tmp_path / "matches.jsonl"
    ms = [
        Match(prompt="hi", base_response="a", tuned_response="b", winner="tuned", sample_id=i)
        for i in range(3)
    ]
    save_matches(ms, path)
    assert load_matches(path) == ms
    save_matches(ms[:1], path, append=True)
    assert len(load_matches(path)) == 4

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="empty"):
        load_matches(empty)

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        ms[0].model_dump_json() + "\n" + '{"prompt": "x", "base_response": "a", '
        '"tuned_response": "b", "winner": "draw"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFileError, match=r"bad.jsonl:2.*winner"):
        load_matches(bad)
    rep = score_report(ms, rounds=50)
    assert rep["online_elo"]["tuned"] > rep["online_elo"]["base"]
    assert rep["tuned_win_rate"]["wins"] == 3


def test_elo_module_cli(tmp_path, capsys) -> None:
    from character.eval.elo import _main

    path = tmp_path / "m.jsonl"
    save_matches(
        [
            Match(prompt=f"p{i}", base_response="a", tuned_response="b", winner="tuned")
            for i in range(4)
        ],
        path,
    )
    assert _main(["score", "--matches", str(path), "--k-factor", "16", "--rounds", "20"]) == 0
    assert "online_elo" in capsys.readouterr().out
    (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
    assert _main(["score", "--matches", str(tmp_path / "e.jsonl")]) == 1
