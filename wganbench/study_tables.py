"""The equal-budget tables of a grid with searched experiments (``search:``): each trial's final
metric, each objective's expected best of k trials with its bootstrap band, and P(A better than B)
between every objective and the baseline at each budget k.

Trials are the objectives named ``<objective>--t<k>`` (wganbench/search.py). A trial that diverged
or failed has no value: it counts as the constant generator's level on the compared metric (or,
without one, as the cell's worst completed trial), because the budget spent on it found nothing.
With several seeds per trial, a trial's value is the mean over its seeds.
"""

from __future__ import annotations

import json
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
        level = constant_level(group, metric)
        rows.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                     "trial": trial, "metric": metric, "value": float(values.mean()) if len(values) else np.nan,
                     "seeds": len(group), "diverged": int((group["status"] != "completed").sum()),
                     "worst": np.nan if level is None else level})
    return pd.DataFrame(rows, columns=[*GROUP, "trial", "metric", "value", "seeds", "diverged", "worst"])


def constant_level(runs: pd.DataFrame, metric: str) -> float | None:
    """The constant generator's level on `metric` in these runs (the aggregate records it for each
    run's outcome metric); None where their outcome metric is another one."""
    if "level_constant" not in runs or "outcome_metric" not in runs:
        return None
    found = runs.loc[runs["outcome_metric"] == metric, "level_constant"].dropna()
    return float(found.iloc[0]) if len(found) else None


def diverged_value(level: float | None, completed: np.ndarray, lower: bool) -> float | None:
    """What a trial or seed that diverged or failed counts as, everywhere a study ranks or takes a
    best: the constant generator's level (the budget spent on it found nothing), else the worst
    completed value of its cell; None (infinitely bad) when there is neither."""
    if level is not None and np.isfinite(level):
        return float(level)
    completed = np.asarray(completed, dtype=float)
    completed = completed[np.isfinite(completed)]
    if not len(completed):
        return None
    return float(completed.max() if lower else completed.min())


def rerun_fill(runs: pd.DataFrame, experiments: list[str], dataset: str, arch: str, metric: str,
               lower: bool) -> float | None:
    """`diverged_value` for a rerun cell: the constant level, else the worst completed seed of any
    objective in the rerun experiments (both phases), which the rerun rank and the ranking claim share."""
    cell = runs[(runs["dataset"] == dataset) & (runs["arch"] == arch)] if len(runs) else runs
    reruns = cell[cell["experiment"].isin(experiments) & (cell["status"] == "completed")] if len(cell) else cell
    completed = reruns[metric].to_numpy(dtype=float) if metric in reruns else np.array([])
    return diverged_value(constant_level(cell, metric), completed, lower)


def worst_of(trials: pd.DataFrame) -> float | None:
    """`diverged_value` for one cell's trials (rows of `trial_values`)."""
    if not len(trials):
        return None
    levels = trials["worst"].dropna() if "worst" in trials else pd.Series(dtype=float)
    return diverged_value(float(levels.iloc[0]) if len(levels) else None, trials["value"].to_numpy(dtype=float),
                          lower_is_better(trials["metric"].iloc[0]))


def budget_curves(trials: pd.DataFrame, confidence: float = 0.95, resamples: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """Expected best of k trials, k = 1 ... N, per objective and cell, with its bootstrap band."""
    rows = []
    for key, group in trials.groupby(GROUP):
        metric = group["metric"].iloc[0]
        curve = budget_curve(group.sort_values("trial")["value"].to_numpy(), lower_is_better(metric),
                             confidence, resamples, seed, worst_of(group))
        for k, expected, low, high in zip(curve.k, curve.expected, curve.low, curve.high):
            rows.append({**dict(zip(GROUP, key)), "metric": metric, "k": int(k), "expected_best": expected,
                         "low": low, "high": high})
    return pd.DataFrame(rows, columns=[*GROUP, "metric", "k", "expected_best", "low", "high"])


def best_of_k_improvement(a: np.ndarray, b: np.ndarray, k: int, lower_is_better: bool = True,
                          worst: float | None = None) -> float:
    """P(best of k of A's trials beats best of k of B's), exactly: the best of a random k-subset is
    the i-th best trial with probability C(N-i, k-1)/C(N, k) (diverged trials are the worst, tied
    with each other)."""
    fill = worst if worst is not None else (np.inf if lower_is_better else -np.inf)

    def ordered(values: np.ndarray) -> np.ndarray:
        values = np.where(np.isnan(values), fill, np.asarray(values, dtype=float))
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
        lower, worst = lower_is_better(metric), worst_of(cell)
        for objective, group in cell[cell["objective"] != baseline].groupby("objective"):
            values = group.sort_values("trial")["value"].to_numpy()
            for k in range(1, min(len(values), len(base)) + 1):
                point = best_of_k_improvement(values, base, k, lower, worst)
                draws = [best_of_k_improvement(rng.choice(values, len(values)), rng.choice(base, len(base)), k, lower,
                                               worst) for _ in range(resamples)]
                low, high = np.quantile(draws, [tail, 1 - tail])
                rows.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                             "baseline": baseline, "metric": metric, "k": k, "p_better": point,
                             "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=["experiment", "dataset", "arch", "objective", "baseline", "metric", "k",
                                       "p_better", "low", "high"])


