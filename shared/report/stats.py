"""Intervals for the comparison's numbers: over training seeds (a t-interval) and over a finite sample (a bootstrap).

A comparison's difference means something only beside the noise it could come from: seeds vary the training, and a
metric computed from N samples varies with the draw. Both intervals come from scipy (``scipy.stats.t``,
``scipy.stats.bootstrap``), the field's well-kept implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """(mean, half-width) of the two-sided t-interval for the mean of ``values`` (n >= 2): mean +- t_{(1+level)/2,
    n-1} s / sqrt(n), s the sample standard deviation. One value: half-width NaN (no interval from one seed)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("t_interval: no values")
    if x.size == 1:
        return float(x[0]), math.nan
    q = stats.t.ppf(0.5 + level / 2, df=x.size - 1)
    return float(x.mean()), float(q * x.std(ddof=1) / math.sqrt(x.size))


def bootstrap_interval(
    sample: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    level: float = LEVEL,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """(low, high) percentile-bootstrap interval of ``statistic`` over resamples of ``sample``'s rows (N, ...), i.e.
    how much the metric moves with the finite sample it was computed from (``scipy.stats.bootstrap``)."""
    from scipy import stats

    sample = np.asarray(sample)
    index = np.arange(len(sample))
    res = stats.bootstrap(
        (index,),
        lambda i: statistic(sample[i]),
        vectorized=False,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def welch_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """Welch's t-test (unequal variances) p-value of mean(a) vs mean(b); ``alternative`` "greater" tests mean(a) >
    mean(b). NaN when either has fewer than two values; equal constant samples give p = 1."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:
        return 1.0 if a.mean() == b.mean() or (alternative == "greater" and a.mean() < b.mean()) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of m p-values (family-wise error): the k-th smallest times (m - k + 1), made
    monotone, capped at 1; NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p[i]))
        out[i] = running
    return out.tolist()


__all__ = ["LEVEL", "bootstrap_interval", "holm", "t_interval", "welch_p"]
