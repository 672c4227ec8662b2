"""Run folders -> pandas tables: ``runs`` (one row per run), ``summary`` (seed statistics), ``curves``.

Reads only the run-folder contract (``wganbench.rundir``) plus the Snakemake benchmark files, so the
tables are a pure function of files a person can open. A file it cannot trust (unreadable, or
metrics that measured another state of the run than status.json records) stops it with a one-line
error naming the file and the repair, rather than leaving a gap or a wrong number in the tables; a
run that stopped early (diverged, failed) is a row with its reason and no final metric. The seed statistics are the point: with a
handful of seeds per cell, a mean alone says little, so every metric gets a bootstrap interval and a
rank test against a baseline objective, Holm-corrected across the objectives it is compared with.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
from scipy import stats

from .outcomes import Threshold, outcome, threshold_from_levels
from .trend import TrendRule, trend, with_trend
from .registry import ConfigError
from .evaluate.records import values as metric_values
from .rundir import COMPLETED, RunDir, atomic_write_text, read_json

MISSING = "missing"  # a run folder without status.json: listed, never counted as a result

# columns that describe a run rather than measure it (metrics are every other numeric column)
KEY_COLUMNS = ["experiment", "dataset", "image_size", "objective", "arch", "critic", "seed"]
OUTCOME_COLUMNS = ["outcome", "outcome_reason", "outcome_metric", "outcome_threshold", "level_real", "level_constant",
                   "diversity_metric", "diversity_threshold", "progress_metric", "progress_real", "progress_constant",
                   "trend", "trend_slope", "iterations_needed"]
INFO_COLUMNS = KEY_COLUMNS + ["status", "reason", *OUTCOME_COLUMNS, "sample_count", "iterations", "train_seconds",
                              "job_seconds", "peak_rss_mb", "eval_seconds", "eval_peak_rss_mb", "run_dir"]
GROUP_COLUMNS = ["experiment", "dataset", "objective", "arch", "critic"]
# benchmark file columns (Snakemake's `benchmark:` TSV) -> runs.csv columns, per rule folder
BENCHMARK_COLUMNS = {"train": {"s": "job_seconds", "max_rss": "peak_rss_mb"},
                     "evaluate": {"s": "eval_seconds", "max_rss": "eval_peak_rss_mb"}}


@dataclass(frozen=True)
class Settings:
    """Seed-statistics settings (the config's ``aggregate`` block)."""

    baseline: str = "nsgan"
    confidence: float = 0.95
    bootstrap_resamples: int = 2000
    alpha: float = 0.05
    seed: int = 0
    still_improving: TrendRule = TrendRule()


# --- runs.csv ------------------------------------------------------------------------------------

def read_benchmark(path: Path) -> dict[str, float]:
    """The last row of a Snakemake benchmark TSV (a retried job appends rows)."""
    if not path.exists():
        return {}
    with path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return {}
    return {k: _number(v) for k, v in rows[-1].items()}


def read_job_benchmark(rule_root: Path, relative: Path) -> dict[str, float]:
    """The benchmark of the job that made this run: its own (``.../seedN.tsv``) or, for seeds trained
    or evaluated together as one ensemble job, that job's (``.../seeds.tsv``), shared by its seeds."""
    own = read_benchmark(rule_root / relative.with_suffix(".tsv"))
    return own or read_benchmark(rule_root / relative.parent / "seeds.tsv")


def _number(text: str | None) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def run_row(run_dir: Path, runs_root: Path, benchmarks_root: Path | None) -> dict[str, Any]:
    """One runs.csv row: cell keys from config.yaml, status, timings, peak memory, final metrics."""
    run = RunDir(run_dir)
    relative = run_dir.resolve().relative_to(runs_root.resolve())
    config = run.read_config()
    status = run.read_status() or {"status": MISSING, "iterations": 0, "reason": "no status.json (not trained yet)"}
    metrics = run.read_metrics()
    check_metrics_match(run, status, metrics)
    provenance = run.read_provenance() or {}
    row: dict[str, Any] = {
        "experiment": relative.parts[0], "dataset": config["dataset"], "image_size": config.get("image_size"),
        "objective": config["objective"], "arch": config["arch"], "critic": config["critic"],
        "seed": config["seed"], "status": status["status"], "reason": status.get("reason"),
        "sample_count": config.get("sample_count"),
        "iterations": status.get("iterations"), "train_seconds": provenance.get("wall_seconds", math.nan),
        "run_dir": str(run_dir),
    }
    for rule, columns in BENCHMARK_COLUMNS.items():
        bench = read_job_benchmark(benchmarks_root / rule, relative) if benchmarks_root else {}
        row.update({column: bench.get(field, math.nan) for field, column in columns.items()})
    if metrics is None and status["status"] == COMPLETED:
        row["reason"] = "not evaluated: no metrics.json"
    for name, value in metric_values(metrics or {}).items():
        row[name if name not in INFO_COLUMNS else f"metric.{name}"] = value
    return row


def check_metrics_match(run: RunDir, status: dict, metrics: dict | None) -> None:
    """Refuse metrics.json from another state of the run (e.g. measured before a retrain ended
    differently): its numbers would sit in the row of a run they do not describe."""
    if metrics is None or "run_status" not in metrics or status["status"] == MISSING:
        return  # metrics.json of `wganbench evaluate` records the status it measured
    if metrics.get("run_status") != status["status"]:
        raise ConfigError(
            f"{run.metrics} measured a run with status {metrics.get('run_status')!r}, but {run.status} says "
            f"{status['status']!r}; rerun `snakemake --cores all --forcerun {run.metrics}` (or `wganbench evaluate {run.path}`)")


# --- outcomes ------------------------------------------------------------------------------------

def read_levels(paths: Iterable[Path]) -> list[dict]:
    """The levels files (``wganbench evaluate-levels``), read once for thresholds and table."""
    return [read_json(Path(path)) for path in paths]


def thresholds_of(levels: Iterable[dict]) -> dict[tuple, Threshold]:
    """Threshold per (data set, image size or None, sample count)."""
    found = {}
    for entry in levels:
        threshold = threshold_from_levels(entry)
        if threshold is not None:
            found[(entry["dataset"], entry.get("image_size"), entry["count"])] = threshold
    return found


def levels_table(levels: Iterable[dict]) -> pd.DataFrame:
    """One row per data set x size x count: both reference levels of every metric, and the threshold."""
    rows = []
    for entry in levels:
        threshold = threshold_from_levels(entry)
        for generator, measured in entry["levels"].items():
            rows.append({"dataset": entry["dataset"], "image_size": entry.get("image_size"),
                         "sample_count": entry["count"], "generator": generator, **measured,
                         "outcome_metric": threshold.metric.name if threshold else None,
                         "outcome_threshold": threshold.value if threshold else math.nan})
    return pd.DataFrame(rows)


def add_outcomes(frame: pd.DataFrame, thresholds: dict[tuple, Threshold]) -> pd.DataFrame:
    """The outcome of each run (``wganbench.outcomes``), with the threshold and levels beside it."""
    columns: dict[str, list] = {name: [] for name in OUTCOME_COLUMNS}
    for row in frame.to_dict("records"):
        threshold = threshold_of(row, thresholds)
        metric = threshold.metric.name if threshold else None
        value = row.get(metric) if metric else None
        diversity_name = threshold.diversity.metric.name if threshold and threshold.diversity else None
        diversity = row.get(diversity_name) if diversity_name else None
        result, why = outcome(row["status"], None if value is None or pd.isna(value) else float(value), threshold,
                              None if diversity is None or pd.isna(diversity) else float(diversity))
        columns["outcome"].append(result)
        columns["outcome_reason"].append(why)
        columns["outcome_metric"].append(metric)
        columns["outcome_threshold"].append(threshold.value if threshold else math.nan)
        columns["level_real"].append(threshold.real if threshold else math.nan)
        columns["level_constant"].append(threshold.constant if threshold else math.nan)
        second = threshold.diversity if threshold else None
        columns["diversity_metric"].append(second.metric.name if second else None)
        columns["diversity_threshold"].append(second.value if second else math.nan)
        progress = threshold.progress if threshold else None
        columns["progress_metric"].append(progress.metric.name if progress else None)
        columns["progress_real"].append(progress.real if progress else math.nan)
        columns["progress_constant"].append(progress.constant if progress else math.nan)
        columns["trend"].append(None)
        columns["trend_slope"].append(math.nan)
        columns["iterations_needed"].append(math.nan)
    return frame.assign(**columns)


def threshold_of(row: dict[str, Any], thresholds: dict[tuple, Threshold]) -> Threshold | None:
    size = row.get("image_size")
    size = None if size is None or pd.isna(size) else int(size)
    return (thresholds.get((row["dataset"], size, row.get("sample_count")))
            or thresholds.get((row["dataset"], None, row.get("sample_count"))))


def add_trends(runs: pd.DataFrame, curves: pd.DataFrame, thresholds: dict[tuple, Threshold],
               rule: TrendRule) -> pd.DataFrame:
    """Each completed run's trend at its end (``wganbench.trend``: improving, plateau, or no plateau
    yet), in column ``trend``; a run that failed to learn but is still improving (or shows no plateau
    yet) gets that outcome, its slope and the iterations it would still need. Learned runs keep their
    outcome, but a claim with a stricter success bound (all 8 modes) reads their trend too."""
    if runs.empty or "outcome" not in runs:
        return runs
    runs = runs.copy()
    for column in ("trend_slope", "iterations_needed"):
        if column not in runs:
            runs[column] = math.nan
    runs["trend"] = runs["trend"].astype(object) if "trend" in runs else None
    keys = [k for k in ("experiment", "dataset", "objective", "arch", "critic", "seed") if k in runs and k in curves]
    snapshots = curves[curves["source"] == "metrics"] if not curves.empty else pd.DataFrame(
        columns=[*keys, "source", "variable", "iteration", "value"])
    by_run = {key: group for key, group in snapshots.groupby(keys)} if keys else {}
    for index, row in runs.iterrows():
        threshold = threshold_of(row.to_dict(), thresholds)
        if threshold is None or row["status"] != "completed":
            continue
        points = by_run.get(tuple(row[k] for k in keys), snapshots.iloc[0:0])
        curve = threshold.progress or threshold  # the trend's curve: W1 on 2-D data, FID on images
        points = points[points["variable"] == curve.metric.name]  # none (snapshot_every: 0): no plateau shown
        found = trend(points["iteration"].to_numpy(), points["value"].to_numpy(), curve, rule)
        result, label, needed = with_trend(row["outcome"], found, on_outcome_curve=curve is threshold)
        runs.at[index, "trend"] = label
        runs.at[index, "trend_slope"] = found.slope
        if result != row["outcome"]:
            runs.at[index, "outcome"] = result
            runs.at[index, "outcome_reason"] = f"{row['outcome_reason']}; {curve.metric.name} {found.reason}"
            runs.at[index, "iterations_needed"] = needed
    return runs


def collect_runs(run_dirs: Iterable[Path], runs_root: Path, benchmarks_root: Path | None = None,
                 thresholds: dict[tuple, Threshold] | None = None) -> pd.DataFrame:
    rows = [run_row(Path(d), runs_root, benchmarks_root) for d in run_dirs]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = add_outcomes(frame, thresholds or {})
    if frame.empty:
        return pd.DataFrame(columns=INFO_COLUMNS)
    metrics = sorted(c for c in frame.columns if c not in INFO_COLUMNS)
    frame = frame[[c for c in INFO_COLUMNS if c in frame.columns] + metrics]
    frame = frame.astype({"image_size": "Int64", "seed": "int64", "iterations": "Int64"})
    return frame.sort_values(KEY_COLUMNS[:1] + KEY_COLUMNS[1:2] + ["objective", "arch", "seed"]).reset_index(drop=True)


def metric_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c not in INFO_COLUMNS and pd.api.types.is_numeric_dtype(runs[c])]