def write_study_tables(runs: pd.DataFrame, metrics: dict[str, str], baseline: str, out: Path,
                       resamples: int = 1000, seed: int = 0, reruns: dict[str, str] | None = None,
                       defaults: dict[str, str] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    reruns, defaults = reruns or {}, defaults or {}
    searched = runs[~runs["experiment"].isin([*reruns, *defaults])]
    trials = trial_values(searched, metrics)
    written = {"trials": out / "study_trials.csv", "budget": out / "study_budget_curves.csv",
               "comparisons": out / "study_comparisons.csv", "rerun": out / "study_rerun.csv"}
    phases = {**{rerun: BEST_PHASE for rerun in reruns}, **{rerun: OWN_PHASE for rerun in defaults}}
    rerun_table(runs, {**reruns, **defaults}, metrics, resamples=resamples, seed=seed,
                phases=phases).to_csv(written["rerun"], index=False)
    trials.to_csv(written["trials"], index=False)
    budget_curves(trials, resamples=resamples, seed=seed).to_csv(written["budget"], index=False)
    comparisons(trials, baseline, resamples=resamples, seed=seed).to_csv(written["comparisons"], index=False)
    return written


def best_trials(run_dirs: list[Path], metric: str) -> pd.DataFrame:
    """Each searched objective's best trial per cell, from the trials' run folders
    (results/runs/<experiment>/<dataset>/<objective>--t<k>/<arch>/seed<n>): the lowest (or highest)
    mean metric over its seeds; diverged or failed runs count as the worst; ties go to the lower trial."""
    rows = []
    for run in run_dirs:
        run = Path(run)
        experiment, dataset, name, arch = run.parts[-5:-1]
        objective, trial = base_objective(name)
        status = json.loads((run / "status.json").read_text()).get("status")
        metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
        record = metrics.get(metric) or {}
        value = record.get("value") if status == "completed" and record.get("available", True) else None
        rows.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                     "trial": trial, "name": name, "value": np.nan if value is None else float(value)})
    frame = pd.DataFrame(rows, columns=["experiment", "dataset", "arch", "objective", "trial", "name", "value"])
    sign = 1.0 if lower_is_better(metric) else -1.0
    best = []
    for key, group in frame.groupby(GROUP):
        means = group.groupby(["trial", "name"])["value"].mean().reset_index()
        means["score"] = (sign * means["value"]).fillna(np.inf)
        chosen = means.sort_values(["score", "trial"]).iloc[0]
        best.append({**dict(zip(GROUP, key)), "metric": metric, "best_trial": chosen["name"],
                     "trial": int(chosen["trial"]), "value": chosen["value"]})
    return pd.DataFrame(best, columns=[*GROUP, "metric", "best_trial", "trial", "value"])


BEST_PHASE = "best trial"  # the protocol's last phase: each objective's best trial, more seeds
OWN_PHASE = "own setting"  # trial 0 (each objective's published setting) with the same seeds


def rerun_table(runs: pd.DataFrame, reruns: dict[str, str], metrics: dict[str, str], confidence: float = 0.95,
                resamples: int = 1000, seed: int = 0, phases: dict[str, str] | None = None) -> pd.DataFrame:
    """Trials trained again with more seeds: each objective's best trial (the protocol's last phase)
    and, where the study asks, its own setting. Per phase and cell: the mean metric of the completed
    seeds with a percentile bootstrap interval, how many seeds diverged, and the objective's rank
    (1 = best) by its mean with diverged seeds counted as `rerun_fill` says, as the ranking claim
    counts them."""
    rows, seeds_of = [], []
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2
    phases = phases or {}
    for rerun, searched in reruns.items():
        metric = metrics.get(rerun) or metrics.get(searched)
        chosen = runs[runs["experiment"] == rerun]
        for (dataset, arch, name), group in chosen.groupby(["dataset", "arch", "objective"]):
            objective, trial = base_objective(name)
            raw = group[metric].astype(float).where(group["status"] == "completed").to_numpy()
            values = raw[np.isfinite(raw)]
            if len(values):
                draws = [rng.choice(values, len(values)).mean() for _ in range(resamples)]
                low, high = np.quantile(draws, [tail, 1 - tail])
            else:
                low = high = np.nan
            rows.append({"experiment": searched, "phase": phases.get(rerun, BEST_PHASE), "dataset": dataset,
                         "arch": arch, "objective": objective, "trial": trial, "metric": metric,
                         "seeds": len(group), "diverged": len(group) - len(values),
                         "mean": float(values.mean()) if len(values) else np.nan, "low": float(low), "high": float(high)})
            seeds_of.append(raw)
    columns = ["experiment", "phase", "dataset", "arch", "objective", "trial", "metric", "seeds", "diverged", "mean",
               "low", "high", "rank"]
    table = pd.DataFrame(rows, columns=columns[:-1])
    if table.empty:
        return pd.DataFrame(columns=columns)
    scores = np.full(len(table), np.nan)
    for (searched, dataset, arch), index in table.groupby(["experiment", "dataset", "arch"]).groups.items():
        metric = table.loc[index[0], "metric"]
        lower = lower_is_better(metric)
        phases = [rerun for rerun, name in reruns.items() if name == searched]
        fill = rerun_fill(runs, phases, dataset, arch, metric, lower)
        for i in index:
            filled = np.where(np.isfinite(seeds_of[i]), seeds_of[i], np.inf if fill is None else fill)
            scores[i] = (1.0 if lower else -1.0) * float(np.mean(filled)) if np.isfinite(filled).all() else np.inf
    cell = ["experiment", "phase", "dataset", "arch"]
    table["rank"] = pd.Series(scores).groupby([table[c] for c in cell]).rank(method="min").astype(int)
    return table
