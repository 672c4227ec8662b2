"""A run's outcome: learned, failed to learn, diverged, or failed (an error).

"Completed" only says that no number went NaN; the papers' "the standard GAN failed" means it did
not learn. A run learned when its outcome metric lies on the real side of a threshold that the
suite derives per data set, extractor and sample count from two generators measured exactly like
the runs (``wganbench.evaluate.levels``): real train images (a perfect generator) and the train
mean repeated (a constant generator). The threshold is their midpoint on the metric's distance
scale: FID is a squared Fréchet distance, so the midpoint is taken on √FID; mode counts are
counts, so on the count itself. Torch-free: aggregate and the claims engine import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

LEARNED = "learned"
NOT_LEARNED = "failed to learn"
STILL_IMPROVING = "still improving"  # not learned, but its curve still falls at the end (wganbench.trend)
NO_PLATEAU = "no plateau yet"  # not learned, with too few late snapshots to tell a plateau from a fall
UNFINISHED = (STILL_IMPROVING, NO_PLATEAU)  # not learned, but not shown to have stopped improving either
DIVERGED = "diverged"
FAILED = "failed"
NOT_EVALUATED = "not evaluated"
OUTCOMES = (LEARNED, NOT_LEARNED, STILL_IMPROVING, NO_PLATEAU, DIVERGED, FAILED, NOT_EVALUATED)

_SCALES: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "linear": (lambda x: x, lambda y: y),
    "sqrt": (lambda x: math.sqrt(max(x, 0.0)), lambda y: y * y),  # FID is a squared distance
}


@dataclass(frozen=True)
class OutcomeMetric:
    """The metric that decides learned / failed to learn for one kind of data."""

    name: str
    higher_is_better: bool
    scale: str  # a key of _SCALES: where "midway between the two levels" is measured

    def threshold(self, real: float, constant: float) -> float:
        forward, back = _SCALES[self.scale]
        return back((forward(real) + forward(constant)) / 2.0)

    def on_scale(self, value: float) -> float:
        """The value on the scale where distances to the levels are compared (√FID, counts)."""
        return _SCALES[self.scale][0](value)

    def learned(self, value: float, threshold: float) -> bool:
        return value > threshold if self.higher_is_better else value < threshold


# Data kind -> outcome metric. 2-D mixtures: modes covered (W1 of a blob between the modes can beat
# that of a generator on half of them); images: FID in the run's own feature space.
OUTCOME_METRICS: dict[str, OutcomeMetric] = {
    "toy": OutcomeMetric("modes_covered", higher_is_better=True, scale="linear"),
    "image": OutcomeMetric("fid", higher_is_better=False, scale="sqrt"),
}


# Data kind -> a second bound a learned run must also pass: quality alone can be met by a generator
# that repeats a few digits, so on labelled images a learned run also covers at least the midpoint
# of the real and constant generators' modes (with a per-mode minimum count: wganbench.evaluate).
DIVERSITY_METRICS: dict[str, OutcomeMetric] = {
    "image": OutcomeMetric("modes_covered", higher_is_better=True, scale="linear"),
}


# Data kind -> the curve a run's trend is read on, where it differs from the outcome metric. A mode
# count sits at 0 until a run suddenly covers the modes, so a flat count is no plateau (8 Gaussians:
# WGAN-GP's toy settings covered none at 1,000 iterations, 8 in most seeds by 5,000); W1 falls all
# the while.
PROGRESS_METRICS: dict[str, OutcomeMetric] = {
    "toy": OutcomeMetric("w1", higher_is_better=False, scale="linear"),
}


@dataclass(frozen=True)
class Threshold:
    metric: OutcomeMetric
    real: float
    constant: float
    diversity: "Threshold | None" = None
    progress: "Threshold | None" = None  # the trend's curve, when not the outcome metric's

    @property
    def value(self) -> float:
        return self.metric.threshold(self.real, self.constant)


def threshold_from_levels(levels: Mapping[str, Any]) -> Threshold | None:
    """The threshold a levels file (``wganbench evaluate-levels``) implies, or None when its data kind
    has no outcome metric or the levels lack it (a data set without modes)."""
    metric = OUTCOME_METRICS.get(levels.get("kind", ""))
    if metric is None:
        return None
    real = levels["levels"]["real"].get(metric.name)
    constant = levels["levels"]["constant"].get(metric.name)
    if real is None or constant is None or not (math.isfinite(real) and math.isfinite(constant)):
        return None
    return Threshold(metric, float(real), float(constant), _levels_of(DIVERSITY_METRICS, levels),
                     _levels_of(PROGRESS_METRICS, levels))


def _levels_of(table: dict[str, OutcomeMetric], levels: Mapping[str, Any]) -> Threshold | None:
    metric = table.get(levels.get("kind", ""))
    if metric is None:
        return None
    real, constant = levels["levels"]["real"].get(metric.name), levels["levels"]["constant"].get(metric.name)
    if real is None or constant is None or not (math.isfinite(real) and math.isfinite(constant)):
        return None
    return Threshold(metric, float(real), float(constant))


def outcome(status: str, value: float | None, threshold: Threshold | None,
            diversity: float | None = None) -> tuple[str, str]:
    """(outcome, why) of one run from its status, outcome-metric value and (on labelled images) the
    modes it covers: quality without diversity has not learned the data."""
    if status == "diverged":
        return DIVERGED, "diverged"
    if status != "completed":
        return FAILED, f"status {status}"
    if threshold is None:
        return NOT_EVALUATED, "no reference levels for this data set"
    second = threshold.diversity
    return judged(threshold.metric, value, threshold.value, second.metric if second else None, diversity,
                  second.value if second else None)


def judged(metric: OutcomeMetric, value: float | None, threshold: float, diversity_metric: OutcomeMetric | None = None,
           diversity: float | None = None, diversity_threshold: float | None = None) -> tuple[str, str]:
    """(outcome, why) of a completed run from threshold values alone: the one rule both the runs
    table and the verdict over budget (which re-judges each snapshot) apply."""
    if value is None or not math.isfinite(value):
        return NOT_EVALUATED, f"no {metric.name}"
    side = ">" if metric.higher_is_better else "<"
    if not metric.learned(value, threshold):
        return NOT_LEARNED, f"{metric.name} {value:.4g} not {side} {threshold:.4g}"
    why = f"{metric.name} {value:.4g} {side} {threshold:.4g}"
    if (diversity_metric is not None and diversity is not None and math.isfinite(diversity)
            and diversity_threshold is not None and math.isfinite(diversity_threshold)):
        if not diversity_metric.learned(diversity, diversity_threshold):
            return NOT_LEARNED, (f"{why}, but {diversity_metric.name} {diversity:.4g} not > {diversity_threshold:.4g} "
                                 "(collapsed)")
        why += f" and {diversity_metric.name} {diversity:.4g} > {diversity_threshold:.4g}"
    return LEARNED, why


def metric_named(table: dict[str, OutcomeMetric], name: object) -> OutcomeMetric | None:
    """The metric of one of the tables above by its name (as the runs table records it)."""
    return next((m for m in table.values() if m.name == name), None)
