"""The real `snakemake` on a searched grid: each objective trains as trials <objective>--t<k> (trial 0
its own setting), and rule `study` writes the budget curves, the comparisons and their figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, isolated_env, snakemake
from wganbench.inventory import builtin_objectives

pytestmark = pytest.mark.slow

GRID = {
    "seeds": [0],
    "experiments": {"s": {"datasets": ["8gaussians"], "objectives": ["nsgan", "wgan-gp"], "archs": ["mlp"],
                          "iterations": 30, "metric": "w1",
                          "settings": {"mlp_hidden": 16, "batch_size": 32, "snapshot_every": 10, "sample_count": 64},
                          "search": {"space": "narrow", "trials": 4, "seed": 3, "rerun_seeds": [5, 6],
                                     "rerun_defaults": True}}},
    "theory": [],
    "claims": [],
    "aggregate": {"bootstrap_resamples": 100},
}


def test_a_searched_grid_trains_its_trials_and_draws_budget_curves(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "workflow")
    env = isolated_env(tmp_path / "home", workdir)
    (workdir / "study.yaml").write_text(yaml.safe_dump(GRID))
    result = snakemake(workdir, "--cores", "2", "--configfile", "study.yaml", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    results = workdir / "results"

    settings = pd.read_csv(results / "tables" / "study_settings.csv")
    assert list(settings["name"]) == [f"{o}--t{k:02d}" for o in ("nsgan", "wgan-gp") for k in range(4)]
    trial0 = settings.set_index("name").loc["wgan-gp--t00"]
    assert trial0["trial"] == 0 and pd.isna(trial0["lr"])  # its own setting: nothing drawn
    resolved = yaml.safe_load((results / "cells/s/8gaussians/wgan-gp--t00/mlp/seed0.yaml").read_text())
    assert resolved["optimizer"] == builtin_objectives()["wgan-gp"]["optimizer"]
    drawn = yaml.safe_load((results / "cells/s/8gaussians/wgan-gp--t02/mlp/seed0.yaml").read_text())
    row = settings.set_index("name").loc["wgan-gp--t02"]
    assert drawn["optimizer"]["lr"] == pytest.approx(row["lr"]) and drawn["n_critic"] == 1
    assert drawn["lipschitz"]["gradient_penalty"] == pytest.approx(row["penalty"])

    trials = pd.read_csv(results / "tables" / "study_trials.csv")
    assert len(trials) == 8 and set(trials["metric"]) == {"w1"}
    runs = pd.read_csv(results / "tables" / "runs.csv").set_index("objective")
    assert trials.set_index(["objective", "trial"]).loc[("nsgan", 1), "value"] == pytest.approx(
        runs.loc["nsgan--t01", "w1"])
    curves = pd.read_csv(results / "tables" / "study_budget_curves.csv")
    for objective, curve in curves.groupby("objective"):
        values = trials[trials["objective"] == objective]["value"]
        assert list(curve["k"]) == [1, 2, 3, 4]
        assert curve["expected_best"].iloc[-1] == pytest.approx(values.min())
        assert curve["expected_best"].iloc[0] == pytest.approx(values.mean())
    comparisons = pd.read_csv(results / "tables" / "study_comparisons.csv")
    assert set(comparisons["objective"]) == {"wgan-gp"} and set(comparisons["baseline"]) == {"nsgan"}
    assert comparisons["p_better"].between(0, 1).all()
    landing = (results / "report" / "workflow.rst").read_text()  # the report opens on the budget curves too
    assert "Budget curves" in landing and "k = 4" in landing and "wgan-gp" in landing
    for figure in ("study-budget.png", "study-trials.png", "study-rerun.png"):
        assert (results / "figures" / figure).stat().st_size > 5000

    # the last phase: each objective's best trial again with seeds 5 and 6, decided by the checkpoint
    best = pd.read_csv(results / "tables" / "study_best_trials_s.csv").set_index("objective")
    for objective in ("nsgan", "wgan-gp"):
        values = trials[trials["objective"] == objective].set_index("trial")["value"]
        assert best.loc[objective, "trial"] == values.idxmin()
        trained = sorted(p.name for p in (results / "runs" / "s-best" / "8gaussians").iterdir())
        assert trained == sorted(best["best_trial"])
        assert sorted(p.name for p in (results / "runs/s-best/8gaussians" / best.loc[objective, "best_trial"] / "mlp").iterdir()) \
            == ["seed5", "seed6"]
    rerun = pd.read_csv(results / "tables" / "study_rerun.csv")
    assert set(rerun["objective"]) == {"nsgan", "wgan-gp"} and (rerun["seeds"] == 2).all()
    # and each objective's own setting (trial 0) with the same seeds: the ranking under the papers' settings
    assert sorted(p.name for p in (results / "runs" / "s-defaults" / "8gaussians").iterdir()) == ["nsgan--t00",
                                                                                                   "wgan-gp--t00"]
    own = rerun[rerun["phase"] == "own setting"].set_index("objective")
    assert (own["trial"] == 0).all() and sorted(own["rank"]) == [1, 2]
    w1 = runs.reset_index().query("experiment == 's-defaults' and objective == 'nsgan--t00'")["w1"]
    assert own.loc["nsgan", "mean"] == pytest.approx(w1.mean())


def test_a_bad_search_space_stops_snakemake_with_one_line_naming_the_key(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "workflow")
    env = isolated_env(tmp_path / "home", workdir)
    bad = {**GRID, "experiments": {"s": {**GRID["experiments"]["s"],
                                         "search": {"space": {"lr": {"low": 1e-3, "high": 1e-4, "log": True}}}}}}
    (workdir / "study.yaml").write_text(yaml.safe_dump(bad))
    result = snakemake(workdir, "-n", "--configfile", "study.yaml", env=env)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "experiments.s.search.space.lr" in line]
    assert lines == ["config key 'experiments.s.search.space.lr': needs numbers low < high (got low=0.001, high=0.0001)"]
    assert not (workdir / "results" / "runs").exists()


def test_every_searched_experiments_trials_are_planned_before_any_checkpoint_runs(tmp_path: Path) -> None:
    """Two searched experiments with reruns: the dry run plans both experiments' trials at once (the
    aggregate names every checkpoint), not the second only after the first one's trials finished."""
    workdir = copy_workflow(tmp_path / "workflow")
    env = isolated_env(tmp_path / "home", workdir)
    two = {**GRID, "experiments": {"s": GRID["experiments"]["s"],
                                   "t": {**GRID["experiments"]["s"], "datasets": ["25gaussians"]}}}
    (workdir / "study.yaml").write_text(yaml.safe_dump(two))
    result = snakemake(workdir, "-n", "--configfile", "study.yaml", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    stats = dict(line.split()[:2] for line in result.stdout.splitlines()
                 if line.split()[:1] in (["train"], ["study_best_trials"]) and len(line.split()) == 2)
    assert stats == {"train": "16", "study_best_trials": "2"}  # 2 experiments x 2 objectives x 4 trials
