"""How far a training run's trajectory is from a saved one: every numeric log.csv column but
wall_seconds (losses, estimates, gradient norms), the final samples and every snapshot's samples,
each difference scaled by the largest magnitude of its column or array, so that a loss of 1e3 and a
gradient norm of 1e-2 are held to the same relative standard. Used by tests/test_golden_runs.py and
by tests/golden/measure_tolerance.py, which derives the tolerance from kernel changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

IGNORED_COLUMNS = ("wall_seconds",)


@dataclass
class Deviation:
    """The largest scaled difference and where it is; ``0.0`` means bit for bit."""

    value: float
    where: str

    def __str__(self) -> str:
        return f"{self.value:.3g} ({self.where})"


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def read_log(run: Path) -> pd.DataFrame:
    """log.csv with every number parsed back exactly as written (Python's float, which round-trips
    what the training loop wrote); a column that is not numeric stays text."""
    frame = pd.read_csv(run / "log.csv", dtype=str, keep_default_na=False)
    for column in frame.columns:
        try:
            frame[column] = [float(text) if text != "" else np.nan for text in frame[column]]
        except ValueError:
            pass
    return frame


def scaled_difference(found: np.ndarray, expected: np.ndarray) -> float:
    """max |found - expected| / max |expected|, NaN where both are NaN counted equal; a NaN on one
    side only, or a shape change, is infinitely far."""
    found, expected = np.asarray(found, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if found.shape != expected.shape or not np.array_equal(np.isnan(found), np.isnan(expected)):
        return float("inf")
    both = ~np.isnan(expected)
    if not both.any():
        return 0.0
    difference = np.abs(found[both] - expected[both])
    if not np.isfinite(difference).all():
        return 0.0 if np.array_equal(found[both], expected[both]) else float("inf")
    scale = np.abs(expected[both]).max()
    return float(difference.max() / scale) if scale > 0 else float(difference.max())


def structure_problems(found: Path, saved: Path) -> list[str]:
    """What must match exactly whatever the numerics: status, logged iterations and columns, and
    the set of snapshot files."""
    problems = []
    if json.loads((found / "status.json").read_text()) != json.loads((saved / "status.json").read_text()):
        problems.append("status.json differs")
    a, b = read_log(found), read_log(saved)
    if list(a.columns) != list(b.columns) or list(a["iteration"]) != list(b["iteration"]):
        problems.append("log.csv has other columns or iterations")
    snapshots = sorted(p.relative_to(saved) for p in saved.glob("samples/*.npz"))
    if snapshots != sorted(p.relative_to(found) for p in found.glob("samples/*.npz")):
        problems.append("other snapshot files")
    return problems


def trajectory_deviation(found: Path, saved: Path) -> Deviation:
    """The largest scaled difference between two run folders of the same cell (call
    ``structure_problems`` first)."""
    worst = Deviation(0.0, "identical")
    a, b = read_log(found), read_log(saved)
    for column in b.columns:
        if column in IGNORED_COLUMNS or not pd.api.types.is_numeric_dtype(b[column]):
            continue
        value = scaled_difference(a[column].to_numpy(), b[column].to_numpy())
        if value > worst.value:
            worst = Deviation(value, f"log.csv:{column}")
    files = [Path("samples.npz"), *sorted(p.relative_to(saved) for p in saved.glob("samples/*.npz"))]
    for relative in files:
        mine, theirs = arrays(found / relative), arrays(saved / relative)
        for key, expected in theirs.items():
            value = scaled_difference(mine[key], expected) if key in mine else float("inf")
            if value > worst.value:
                worst = Deviation(value, f"{relative}:{key}")
    return worst


def bit_identical(found: Path, saved: Path) -> bool:
    """Every compared number equal bit for bit (NaN equal to NaN)."""
    a, b = read_log(found), read_log(saved)
    columns = [c for c in b.columns if c not in IGNORED_COLUMNS]
    if not a[columns].equals(b[columns]):
        return False
    files = [Path("samples.npz"), *sorted(p.relative_to(saved) for p in saved.glob("samples/*.npz"))]
    for relative in files:
        mine, theirs = arrays(found / relative), arrays(saved / relative)
        if mine.keys() != theirs.keys() or not all(
                np.array_equal(mine[k], theirs[k], equal_nan=True) for k in theirs):
            return False
    return True
