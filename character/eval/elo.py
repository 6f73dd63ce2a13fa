"""Online Elo over base-vs-tuned matches: the seed API, kept for comparability with OCT.

Online Elo is ORDER-DEPENDENT: each match moves the ratings by K * (score - expected) using the
ratings as they stand at that moment, so the same matches in another order give different
numbers, recent matches weigh more, and K is arbitrary. It also has no standard errors. Use
`character.eval.bradley_terry` (`ratings_with_intervals` below) for conclusions; this module's
`compute_elo` exists because the seed README and OCT's revealed-preference plots use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from character.eval.bradley_terry import Comparison, Leaderboard, leaderboard
from character.io import DataFileError, append_jsonl, atomic_write_text, load_models_jsonl

Winner = Literal["base", "tuned", "tie", "both_bad"]


class Match(BaseModel):
    """One judged comparison of the base and the tuned model on the same prompt."""

    model_config = ConfigDict(extra="ignore")

    prompt: str
    base_response: str
    tuned_response: str
    winner: Winner
    sample_id: int = 0


def expected_score(r_a: float, r_b: float) -> float:
    """P(a beats b) under the Elo logistic curve (400-point scale)."""
    return 1.0 / (1.0 + 10 ** ((r_b - r_a) / 400.0))


def online_elo(
    comparisons: Iterable[Comparison],
    k_factor: float = 32.0,
    initial_rating: float = 1000.0,
) -> dict[str, float]:
    """Sequential Elo over any systems. Ties score 0.5 each; "both bad" moves nobody (it is
    never a win). The result depends on the order of `comparisons`."""
    ratings: dict[str, float] = {}
    for c in comparisons:
        ra = ratings.setdefault(c.model_a, initial_rating)
        rb = ratings.setdefault(c.model_b, initial_rating)
        if c.winner == "both_bad" or c.model_a == c.model_b:
            continue
        score_a = {"a": 1.0, "b": 0.0, "tie": 0.5}[c.winner]
        e_a = expected_score(ra, rb)
        ratings[c.model_a] = ra + k_factor * (score_a - e_a)
        ratings[c.model_b] = rb + k_factor * ((1 - score_a) - (1 - e_a))
    return ratings


def matches_to_comparisons(matches: Iterable[Match]) -> list[Comparison]:
    """Base is side a, tuned side b; the prompt is the bootstrap cluster."""
    side = {"base": "a", "tuned": "b", "tie": "tie", "both_bad": "both_bad"}
    return [
        Comparison(model_a="base", model_b="tuned", winner=side[m.winner], cluster=m.prompt)
        for m in matches
    ]


def compute_elo(
    matches: Iterable[Match], k_factor: float = 32.0, initial_rating: float = 1000.0
) -> dict[str, float]:
    """Online Elo of "base" and "tuned", processed in the given order (order-dependent: the
    same matches shuffled give different ratings; see `ratings_with_intervals`)."""
    ratings = online_elo(matches_to_comparisons(matches), k_factor, initial_rating)
    ratings.setdefault("base", initial_rating)
    ratings.setdefault("tuned", initial_rating)
    return ratings


def ratings_with_intervals(
    matches: Iterable[Match], *, rounds: int = 1000, seed: int = 0
) -> Leaderboard:
    """Order-invariant Bradley–Terry ratings (base anchored at 1000) with prompt-cluster
    bootstrap 95% intervals."""
    return leaderboard(matches_to_comparisons(matches), anchor="base", rounds=rounds, seed=seed)


def save_matches(matches: Iterable[Match], path: Path | str, *, append: bool = False) -> Path:
    """Write matches as JSONL (atomically), or append them (fsync'd) with `append=True`."""
    path = Path(path)
    rows = list(matches)
    if append:
        append_jsonl(path, rows)
    else:
        atomic_write_text(path, "".join(m.model_dump_json() + "\n" for m in rows))
    return path


def load_matches(path: Path | str) -> list[Match]:
    """Read matches; a bad line raises `DataFileError` naming file:line and field, and a file
    without any match is an error rather than silently rating nothing."""
    path = Path(path)
    matches = load_models_jsonl(path, Match)
    if not matches:
        raise DataFileError(path, None, "no matches: the file is empty")
    return matches


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m character.eval.elo")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="Rate base vs tuned from a matches JSONL file.")
    score.add_argument("--matches", required=True, type=Path)
    score.add_argument("--k-factor", type=float, default=32.0)
    score.add_argument("--initial-rating", type=float, default=1000.0)
    score.add_argument("--rounds", type=int, default=1000, help="Bootstrap rounds for the CIs.")
    score.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        matches = load_matches(args.matches)
    except DataFileError as exc:
        print(f"Error: {exc}")
        return 1
    print(
        json.dumps(
            score_report(matches, args.k_factor, args.initial_rating, args.rounds, args.seed),
            indent=2,
        )
    )
    return 0


def score_report(
    matches: list[Match],
    k_factor: float = 32.0,
    initial_rating: float = 1000.0,
    rounds: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Online Elo (as the seed prints it) next to BT ratings with intervals and the win rate."""
    from character.eval.bradley_terry import win_rate

    comps = matches_to_comparisons(matches)
    board = ratings_with_intervals(matches, rounds=rounds, seed=seed)
    return {
        "n_matches": len(matches),
        "online_elo": compute_elo(matches, k_factor, initial_rating),
        "online_elo_note": "online Elo depends on match order; use the Bradley-Terry ratings",
        "bradley_terry": board.model_dump(),
        "tuned_win_rate": win_rate(comps, "tuned", "base").model_dump(),
    }


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
