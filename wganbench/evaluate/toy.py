"""Toy 2-D data: exact W1 (POT) and the unrolled-GAN / VEEGAN mode counts.

A generated point is *high quality* when it lies within ``stds`` standard deviations of its nearest
mixture centre; a mode is *covered* when at least ``min_count`` high-quality points are nearest to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot


def wasserstein1(x: np.ndarray, y: np.ndarray) -> tuple[float, str | None]:
    """Exact W1 between the uniform empirical measures on ``x`` and ``y`` (Euclidean ground cost).

    Returns the distance and POT's warning (None when the network simplex reached optimality).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    cost = ot.dist(x, y, metric="euclidean")
    distance, log = ot.emd2(a, b, cost, numItermax=10_000_000, log=True)
    return float(distance), log.get("warning")


@dataclass(frozen=True)
class ModeStats:
    modes_covered: int
    high_quality_share: float


def mode_stats(points: np.ndarray, centres: np.ndarray, std: float, stds: float = 3.0,
               min_count: int = 1) -> ModeStats:
    """Modes covered and the share of high-quality points, as in the unrolled-GAN / VEEGAN protocol."""
    points, centres = np.asarray(points, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    distances = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= stds * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return ModeStats(int((counts >= min_count).sum()), float(good.mean()) if len(points) else float("nan"))