# --- curves.parquet ------------------------------------------------------------------------------

def _log_curves(run: RunDir) -> Iterator[dict]:
    if not run.log.exists():
        return
    log = pd.read_csv(run.log)
    for column in log.columns.drop("iteration"):
        for iteration, value in zip(log["iteration"], log[column]):
            yield {"source": "log", "variable": column, "iteration": int(iteration), "value": float(value)}


def _metric_curves(metrics: dict) -> Iterator[dict]:
    """Metric curves of metrics.json: its ``curves`` list of {"iteration": i, name: record, ...}."""
    for point in metrics.get("curves", []):
        for name, value in metric_values(point).items():
            yield {"source": "metrics", "variable": name, "iteration": int(point["iteration"]), "value": value}


def collect_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Every training log and metric curve as tidy rows: run keys, source, variable, iteration, value."""
    records = []
    for row in runs[KEY_COLUMNS + ["status", "run_dir"]].to_dict("records"):
        run = RunDir(row.pop("run_dir"))
        metrics = run.read_metrics() or {}
        for point in [*_log_curves(run), *_metric_curves(metrics)]:
            records.append({**row, **point})
    columns = KEY_COLUMNS + ["status", "source", "variable", "iteration", "value"]
    return pd.DataFrame.from_records(records, columns=columns)


# --- summary.csv ---------------------------------------------------------------------------------

def bootstrap_interval(values: np.ndarray, settings: Settings) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (fixed seed); NaN when it is undefined."""
    if len(values) < 2:
        return math.nan, math.nan  # one seed has no spread to resample
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])  # every resample has the same mean
    result = stats.bootstrap((values,), np.mean, confidence_level=settings.confidence, method="percentile",
                             n_resamples=settings.bootstrap_resamples, rng=np.random.default_rng(settings.seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(list(pvalues), dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(order) - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def rank_test(values: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """Two-sided Mann-Whitney U of one objective's seeds against the baseline's."""
    if len(values) == 0 or len(baseline) == 0:
        return math.nan, math.nan
    result = stats.mannwhitneyu(values, baseline, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def summarize(runs: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One row per experiment x data set x objective x architecture x metric (tidy)."""
    metrics = metric_columns(runs)
    rows = []
    for keys, group in runs.groupby(GROUP_COLUMNS, dropna=False, sort=True):
        cell = dict(zip(GROUP_COLUMNS, keys))
        completed = group[group["status"] == COMPLETED]
        base = runs[(runs["objective"] == settings.baseline) & (runs["status"] == COMPLETED)
                    & (runs["experiment"] == cell["experiment"]) & (runs["dataset"] == cell["dataset"])
                    & (runs["arch"] == cell["arch"])]
        learned = int((group["outcome"] == "learned").sum()) if "outcome" in group else 0
        common = {**cell, "n_runs": len(group), "n_completed": len(completed),
                  "success_rate": len(completed) / len(group), "n_learned": learned,
                  "learned_rate": learned / len(group)}
        for metric in metrics or [None]:
            row = dict(common, metric=metric)
            if metric is not None:
                values = completed[metric].dropna().to_numpy(dtype=float)
                row.update(metric_statistics(values, settings))
                if cell["objective"] != settings.baseline:
                    row["u_statistic"], row["p_value"] = rank_test(values, base[metric].dropna().to_numpy(dtype=float))
            rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    summary["baseline"] = settings.baseline
    for column in ("u_statistic", "p_value"):
        if column not in summary:
            summary[column] = math.nan
    family = ["experiment", "dataset", "arch", "metric"]
    summary["p_holm"] = summary.groupby(family, dropna=False)["p_value"].transform(lambda p: holm(p))
    summary["significant"] = summary["p_holm"] < settings.alpha
    return summary


def metric_statistics(values: np.ndarray, settings: Settings) -> dict[str, float]:
    if len(values) == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "median": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    low, high = bootstrap_interval(values, settings)
    return {"n": len(values), "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
            "median": float(np.median(values)), "ci_low": low, "ci_high": high}


# --- files ---------------------------------------------------------------------------------------

def write_parquet_and_csv(frame: pd.DataFrame, out: Path, name: str, csv_too: bool = True) -> list[Path]:
    """``name``.parquet (and .csv); written whole, then renamed, so readers never see half a table."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    targets = [("parquet", frame.to_parquet)] + ([("csv", lambda p: frame.to_csv(p, index=False))] if csv_too else [])
    for suffix, write in targets:
        final = out / f"{name}.{suffix}"
        tmp = out / f".{name}.{suffix}.tmp"
        write(tmp)
        tmp.replace(final)
        written.append(final)
    return written


OUTCOME_COLOURS = {"learned": "#d4edda", "failed to learn": "#fff3cd", "still improving": "#d1ecf1", "no plateau yet": "#d1ecf1", "diverged": "#f8d7da", "failed": "#f8d7da"}


def runs_html(runs: pd.DataFrame) -> str:
    """The runs table as a web page for the report, coloured by outcome (green learned, amber failed
    to learn, red diverged or failed), with the threshold each outcome was decided by."""
    shown = runs.drop(columns=["run_dir"], errors="ignore")
    styled = shown.style.apply(
        lambda row: [f"background-color: {OUTCOME_COLOURS.get(row.get('outcome'), '')}" for _ in row], axis=1
    ).format(precision=4, na_rep="").hide(axis="index")
    counts = runs["outcome"].value_counts().to_dict() if "outcome" in runs else {}
    head = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return (f"<html><head><meta charset='utf-8'><title>runs</title></head><body>"
            f"<p>{len(runs)} runs: {head}</p>{styled.to_html()}</body></html>")


def fold_experiments(runs: pd.DataFrame, folds: dict[str, str]) -> pd.DataFrame:
    """Runs of extending experiments listed under their parents (wganbench/extends.py); a run key
    that would then appear twice is a configuration error, named."""
    if not folds or runs.empty:
        return runs
    runs = runs.assign(experiment=runs["experiment"].replace(folds))
    keys = ["experiment", "dataset", "objective", "arch", "seed"]
    twice = runs[runs.duplicated(keys, keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise ConfigError(f"--fold: run {'/'.join(str(first[k]) for k in keys)} comes from two experiments "
                          f"({', '.join(sorted(set(twice['run_dir'].map(lambda d: Path(d).parts[-5]))))}); "
                          "an extending experiment must add seeds its parent does not train")
    return runs


def aggregate(run_dirs: Iterable[Path], runs_root: Path, out: Path, settings: Settings,
              benchmarks_root: Path | None = None, level_files: Iterable[Path] = (),
              folds: dict[str, str] | None = None) -> list[Path]:
    """Write runs, summary, levels and curves tables (and runs.html) into ``out``."""
    levels = read_levels(level_files)
    thresholds = thresholds_of(levels)
    runs = fold_experiments(collect_runs(run_dirs, runs_root, benchmarks_root, thresholds), folds or {})
    curves = collect_curves(runs)
    runs = add_trends(runs, curves, thresholds, settings.still_improving)
    written = write_parquet_and_csv(runs, out, "runs")
    written += write_parquet_and_csv(levels_table(levels), out, "levels")
    written += write_parquet_and_csv(summarize(runs, settings), out, "summary")
    written += write_parquet_and_csv(curves, out, "curves", csv_too=False)
    atomic_write_text(out / "runs.html", runs_html(runs))
    written.append(out / "runs.html")
    return written

