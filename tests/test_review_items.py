"""Review items of the verdicts (issue: verdicts that hold up), each checked where it is decided:
LeCam's moving averages start inside the run; a mode needs more than a few stray samples; a learned
image generator must also cover the data's modes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from wganbench.config import resolve_cell
from wganbench.evaluate.families import mode_min_count
from wganbench.evaluate.toy import mode_stats
from wganbench.outcomes import OUTCOME_METRICS, Threshold, outcome, threshold_from_levels


def test_lecam_averages_start_within_every_run_and_the_start_is_recorded() -> None:
    short = resolve_cell({"objective": "lecam-gan", "arch": "mlp", "dataset": "8gaussians", "seed": 0, "iterations": 1000})
    # lecam-gan's ema_start of 1,000 critic steps would never be reached by 1,000 iterations of 1 critic step
    assert short["lipschitz"]["lecam"] == {"weight": 0.3, "start": 100}
    long = resolve_cell({"objective": "lecam-gan", "arch": "mlp", "dataset": "8gaussians", "seed": 0, "iterations": 100000})
    assert long["lipschitz"]["lecam"]["start"] == 1000
    explicit = resolve_cell({"objective": "lecam-gan", "arch": "mlp", "dataset": "8gaussians", "seed": 0,
                             "iterations": 1000, "lipschitz": {"spectral_norm": {}, "lecam": {"weight": 0.3, "start": 7}}})
    assert explicit["lipschitz"]["lecam"]["start"] == 7


def test_a_ring_between_the_modes_covers_none_of_them() -> None:
    """512 samples on a ring through the gaps between 8 Gaussians, with 4 stray points at each mode:
    the old rule (one high-quality sample) counted all 8 modes covered."""
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 2.0
    between = np.stack([np.cos(angles + np.pi / 8), np.sin(angles + np.pi / 8)], axis=1) * 2.0
    ring = np.repeat(between, 60, axis=0) + np.random.default_rng(0).normal(0, 0.05, (480, 2))
    points = np.concatenate([ring, np.repeat(centres, 4, axis=0)])
    context = SimpleNamespace(settings={"mode_min_count": 1, "mode_min_share": 0.2})
    assert mode_stats(points, centres, std=0.02, min_count=1).modes_covered == 8  # the old count
    needed = mode_min_count(context, len(points), len(centres))
    assert needed == math.ceil(0.2 * 512 / 8) == 13
    assert mode_stats(points, centres, std=0.02, min_count=needed).modes_covered == 0
    real = centres[np.arange(512) % 8] + np.random.default_rng(1).normal(0, 0.02, (512, 2))
    assert mode_stats(real, centres, std=0.02, min_count=needed).modes_covered == 8


def test_a_generator_that_repeats_a_few_digits_has_not_learned() -> None:
    levels = {"kind": "image", "levels": {"real": {"fid": 0.25, "modes_covered": 10},
                                          "constant": {"fid": 100.0, "modes_covered": 1}}}
    threshold = threshold_from_levels(levels)
    assert threshold.diversity is not None and threshold.diversity.value == 5.5
    assert outcome("completed", 2.0, threshold, diversity=9)[0] == "learned"
    collapsed, why = outcome("completed", 2.0, threshold, diversity=3)
    assert collapsed == "failed to learn" and "collapsed" in why
    # data sets without labels keep the quality threshold alone
    assert outcome("completed", 2.0, Threshold(OUTCOME_METRICS["image"], 0.25, 100.0))[0] == "learned"
