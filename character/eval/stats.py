"""Small statistics helpers shared by every evaluation: Wilson intervals and bootstraps.

Wilson rather than the normal approximation because our samples are small and rates sit near
0 or 1 (persona retention of a trained adapter), where the normal interval leaves [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

from pydantic import BaseModel


class Interval(BaseModel):
    """An estimate with its 95% interval and the sample size behind it."""

    estimate: float
    lower: float
    upper: float
    n: int

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> Interval:
    """Wilson score interval for a binomial rate; n = 0 gives the uninformative [0, 1]."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(estimate=float("nan"), lower=0.0, upper=1.0, n=0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(estimate=p, lower=max(0.0, centre - half), upper=min(1.0, centre + half), n=n)


def bootstrap_mean(
    values: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    *,
    rounds: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap of a mean; with `clusters`, whole clusters are resampled (items
    from the same prompt are not independent, so resampling them one by one is too narrow)."""
    import numpy as np

    vals = np.asarray(values, dtype=float)
    n = len(vals)
    if n == 0:
        return Interval(estimate=float("nan"), lower=float("nan"), upper=float("nan"), n=0)
    rng = np.random.default_rng(seed)
    if clusters is None:
        idx = rng.integers(0, n, size=(rounds, n))
        means = vals[idx].mean(axis=1)
    else:
        if len(clusters) != n:
            raise ValueError("clusters must have one entry per value")
        keys = {c: i for i, c in enumerate(dict.fromkeys(clusters))}
        cid = np.array([keys[c] for c in clusters])
        k = len(keys)
        sums = np.bincount(cid, weights=vals, minlength=k)
        counts = np.bincount(cid, minlength=k).astype(float)
        draws = rng.integers(0, k, size=(rounds, k))
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Interval(estimate=float(vals.mean()), lower=float(lo), upper=float(hi), n=n)
