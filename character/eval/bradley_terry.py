"""Bradley–Terry ratings: the order-invariant replacement for online Elo.

P(a beats b) = sigmoid(beta_a - beta_b), fitted jointly over all votes by maximum likelihood
(FastChat's `compute_elo_mle_with_tie`). Votes are first aggregated into win counts per pair,
so the fit cannot depend on the order the votes arrived in. Ratings are reported on the Elo
scale, 400 * beta / ln 10 + 1000, with one system anchored at 1000 (or the mean at 1000 when no
anchor is given). Ties count as half a win for each side; "both bad" is never a win for anyone
and is left out of the fit (but counted). Intervals come from a seeded bootstrap that resamples
whole prompt clusters (or single votes) and refits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from character.eval.stats import Interval, wilson_interval

Outcome = Literal["a", "b", "tie", "both_bad"]
SCALE = 400.0
BASE_RATING = 1000.0


class Comparison(BaseModel):
    """One vote between two systems on one prompt. `cluster` groups votes that are not
    independent (the same prompt, or the same prompt family) for the bootstrap."""

    model_a: str
    model_b: str
    winner: Outcome
    cluster: str | None = None
    weight: float = Field(default=1.0, gt=0)


class Rating(BaseModel):
    system: str
    rating: float
    lower: float
    upper: float
    games: int
    wins: float
    losses: float
    ties: int
    both_bad: int


MIN_GAMES_FOR_INTERVAL = 5
"""Below this many games a bootstrap interval mostly reflects how few votes there are (one
vote resamples to itself: a zero-width interval that looks certain)."""


def interval_text(row: Rating, min_games: int = MIN_GAMES_FOR_INTERVAL) -> str:
    """The 95% interval in words: the range once it means something, else how many more
    votes it needs."""
    if row.games < min_games or row.upper - row.lower <= 1e-6:
        more = max(1, min_games - row.games)
        return f"need more votes ({more}+ more)"
    return f"{row.lower:.0f} to {row.upper:.0f}"


class Leaderboard(BaseModel):
    """Ratings sorted best first, with how they were computed."""

    rows: list[Rating]
    anchor: str | None
    n_votes: int
    n_used: int
    rounds: int
    resample: str
    seed: int
    warnings: list[str] = Field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        return {r.system: r.rating for r in self.rows}

    def row(self, system: str) -> Rating:
        for r in self.rows:
            if r.system == system:
                return r
        raise KeyError(system)


class WinRate(BaseModel):
    """Head-to-head result of `system` against `other`: wins over decisive votes (Wilson)."""

    system: str
    other: str
    wins: int
    losses: int
    ties: int
    both_bad: int
    rate: Interval
    tie_rate: float


def _systems(comparisons: Sequence[Comparison]) -> list[str]:
    return sorted({c.model_a for c in comparisons} | {c.model_b for c in comparisons})


def _pair_counts(
    comparisons: Sequence[Comparison], index: dict[str, int], ties: str
) -> tuple[list[tuple[int, int]], list[list[float]]]:
    """Aggregate votes into (i<j) -> [wins_i, wins_j]; sorted keys make it order-free."""
    counts: dict[tuple[int, int], list[float]] = {}
    for c in comparisons:
        if c.model_a == c.model_b or c.winner == "both_bad":
            continue
        if c.winner == "tie" and ties == "drop":
            continue
        i, j = index[c.model_a], index[c.model_b]
        wa = {"a": 1.0, "b": 0.0, "tie": 0.5}[c.winner] * c.weight
        wb = c.weight - wa
        key, vals = ((i, j), (wa, wb)) if i < j else ((j, i), (wb, wa))
        cur = counts.setdefault(key, [0.0, 0.0])
        cur[0] += vals[0]
        cur[1] += vals[1]
    keys = sorted(counts)
    return keys, [counts[k] for k in keys]


def _fit_beta(n: int, pairs_i, pairs_j, wins_i, wins_j, l2: float, start=None, max_iter: int = 100):  # noqa: ANN001, ANN202 - numpy arrays
    """Penalised MLE by Newton's method with backtracking: the objective is strictly convex,
    so a handful of steps reach machine precision (bootstraps refit this a thousand times)."""
    import numpy as np

    tot = wins_i + wins_j

    def loss(beta):  # noqa: ANN001, ANN202
        d = beta[pairs_i] - beta[pairs_j]
        # -[w_i log s(d) + w_j log s(-d)], computed stably with logaddexp.
        return float(
            np.sum(wins_i * np.logaddexp(0.0, -d) + wins_j * np.logaddexp(0.0, d))
            + 0.5 * l2 * np.dot(beta, beta)
        )

    beta = np.zeros(n) if start is None else np.array(start, dtype=float)
    with _one_blas_thread():
        return _newton(n, pairs_i, pairs_j, wins_i, wins_j, tot, l2, beta, loss, max_iter)


def _one_blas_thread():  # noqa: ANN202
    """Small solves are fastest single-threaded; multi-threaded BLAS on a busy machine spins
    and made bootstraps ten times slower."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()


