"""Equal-budget comparison of objectives (Lucic et al. 2018, "Are GANs Created Equal?"): what a
researcher can expect from k hyperparameter trials, and how often one objective beats another.

- ``expected_best_of_k``: the expected best metric over k trials drawn without replacement from the
  N that ran — exact over all k-subsets (Dodge et al. 2019, "Show Your Work", expected validation
  performance; here without replacement, so that k = N gives the best trial).
- ``budget_curve``: that expectation for k = 1 ... N, with a bootstrap band over the trials.
- ``probability_of_improvement``: P(A < B) for lower-is-better metrics, the Mann-Whitney U over n·m
  (ties count half), with the stratified bootstrap interval across data sets of Agarwal et al. 2021
  (rliable), and the interquartile mean. rliable itself does not import with the pinned stack
  (rliable 1.2.0 needs arch < 8, and importing arch 7.2 raises a TypeError from pandas 3.1's
  ``deprecate_kwarg``), so the bootstrap is scipy's, resampling each data set's runs of each
  objective on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np


def best_of_k_weights(n: int, k: int) -> np.ndarray:
    """P(the i-th best of n trials is the best of a random k-subset), i = 1 ... n: C(n-i, k-1)/C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    total = comb(n, k)
    return np.array([comb(n - i, k - 1) / total for i in range(1, n + 1)])


def expected_best_of_k(values: np.ndarray, k: int, lower_is_better: bool = True, worst: float | None = None) -> float:
    """E[best of k trials drawn without replacement] from the trials' metric values. A NaN trial (one
    that diverged) found nothing: it takes ``worst`` (e.g. the constant generator's level), or an
    infinitely bad value when none is given."""
    values = np.asarray(values, dtype=float)
    if worst is None or not np.isfinite(worst):
        worst = np.inf if lower_is_better else -np.inf
    values = np.where(np.isnan(values), worst, values)
    ordered = np.sort(values) if lower_is_better else np.sort(values)[::-1]
    weights = best_of_k_weights(len(ordered), k)
    finite = np.isfinite(ordered)
    if not finite.all() and weights[~finite].sum() > 0:
        return float(ordered[~finite][0])
    return float(np.dot(weights[finite], ordered[finite]))


@dataclass
class BudgetCurve:
    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray


def budget_curve(values: np.ndarray, lower_is_better: bool = True, confidence: float = 0.95,
                 resamples: int = 1000, seed: int = 0, worst: float | None = None) -> BudgetCurve:
    """Expected best of k for k = 1 ... N, with a percentile bootstrap band (trials resampled with
    replacement, the expectation recomputed on each resample)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    ks = np.arange(1, n + 1)
    expected = np.array([expected_best_of_k(values, k, lower_is_better, worst) for k in ks])
    rng = np.random.default_rng(seed)
    draws = np.array([[expected_best_of_k(sample, k, lower_is_better, worst) for k in ks]
                      for sample in (rng.choice(values, size=n, replace=True) for _ in range(resamples))])
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low, high = np.nanquantile(draws, [tail, 1 - tail], axis=0)
    return BudgetCurve(ks, expected, low, high)


def probability_of_improvement(a: np.ndarray, b: np.ndarray) -> float:
    """P(a < b): the share of pairs where A's value is lower (better), ties counted half."""
    a, b = np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[None, :]
    return float(((a < b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))


def stratified_probability_of_improvement(a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                                          lower_is_better: bool = True, confidence: float = 0.95,
                                          resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """P(A better than B) averaged over data sets, with a stratified percentile bootstrap interval:
    each data set's runs of each objective are resampled within it (rliable's stratified bootstrap,
    done by scipy.stats.bootstrap, which resamples every sample it is given on its own). ``a`` and
    ``b`` map data set -> one value per run. Returns (point, low, high)."""
    from scipy import stats

    tasks = sorted(set(a) & set(b))
    if not tasks:
        raise ValueError("no data set has values for both objectives")
    samples = [np.asarray(side[t], dtype=float) for t in tasks for side in (a, b)]
    sign = 1.0 if lower_is_better else -1.0

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        pairs = zip(resampled[0::2], resampled[1::2])
        per_task = [_improvement_batched(sign * x, sign * y, axis) for x, y in pairs]
        return np.mean(per_task, axis=0)

    point = float(statistic(*samples))
    result = stats.bootstrap(samples, statistic, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def _improvement_batched(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """P(x < y) along ``axis`` for stacks of resamples (ties half)."""
    x, y = np.moveaxis(np.asarray(x), axis, -1), np.moveaxis(np.asarray(y), axis, -1)
    less = (x[..., :, None] < y[..., None, :]).mean(axis=(-2, -1))
    ties = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return less + 0.5 * ties


def interquartile_mean(values: np.ndarray) -> float:
    """The mean of the middle 50% (rliable's aggregate: robust to a few failed runs)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(values, dtype=float), 0.25))
