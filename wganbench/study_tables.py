"""The equal-budget tables of a grid with searched experiments (``search:``): each trial's final
metric, each objective's expected best of k trials with its bootstrap band, and P(A better than B)
between every objective and the baseline at each budget k.

Trials are the objectives named ``<objective>--t<k>`` (wganbench/search.py). A trial that diverged
or failed has no value: it counts as the worst trial, because the budget spent on it found nothing.
With several seeds per trial, a trial's value is the mean over its seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .search import base_objective
from .study import best_of_k_weights, budget_curve

GROUP = ["experiment", "dataset", "arch", "objective"]
# metrics where larger is better; every other one (fid, kid, w1, mode_kl) is better lower
HIGHER_IS_BETTER = frozenset({"modes_covered", "isc", "precision", "recall", "f_score", "density", "coverage",
                              "high_quality_share"})


def lower_is_better(metric: str) -> bool:
    return metric not in HIGHER_IS_BETTER


def trial_values(runs: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """One row per trial: experiment, dataset, arch, objective (the searched one), trial, metric,
    value (NaN where every seed diverged or failed), seeds, diverged."""
    rows = []
    for (experiment, dataset, arch, name), group in runs.groupby(["experiment", "dataset", "arch", "objective"]):
        objective, trial = base_objective(name)
        if trial is None or experiment not in metrics:
            continue
        metric = metrics[experiment]
        values = group.loc[group["status"] == "completed", metric] if metric in group else pd.Series(dtype=float)
        rows.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                     "trial": trial, "metric": metric, "value": float(values.mean()) if len(values) else np.nan,
                     "seeds": len(group), "diverged": int((group["status"] != "completed").sum())})
    return pd.DataFrame(rows, columns=[*GROUP, "trial", "metric", "value", "seeds", "diverged"])


def budget_curves(trials: pd.DataFrame, confidence: float = 0.95, resamples: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """Expected best of k trials, k = 1 ... N, per objective and cell, with its bootstrap band."""
    rows = []
    for key, group in trials.groupby(GROUP):
        metric = group["metric"].iloc[0]
        curve = budget_curve(group.sort_values("trial")["value"].to_numpy(), lower_is_better(metric),
                             confidence, resamples, seed)
        for k, expected, low, high in zip(curve.k, curve.expected, curve.low, curve.high):
            rows.append({**dict(zip(GROUP, key)), "metric": metric, "k": int(k), "expected_best": expected,
                         "low": low, "high": high})
    return pd.DataFrame(rows, columns=[*GROUP, "metric", "k", "expected_best", "low", "high"])


def best_of_k_improvement(a: np.ndarray, b: np.ndarray, k: int, lower_is_better: bool = True) -> float:
    """P(best of k of A's trials beats best of k of B's), exactly: the best of a random k-subset is
    the i-th best trial with probability C(N-i, k-1)/C(N, k) (diverged trials are the worst)."""
    def ordered(values: np.ndarray) -> np.ndarray:
        worst = np.inf if lower_is_better else -np.inf
        values = np.where(np.isnan(values), worst, np.asarray(values, dtype=float))
        return np.sort(values) if lower_is_better else np.sort(values)[::-1]

    x, y = ordered(a), ordered(b)
    wx, wy = best_of_k_weights(len(x), min(k, len(x))), best_of_k_weights(len(y), min(k, len(y)))
    better = (x[:, None] < y[None, :]) if lower_is_better else (x[:, None] > y[None, :])
    both_inf = np.isinf(x)[:, None] & np.isinf(y)[None, :]
    ties = (x[:, None] == y[None, :]) | both_inf
    return float(wx @ (better & ~both_inf).astype(float) @ wy + 0.5 * (wx @ ties.astype(float) @ wy))


def comparisons(trials: pd.DataFrame, baseline: str, resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> pd.DataFrame:
    """For each objective against the baseline on each cell and budget k: P(objective's best of k
    beats the baseline's), with a bootstrap interval (each side's trials resampled on their own)."""
    rows = []
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2
    for (experiment, dataset, arch), cell in trials.groupby(["experiment", "dataset", "arch"]):
        base = cell[cell["objective"] == baseline].sort_values("trial")["value"].to_numpy()
        if not len(base):
            continue
        metric = cell["metric"].iloc[0]
        lower = lower_is_better(metric)
        for objective, group in cell[cell["objective"] != baseline].groupby("objective"):
            values = group.sort_values("trial")["value"].to_numpy()
            for k in range(1, min(len(values), len(base)) + 1):
                point = best_of_k_improvement(values, base, k, lower)
                draws = [best_of_k_improvement(rng.choice(values, len(values)), rng.choice(base, len(base)), k, lower)
                         for _ in range(resamples)]
                low, high = np.quantile(draws, [tail, 1 - tail])
                rows.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                             "baseline": baseline, "metric": metric, "k": k, "p_better": point,
                             "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=["experiment", "dataset", "arch", "objective", "baseline", "metric", "k",
                                       "p_better", "low", "high"])


def write_study_tables(runs: pd.DataFrame, metrics: dict[str, str], baseline: str, out: Path,
                       resamples: int = 1000, seed: int = 0) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    trials = trial_values(runs, metrics)
    written = {"trials": out / "study_trials.csv", "budget": out / "study_budget_curves.csv",
               "comparisons": out / "study_comparisons.csv"}
    trials.to_csv(written["trials"], index=False)
    budget_curves(trials, resamples=resamples, seed=seed).to_csv(written["budget"], index=False)
    comparisons(trials, baseline, resamples=resamples, seed=seed).to_csv(written["comparisons"], index=False)
    return written