def _newton(n, pairs_i, pairs_j, wins_i, wins_j, tot, l2, beta, loss, max_iter):  # noqa: ANN001, ANN202
    import numpy as np

    f = loss(beta)
    flat_ij = pairs_i * n + pairs_j
    flat_ji = pairs_j * n + pairs_i
    for _ in range(max_iter):
        d = beta[pairs_i] - beta[pairs_j]
        p = 0.5 * (1.0 + np.tanh(0.5 * d))  # sigmoid without overflow
        g_d = -wins_i * (1 - p) + wins_j * p
        grad = (
            np.bincount(pairs_i, g_d, minlength=n) - np.bincount(pairs_j, g_d, minlength=n)
        ) + l2 * beta
        h = tot * p * (1 - p)
        hess = -(
            np.bincount(flat_ij, h, minlength=n * n) + np.bincount(flat_ji, h, minlength=n * n)
        ).reshape(n, n)
        hess[np.diag_indices(n)] = (
            np.bincount(pairs_i, h, minlength=n) + np.bincount(pairs_j, h, minlength=n) + l2
        )
        step = np.linalg.solve(hess, grad)
        decrease = float(grad @ step)
        if decrease < 1e-12:
            break
        t = 1.0
        while True:
            cand = beta - t * step
            f_new = loss(cand)
            if f_new <= f - 1e-4 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        beta, f = cand, f_new
        if np.max(np.abs(t * step)) < 1e-10:
            break
    return beta


def _to_ratings(beta, systems: list[str], anchor: str | None) -> dict[str, float]:  # noqa: ANN001
    ref = beta[systems.index(anchor)] if anchor is not None else float(beta.mean())
    return {
        s: BASE_RATING + SCALE * (float(b) - ref) / math.log(10)
        for s, b in zip(systems, beta, strict=True)
    }


def fit_bradley_terry(
    comparisons: Iterable[Comparison],
    *,
    anchor: str | None = None,
    ties: Literal["half", "drop"] = "half",
    l2: float = 1e-3,
) -> dict[str, float]:
    """Maximum-likelihood BT ratings on the Elo scale. Order-invariant by construction.

    `l2` is a tiny ridge penalty that keeps ratings finite when a system won every game
    (the unpenalised MLE would be infinite) and pins disconnected groups to the same mean.
    """
    import numpy as np

    comps = list(comparisons)
    systems = _systems(comps)
    if not systems:
        raise ValueError("no comparisons to rate")
    if anchor is not None and anchor not in systems:
        raise ValueError(f"anchor {anchor!r} is not among the rated systems: {systems}")
    index = {s: i for i, s in enumerate(systems)}
    keys, counts = _pair_counts(comps, index, ties)
    if not keys:
        return dict.fromkeys(systems, BASE_RATING)
    arr = np.asarray(counts)
    pi = np.array([k[0] for k in keys])
    pj = np.array([k[1] for k in keys])
    beta = _fit_beta(len(systems), pi, pj, arr[:, 0], arr[:, 1], l2)
    return _to_ratings(beta, systems, anchor)


def _tallies(comps: Sequence[Comparison], systems: list[str]) -> dict[str, dict[str, float]]:
    t = {s: {"games": 0, "wins": 0.0, "losses": 0.0, "ties": 0, "both_bad": 0} for s in systems}
    for c in comps:
        for me, side in ((c.model_a, "a"), (c.model_b, "b")):
            row = t[me]
            row["games"] += 1
            if c.winner == "tie":
                row["ties"] += 1
            elif c.winner == "both_bad":
                row["both_bad"] += 1
            elif c.winner == side:
                row["wins"] += 1
            else:
                row["losses"] += 1
    return t


def _connected(keys: list[tuple[int, int]], n: int) -> bool:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in keys:
        parent[find(i)] = find(j)
    return len({find(i) for i in range(n)}) == 1


