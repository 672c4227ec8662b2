"""The still-improving rule (wganbench/trend.py) on synthetic curves whose answer is known: a plateau,
a steady fall, noise without a trend, and an outlier snapshot; and its effect on the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wganbench.aggregate import add_trends
from wganbench.outcomes import OUTCOME_METRICS, Threshold
from wganbench.trend import TrendRule, trend

FID = OUTCOME_METRICS["image"]
# real generator FID 0.25, constant generator 100: the threshold is ((0.5 + 10) / 2)^2 = 27.56 on FID
THRESHOLD = Threshold(FID, real=0.25, constant=100.0)
ITERATIONS = np.arange(100, 1001, 100)
RULE = TrendRule()


def test_threshold_is_the_midpoint_on_root_fid() -> None:
    assert THRESHOLD.value == pytest.approx(((0.5 + 10.0) / 2) ** 2)


def test_a_plateau_is_not_improving() -> None:
    values = np.array([90, 60, 50, 45, 44.1, 44.0, 44.2, 43.9, 44.1, 44.0])
    found = trend(ITERATIONS, values, THRESHOLD, RULE)
    assert not found.improving and "plateau" in found.reason and math.isnan(found.iterations_needed)


def test_a_steady_fall_is_improving_and_the_estimate_extrapolates_the_line() -> None:
    # √FID falls linearly by 0.01 per iteration: from 8 at 600 to 7.6 at 1,000; threshold √ = 5.25
    root = 8.0 - 0.001 * (ITERATIONS - 600)
    found = trend(ITERATIONS, root ** 2, THRESHOLD, RULE)
    assert found.improving
    assert found.slope == pytest.approx(0.001)
    assert found.iterations_needed == pytest.approx((7.6 - 5.25) / 0.001, abs=1)
    assert "still improving" in found.reason


def test_noise_without_a_trend_is_rarely_called_improving() -> None:
    """The slope interval is a one-sided 95% bound: on flat noise about 1 curve in 20 looks improving
    (the safe direction: it makes a verdict inconclusive, never decided)."""
    rng = np.random.default_rng(0)
    calls = [trend(ITERATIONS, (6.5 + rng.normal(0, 0.3, len(ITERATIONS))) ** 2, THRESHOLD, RULE).improving
             for _ in range(400)]
    assert 0 < np.mean(calls) <= 0.08


def test_one_outlier_snapshot_does_not_make_a_plateau_improve() -> None:
    values = np.array([90, 60, 50, 45, 44.0, 44.0, 44.0, 44.0, 44.0, 20.0])  # one lucky last snapshot
    assert not trend(ITERATIONS, values, THRESHOLD, RULE).improving


def test_a_negligible_drift_is_a_plateau() -> None:
    root = 7.0 - 1e-6 * ITERATIONS  # falls at every snapshot, but by 0.0004 of the real/constant gap per window
    assert not trend(ITERATIONS, root ** 2, THRESHOLD, RULE).improving


def test_too_few_snapshots_decide_nothing() -> None:
    found = trend(np.array([500, 1000]), np.array([60.0, 40.0]), THRESHOLD, RULE)
    assert not found.improving and not found.decidable and "no plateau can be told" in found.reason


def test_modes_count_up() -> None:
    modes = Threshold(OUTCOME_METRICS["toy"], real=8, constant=1)  # learned above 4.5 modes
    rising = trend(ITERATIONS, np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 4]), modes, RULE)
    assert rising.improving and rising.iterations_needed >= 0


def test_add_trends_marks_only_runs_that_failed_to_learn() -> None:
    keys = {"experiment": "e", "dataset": "digits", "objective": "wgan", "arch": "a", "image_size": 16,
            "sample_count": 512, "status": "completed"}
    runs = pd.DataFrame([{**keys, "seed": 0, "outcome": "failed to learn", "outcome_reason": "fid 44 not < 27.6"},
                         {**keys, "seed": 1, "outcome": "failed to learn", "outcome_reason": "fid 44 not < 27.6"},
                         {**keys, "seed": 2, "outcome": "learned", "outcome_reason": "fid 2 < 27.6"}])
    falling = (8.0 - 0.001 * (ITERATIONS - 600)) ** 2
    flat = np.array([90, 60, 50, 45, 44.1, 44.0, 44.2, 43.9, 44.1, 44.0])
    curves = pd.DataFrame([{**keys, "seed": seed, "source": "metrics", "variable": "fid", "iteration": int(i), "value": v}
                           for seed, series in ((0, falling), (1, flat), (2, falling)) for i, v in zip(ITERATIONS, series)])
    marked = add_trends(runs, curves, {("digits", 16, 512): THRESHOLD}, RULE)
    assert list(marked["outcome"]) == ["still improving", "failed to learn", "learned"]
    short = add_trends(runs.iloc[:1], curves[curves["iteration"] >= 800], {("digits", 16, 512): THRESHOLD}, RULE)
    assert list(short["outcome"]) == ["no plateau yet"]  # 3 late snapshots: neither a plateau nor a fall
    assert marked.loc[0, "iterations_needed"] == pytest.approx(2350, abs=1)
    assert "still improving" in marked.loc[0, "outcome_reason"]


def test_a_mode_count_flat_at_zero_is_no_plateau_while_w1_falls() -> None:
    """8 Gaussians: a run covers no mode until it suddenly covers most (WGAN-GP's toy settings: none
    at 1,000 iterations, 8 in most seeds by 5,000). Its trend is read on W1, which falls meanwhile."""
    from wganbench.outcomes import threshold_from_levels

    levels = {"kind": "toy", "levels": {"real": {"modes_covered": 8, "w1": 0.16}, "constant": {"modes_covered": 0, "w1": 1.4}}}
    threshold = threshold_from_levels(levels)
    assert threshold.progress is not None and threshold.progress.metric.name == "w1"
    keys = {"experiment": "toy", "dataset": "8gaussians", "objective": "wgan-gp-toy", "arch": "mlp", "image_size": None,
            "sample_count": 512, "status": "completed"}
    runs = pd.DataFrame([{**keys, "seed": 0, "outcome": "failed to learn", "outcome_reason": "modes_covered 0 not > 4"}])
    w1 = 0.6 - 0.0004 * ITERATIONS  # 0.56 -> 0.2 over the run
    curves = pd.DataFrame([{**keys, "seed": 0, "source": "metrics", "variable": variable, "iteration": int(i), "value": v}
                           for i, m, w in zip(ITERATIONS, np.zeros(len(ITERATIONS)), w1)
                           for variable, v in (("modes_covered", m), ("w1", w))])
    marked = add_trends(runs, curves, {("8gaussians", None, 512): threshold}, RULE)
    assert marked.loc[0, "outcome"] == "still improving" and "w1 still improving" in marked.loc[0, "outcome_reason"]
    assert math.isnan(marked.loc[0, "iterations_needed"])  # W1 has no learned threshold to extrapolate to
