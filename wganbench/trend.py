"""Is a run that has not learned still improving when its budget ends?

A run that stopped while its quality metric was still falling has not failed: it ran out of
iterations. The rule is fixed in the grid config before the run (``aggregate.still_improving``)
and reads only the run's own outcome-metric curve (the snapshots of ``curves.parquet``), on the
metric's distance scale (√FID, modes as counts), signed so that larger is better:

- take the snapshots in the last ``window`` share of the run's iterations (at least ``min_points``);
- fit the Theil-Sen slope (robust to a noisy snapshot) with its ``confidence`` interval;
- the run is still improving when the whole interval is on the improving side, and the fitted gain
  over one more window is at least ``min_gain`` of the gap between the constant and the real
  generator (a drift too small to reach the threshold in any sensible budget is a plateau).

The estimate of the iterations still needed extrapolates the fitted line to the learned threshold:
a straight line is optimistic for a curve that is flattening and pessimistic for one that is
speeding up (WGAN without batch norm on digits: ~4,800 more iterations estimated at 1,000, the
threshold crossed ~1,750 later), so it is an order of magnitude, reported as "at the current slope". Torch-free: aggregate and the claims engine import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .outcomes import NO_PLATEAU, NOT_LEARNED, STILL_IMPROVING, Threshold

PLATEAU = "plateau"


@dataclass(frozen=True)
class TrendRule:
    """The grid config's ``aggregate.still_improving`` block (defaults in the schema)."""

    window: float = 0.4
    min_points: int = 4
    confidence: float = 0.9
    min_gain: float = 0.02

    def describe(self) -> str:
        return (f"Theil-Sen slope over the last {self.window:.0%} of the run's snapshots (≥ {self.min_points}), "
                f"its {self.confidence:.0%} interval wholly improving and ≥ {self.min_gain:g} of the real/constant "
                "gap gained per window")


@dataclass(frozen=True)
class Trend:
    improving: bool
    decidable: bool  # enough late snapshots to tell a plateau from a fall
    slope: float  # per iteration on the distance scale, positive = improving
    iterations_needed: float  # more iterations to the threshold at this slope (an order of magnitude); NaN if not
    reason: str


def trend(iterations: np.ndarray, values: np.ndarray, threshold: Threshold, rule: TrendRule) -> Trend:
    """The trend of one run's outcome-metric curve near its end."""
    iterations = np.asarray(iterations, dtype=float)
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(iterations) & np.isfinite(values)
    iterations, values = iterations[keep], values[keep]
    if len(iterations) == 0:
        return Trend(False, False, math.nan, math.nan, "no snapshots of the outcome metric")
    last = float(iterations.max())
    start = last * (1.0 - rule.window)
    window = iterations >= start
    if int(window.sum()) < rule.min_points:
        return Trend(False, False, math.nan, math.nan,
                     f"{int(window.sum())} snapshots in the last {rule.window:.0%} (< {rule.min_points}): no plateau "
                     "can be told from a fall")
    metric = threshold.metric
    sign = 1.0 if metric.higher_is_better else -1.0
    goodness = np.array([sign * metric.on_scale(v) for v in values[window]])
    x = iterations[window]
    slope, intercept, low, high = stats.theilslopes(goodness, x, alpha=rule.confidence)
    gap = abs(metric.on_scale(threshold.real) - metric.on_scale(threshold.constant))
    gain = slope * (last - start)
    if not (low > 0 and gain >= rule.min_gain * gap):
        return Trend(False, True, float(slope), math.nan,
                     f"plateau: slope {slope:.3g}/it, {rule.confidence:.0%} interval [{low:.3g}, {high:.3g}]")
    target = sign * metric.on_scale(threshold.value)
    fitted_end = intercept + slope * last
    needed = max(0.0, (target - fitted_end) / slope)
    to_go = (f"~{math.ceil(needed):,} more iterations to the threshold at this slope" if needed > 0
             else "its fitted line is at the threshold already")
    return Trend(True, True, float(slope), float(math.ceil(needed)),
                 f"still improving: slope {slope:.3g}/it (interval [{low:.3g}, {high:.3g}]); {to_go}")


def with_trend(outcome: str, found: Trend, on_outcome_curve: bool) -> tuple[str, str, float]:
    """(outcome, trend label, iterations needed) of a run once its trend is known: a run that failed
    to learn but is still improving, or shows no plateau yet, takes that as its outcome; the
    iterations to the threshold only mean something on the outcome metric's own curve."""
    label = STILL_IMPROVING if found.improving else PLATEAU if found.decidable else NO_PLATEAU
    if outcome != NOT_LEARNED or label == PLATEAU:
        return outcome, label, math.nan
    return label, label, found.iterations_needed if on_outcome_curve else math.nan
