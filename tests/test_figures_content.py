"""The report's figures by content: each figure function, drawn from the tables the real `snakemake`
wrote for the tiny grid, plots the metric, labels and per-run values that the run folders hold.

Expected values come from the run folders themselves (log.csv, metrics.json, status.json) or from
runs.csv by plain pandas, never from the figure code's own helpers.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from wganbench.figures import FIGURES, Options, Tables, objective_styles

from conftest import WorkflowRun

pytestmark = pytest.mark.slow

PLOTTED = {"toy": "w1", "architectures": "fid", "custom": "w1"}  # the preferred metric each experiment has


@pytest.fixture
def tables(local_run: WorkflowRun, monkeypatch: pytest.MonkeyPatch) -> Tables:
    monkeypatch.chdir(local_run.workdir)  # run_dir in runs.csv is relative to the workflow folder
    return Tables(local_run.results / "tables")


def draw(kind: str, tables: Tables, **options: object):
    return FIGURES.get(kind)(tables, Options(**options))


def panel(fig, title: str):
    """The one visible axes whose title starts with ``title``."""
    found = [ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title)]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def metric_curve(local_run: WorkflowRun, experiment: str, objective: str, metric: str) -> pd.Series:
    """Mean over seeds of ``metric`` at each snapshot, read from every run's metrics.json."""
    points = []
    for path in (local_run.results / "runs" / experiment).glob(f"*/{objective}/*/seed*/metrics.json"):
        for entry in json.loads(path.read_text())["curves"]:
            points.append((entry["iteration"], entry[metric]["value"]))
    frame = pd.DataFrame(points, columns=["iteration", "value"])
    return frame.groupby("iteration")["value"].mean()


def test_curves_plot_each_experiments_metric_with_seed_means(local_run: WorkflowRun, tables: Tables) -> None:
    fig = draw("curves", tables)
    palette, _ = objective_styles(tables.runs)
    toy = panel(fig, "toy/8gaussians | mlp")
    assert toy.get_ylabel() == "w1" and toy.get_xlabel() == "iteration"
    for objective in ("nsgan", "wgan-gp"):
        expected = metric_curve(local_run, "toy", objective, "w1")
        assert len(expected) == 2  # snapshot_every 2 over 4 iterations: snapshots at 2 and 4
        lines = [line for line in toy.get_lines() if to_hex(line.get_color()) == to_hex(palette[objective])
                 and len(line.get_xdata()) > 1]
        assert len(lines) == 1, objective
        assert list(lines[0].get_xdata()) == list(expected.index)
        assert np.allclose(lines[0].get_ydata(), expected.to_numpy())
    # the digits cells have no snapshots: their panels fall back to the critic's estimate, said on the axis
    assert panel(fig, "architectures/digits | dcgan").get_ylabel() == "distance_estimate"
    legend = {text.get_text() for legend in fig.legends for text in legend.get_texts()}
    assert legend == set(tables.runs["objective"])


def test_success_map_shows_the_share_of_seeds_that_learned(tables: Tables, local_run: WorkflowRun) -> None:
    fig = draw("success", tables)
    ax = fig.axes[0]
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    runs["cell"] = runs["experiment"] + "/" + runs["dataset"] + "\n" + runs["arch"]
    expected = (runs.assign(learned=runs["outcome"] == "learned")
                .pivot_table(index="objective", columns="cell", values="learned", aggfunc="mean", sort=False))
    rows = [label.get_text() for label in ax.get_yticklabels()]
    columns = [label.get_text() for label in ax.get_xticklabels()]
    assert set(rows) == set(runs["objective"]) and set(columns) == set(runs["cell"])
    shown = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(len(rows), len(columns))
    assert np.allclose(shown, expected.loc[rows, columns].to_numpy(dtype=float), equal_nan=True)
    texts = [text.get_text() for text in ax.texts]
    unstable = runs[runs["experiment"] == "unstable"]
    assert f"0/{len(unstable)}\n{len(unstable)} div." in texts  # the diverged cell says so
    assert "learned:" in ax.get_title() and "8gaussians: modes_covered >" in ax.get_title()


def test_distributions_plot_the_final_metric_of_every_completed_run(tables: Tables, local_run: WorkflowRun) -> None:
    fig = draw("distributions", tables)
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    for experiment, metric in PLOTTED.items():
        cells = runs[(runs["experiment"] == experiment) & (runs["status"] == "completed")]
        for (dataset, arch), group in cells.groupby(["dataset", "arch"]):
            ax = panel(fig, f"{experiment}/{dataset} | {arch}")
            assert ax.get_xlabel() == metric
            plotted = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())])
            assert np.allclose(np.sort(plotted), np.sort(group[metric].to_numpy()))


def test_estimate_vs_quality_pairs_each_runs_last_estimate_with_its_metric(tables: Tables,
                                                                            local_run: WorkflowRun) -> None:
    fig = draw("estimate-vs-quality", tables)
    ax = panel(fig, "toy/8gaussians")
    assert ax.get_xlabel() == "distance_estimate" and ax.get_ylabel() == "w1"
    expected = []
    for seed_dir in sorted((local_run.results / "runs/toy").glob("*/*/*/seed*")):
        last_estimate = pd.read_csv(seed_dir / "log.csv")["distance_estimate"].iloc[-1]
        w1 = json.loads((seed_dir / "metrics.json").read_text())["w1"]["value"]
        expected.append((last_estimate, w1))
    shown = np.concatenate([c.get_offsets() for c in ax.collections])
    assert np.allclose(sorted(map(tuple, shown)), sorted(expected))


def test_sample_grid_panels_show_each_cells_first_seed_and_outcome(tables: Tables, local_run: WorkflowRun) -> None:
    fig = draw("samples", tables, experiment="architectures")
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    cells = runs[(runs["experiment"] == "architectures") & (runs["seed"] == 0)]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == len(cells)
    for cell in cells.itertuples():
        title = f"{cell.objective} | {cell.dataset}/{cell.arch}\n{cell.outcome.upper()}"
        (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(title)]
        (image,) = ax.get_images()
        with np.load(local_run.workdir / cell.run_dir / "samples.npz") as data:
            first = data["samples"][0, 0]
        side = first.shape[-1]
        shown = np.asarray(image.get_array())[1:1 + side, 1:1 + side]  # the first sample, inside its frame
        assert np.allclose(shown, np.clip((first + 1) / 2, 0, 1))
    toy = draw("samples", tables, experiment="unstable")
    (ax,) = [ax for ax in toy.axes if ax.get_visible()]
    assert "DIVERGED" in ax.get_title()
