"""Seed statistics and table building of wganbench.aggregate, on hand-made run folders (fast)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from wganbench.evaluate.records import values as metric_values
from wganbench.aggregate import (Settings, aggregate, bootstrap_interval, collect_runs, holm,
                                 rank_test, summarize)


def test_holm_matches_the_step_down_definition() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, math.nan, 0.9]) == pytest.approx([1.0, math.nan, 1.0], nan_ok=True)
    assert np.isnan(holm([math.nan])).all()


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean() -> None:
    values = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    settings = Settings(bootstrap_resamples=500, seed=7)
    low, high = bootstrap_interval(values, settings)
    assert (low, high) == bootstrap_interval(values, settings)
    assert low < values.mean() < high
    assert bootstrap_interval(np.array([2.0, 2.0]), settings) == (2.0, 2.0)
    assert all(math.isnan(x) for x in bootstrap_interval(np.array([1.0]), settings))


def test_rank_test_is_scipys_two_sided_mann_whitney() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    u, p = rank_test(a, b)
    expected = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert (u, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert p == pytest.approx(0.1)  # three seeds a side can never reach p < 0.1
    assert all(math.isnan(x) for x in rank_test(a, np.array([])))


def test_flatten_metrics_takes_values_of_records_only() -> None:
    metrics = {"format": "wganbench-metrics/1", "fid": {"value": 12.5, "available": True, "protocol": {"n": 3}},
               "w1": {"value": None, "available": False, "reason": "diverged"}, "curves": []}
    flat = metric_values(metrics)
    assert flat["fid"] == 12.5 and math.isnan(flat["w1"]) and set(flat) == {"fid", "w1"}


def make_run(root: Path, experiment: str, objective: str, seed: int, status: str, w1: float | None,
             log: list[tuple[int, float]]) -> Path:
    run = root / experiment / "8gaussians" / objective / "mlp" / f"seed{seed}"
    run.mkdir(parents=True)
    config = {"dataset": "8gaussians", "image_size": None, "objective": objective, "arch": "mlp", "critic": "mlp",
              "seed": seed}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "status.json").write_text(json.dumps({"status": status, "iterations": log[-1][0], "reason": None}))
    (run / "provenance.json").write_text(json.dumps({"wall_seconds": 1.5}))
    rows = ["iteration,critic_loss,generator_loss,distance_estimate,critic_grad_norm,critic_steps,wall_seconds"]
    rows += [f"{i},0.1,0.2,{d},1.0,5,{i / 10}" for i, d in log]
    (run / "log.csv").write_text("\n".join(rows) + "\n")
    record = {"value": w1, "available": w1 is not None}
    curve = [{"iteration": i, "w1": {"value": d, "available": True}} for i, d in log]
    (run / "metrics.json").write_text(json.dumps({"w1": record, "curves": curve}))
    return run


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for seed, (base, other) in enumerate([(0.9, 0.1), (1.0, 0.2), (1.1, 0.3)]):
        make_run(root, "toy", "nsgan", seed, "completed", base, [(10, 1.0), (20, 0.5)])
        make_run(root, "toy", "wgan", seed, "completed", other, [(10, 0.8), (20, 0.3)])
    make_run(root, "toy", "gan", 0, "diverged", None, [(10, 5.0)])
    make_run(root, "toy", "gan", 1, "completed", 0.5, [(10, 0.9), (20, 0.6)])
    bench = tmp_path / "benchmarks" / "train" / "toy" / "8gaussians" / "nsgan" / "mlp"
    bench.mkdir(parents=True)
    (bench / "seed0.tsv").write_text("s\th:m:s\tmax_rss\n3.5\t0:00:03\t812.0\n")
    return root


def test_runs_table_one_row_per_run_with_benchmarks(runs_root: Path) -> None:
    runs = collect_runs(sorted(p.parent for p in runs_root.rglob("config.yaml")), runs_root,
                        runs_root.parent / "benchmarks")
    assert len(runs) == 8
    assert list(runs["experiment"].unique()) == ["toy"]
    row = runs[(runs["objective"] == "nsgan") & (runs["seed"] == 0)].iloc[0]
    assert (row["job_seconds"], row["peak_rss_mb"], row["train_seconds"]) == (3.5, 812.0, 1.5)
    assert runs[runs["objective"] == "gan"]["status"].tolist() == ["diverged", "completed"]


def test_summary_counts_diverged_runs_and_tests_against_the_baseline(runs_root: Path) -> None:
    runs = collect_runs(sorted(p.parent for p in runs_root.rglob("config.yaml")), runs_root)
    summary = summarize(runs, Settings(bootstrap_resamples=200)).set_index("objective")
    gan = summary.loc["gan"]
    assert (gan["n_runs"], gan["n_completed"], gan["success_rate"], gan["n"]) == (2, 1, 0.5, 1)
    assert gan["mean"] == 0.5 and math.isnan(gan["std"])
    wgan = summary.loc["wgan"]
    assert wgan["mean"] == pytest.approx(0.2) and wgan["median"] == pytest.approx(0.2)
    assert wgan["p_value"] == pytest.approx(0.1)
    # two objectives tested against nsgan in the same family: Holm doubles the smallest p
    assert wgan["p_holm"] == pytest.approx(min(1.0, 2 * min(wgan["p_value"], gan["p_value"])))
    assert math.isnan(summary.loc["nsgan", "p_value"]) and not summary.loc["nsgan", "significant"]


def test_aggregate_writes_every_table(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    aggregate(sorted(p.parent for p in runs_root.rglob("config.yaml")), runs_root, out, Settings(bootstrap_resamples=200))
    assert pd.read_csv(out / "runs.csv").shape == pd.read_parquet(out / "runs.parquet").shape
    assert pd.read_csv(out / "summary.csv").shape[0] == 3
    curves = pd.read_parquet(out / "curves.parquet")
    assert set(curves["source"]) == {"log", "metrics"}
    assert len(curves[(curves["source"] == "metrics") & (curves["variable"] == "w1")]) == 2 * 7 + 1
    assert "diverged" in (out / "runs.html").read_text()
