"""The real `snakemake` on a grid where one experiment extends another: the extension's seeds train
as jobs of their own, and the tables list them under the parent experiment."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, isolated_env, snakemake

pytestmark = pytest.mark.slow

GRID = {
    "seeds": [0],
    "experiments": {
        "toy": {"datasets": ["8gaussians"], "objectives": ["nsgan", "wgan"], "archs": ["mlp"], "iterations": 30,
                "seeds": [0, 1], "metric": "w1",
                "settings": {"mlp_hidden": 16, "batch_size": 32, "snapshot_every": 10, "sample_count": 64}},
        "toy-more": {"extends": "toy", "objectives": ["nsgan"], "seeds": [2, 3]},
    },
    "theory": [],
    "claims": [],
    "aggregate": {"bootstrap_resamples": 100},
}


def test_an_extension_trains_its_seeds_and_the_tables_fold_them_into_the_parent(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "workflow")
    env = isolated_env(tmp_path / "home", workdir)
    (workdir / "grid.yaml").write_text(yaml.safe_dump(GRID))
    result = snakemake(workdir, "--cores", "2", "--configfile", "grid.yaml", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    results = workdir / "results"
    trained = sorted(p.name for p in (results / "runs" / "toy-more" / "8gaussians" / "nsgan" / "mlp").iterdir())
    assert trained == ["seed2", "seed3"]
    assert not (results / "runs" / "toy-more" / "8gaussians" / "wgan").exists()
    # the extension's cells are the parent's, seed aside
    parent = yaml.safe_load((results / "cells/toy/8gaussians/nsgan/mlp/seed0.yaml").read_text())
    child = yaml.safe_load((results / "cells/toy-more/8gaussians/nsgan/mlp/seed2.yaml").read_text())
    assert {k: v for k, v in child.items() if k != "seed"} == {k: v for k, v in parent.items() if k != "seed"}
    runs = pd.read_csv(results / "tables" / "runs.csv")
    assert set(runs["experiment"]) == {"toy"}
    assert sorted(runs.query("objective == 'nsgan'")["seed"]) == [0, 1, 2, 3]
    assert sorted(runs.query("objective == 'wgan'")["seed"]) == [0, 1]
    curves = pd.read_parquet(results / "tables" / "curves.parquet")
    assert set(curves["experiment"]) == {"toy"} and 3 in set(curves.query("objective == 'nsgan'")["seed"])
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary["experiment"]) == {"toy"}
    assert (results / "figures" / "samples" / "toy.png").exists()
    assert not (results / "figures" / "samples" / "toy-more.png").exists()