def leaderboard(
    comparisons: Iterable[Comparison],
    *,
    anchor: str | None = None,
    rounds: int = 1000,
    seed: int = 0,
    resample: Literal["cluster", "vote"] = "cluster",
    ties: Literal["half", "drop"] = "half",
    l2: float = 1e-3,
    level: float = 0.95,
) -> Leaderboard:
    """BT ratings with percentile bootstrap intervals, best first.

    With `resample="cluster"` whole clusters (votes sharing `cluster`; a vote without one is
    its own cluster) are drawn with replacement: votes on the same prompt are correlated, and
    treating them as independent gives intervals that are too narrow.
    """
    import numpy as np

    comps = list(comparisons)
    systems = _systems(comps)
    if not systems:
        raise ValueError("no comparisons to rate: the vote list is empty")
    if anchor is not None and anchor not in systems:
        raise ValueError(f"anchor {anchor!r} is not among the rated systems: {systems}")
    index = {s: i for i, s in enumerate(systems)}
    used = [
        c
        for c in comps
        if c.model_a != c.model_b
        and c.winner != "both_bad"
        and not (c.winner == "tie" and ties == "drop")
    ]
    keys, counts = _pair_counts(used, index, ties)
    warnings: list[str] = []
    if len(systems) > 1 and not _connected(keys, len(systems)):
        warnings.append(
            "the comparison graph is disconnected: ratings of separate groups are not comparable"
        )
    point = fit_bradley_terry(used, anchor=anchor, ties=ties, l2=l2)

    lower = dict(point)
    upper = dict(point)
    if rounds > 0 and keys:
        pos = {k: n for n, k in enumerate(keys)}
        # One row per resampling unit with its contribution to each pair's win counts.
        if resample == "cluster":
            unit_of: dict[str, int] = {}
            unit_ids = []
            for n, c in enumerate(used):
                key = c.cluster if c.cluster is not None else f"\x00vote{n}"
                unit_ids.append(unit_of.setdefault(key, len(unit_of)))
        else:
            unit_ids = list(range(len(used)))
        n_units = max(unit_ids) + 1 if unit_ids else 0
        contrib = np.zeros((n_units, len(keys), 2))
        for u, c in zip(unit_ids, used, strict=True):
            i, j = index[c.model_a], index[c.model_b]
            wa = {"a": 1.0, "b": 0.0, "tie": 0.5}[c.winner] * c.weight
            wb = c.weight - wa
            if i < j:
                contrib[u, pos[(i, j)]] += (wa, wb)
            else:
                contrib[u, pos[(j, i)]] += (wb, wa)
        flat = contrib.reshape(n_units, -1)
        rng = np.random.default_rng(seed)
        pi = np.array([k[0] for k in keys])
        pj = np.array([k[1] for k in keys])
        samples = np.empty((rounds, len(systems)))
        start = None
        for r in range(rounds):
            draw = np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units)
            tot = (draw @ flat).reshape(len(keys), 2)
            beta = _fit_beta(len(systems), pi, pj, tot[:, 0], tot[:, 1], l2, start)
            start = beta
            rated = _to_ratings(beta, systems, anchor)
            samples[r] = [rated[s] for s in systems]
        alpha = (1 - level) / 2
        lo, hi = np.quantile(samples, [alpha, 1 - alpha], axis=0)
        lower = {s: float(v) for s, v in zip(systems, lo, strict=True)}
        upper = {s: float(v) for s, v in zip(systems, hi, strict=True)}
    tallies = _tallies(comps, systems)
    rows = [
        Rating(
            system=s,
            rating=point[s],
            lower=min(lower[s], point[s]),
            upper=max(upper[s], point[s]),
            games=int(tallies[s]["games"]),
            wins=tallies[s]["wins"],
            losses=tallies[s]["losses"],
            ties=int(tallies[s]["ties"]),
            both_bad=int(tallies[s]["both_bad"]),
        )
        for s in systems
    ]
    rows.sort(key=lambda r: (-r.rating, r.system))
    return Leaderboard(
        rows=rows,
        anchor=anchor,
        n_votes=len(comps),
        n_used=len(used),
        rounds=rounds,
        resample=resample,
        seed=seed,
        warnings=warnings,
    )


def win_rate(comparisons: Iterable[Comparison], system: str, other: str) -> WinRate:
    """Two-system summary: wins / decisive votes with a Wilson interval (ties and both-bad
    are not decisive; the tie rate is reported beside it)."""
    wins = losses = ties = both_bad = 0
    for c in comparisons:
        if {c.model_a, c.model_b} != {system, other}:
            continue
        if c.winner == "tie":
            ties += 1
        elif c.winner == "both_bad":
            both_bad += 1
        elif (c.winner == "a") == (c.model_a == system):
            wins += 1
        else:
            losses += 1
    total = wins + losses + ties + both_bad
    return WinRate(
        system=system,
        other=other,
        wins=wins,
        losses=losses,
        ties=ties,
        both_bad=both_bad,
        rate=wilson_interval(wins, wins + losses),
        tie_rate=(ties / total) if total else 0.0,
    )


def leaderboard_figure(board: Leaderboard, title: str = "Bradley–Terry ratings (95% CI)"):  # noqa: ANN201
    """A plotly dot plot with error bars, best on top."""
    import plotly.graph_objects as go

    rows = list(reversed(board.rows))
    fig = go.Figure(
        go.Scatter(
            x=[r.rating for r in rows],
            y=[r.system for r in rows],
            mode="markers",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r.upper - r.rating for r in rows],
                "arrayminus": [r.rating - r.lower for r in rows],
            },
            hovertext=[
                f"{r.games} games, {r.wins:g} W / {r.losses:g} L / {r.ties} T" for r in rows
            ],
        )
    )
    fig.update_layout(title=title, xaxis_title="rating (Elo scale)", height=120 + 28 * len(rows))
    return fig
