"""Figures of an equal-budget study (wganbench/study_tables.py): each objective's expected best
metric against the number of hyperparameter trials, and the spread of its trials."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PANEL = 3.2


def _cells(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(frame[["experiment", "dataset", "arch"]].drop_duplicates().itertuples(index=False, name=None))


def log_if_wide(ax: plt.Axes, values: pd.Series, ratio: float = 10.0) -> None:
    """A log y axis where positive values span more than ``ratio``: one objective stuck near the
    constant generator's level otherwise flattens every other curve against the floor."""
    finite = values[np.isfinite(values)]
    if len(finite) and (finite > 0).all() and finite.max() / finite.min() > ratio:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        # minor ticks labelled at 2 and 5 of each decade only: readable, not crowded
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))


def budget_figure(curves: pd.DataFrame, out: Path) -> Path:
    """One panel per cell: expected best of k trials (line) with its bootstrap band, per objective."""
    cells = _cells(curves)
    fig, axes = plt.subplots(1, max(len(cells), 1), figsize=(PANEL * max(len(cells), 1) + 1.8, PANEL), squeeze=False)
    palette = dict(zip(sorted(curves["objective"].unique()), sns.color_palette("tab10")))
    for ax, (experiment, dataset, arch) in zip(axes[0], cells):
        cell = curves[(curves["experiment"] == experiment) & (curves["dataset"] == dataset) & (curves["arch"] == arch)]
        for objective, group in cell.groupby("objective"):
            finite = group[np.isfinite(group["expected_best"])]
            ax.plot(finite["k"], finite["expected_best"], marker="o", markersize=3, color=palette[objective],
                    label=objective)
            band = group[np.isfinite(group["low"]) & np.isfinite(group["high"])]
            ax.fill_between(band["k"], band["low"], band["high"], color=palette[objective], alpha=0.15, linewidth=0)
        log_if_wide(ax, pd.concat([cell["expected_best"], cell["low"], cell["high"]]))
        ax.set_title(f"{experiment}: {dataset}/{arch}", fontsize=9)
        ax.set_xlabel("hyperparameter trials k")
        ax.set_ylabel(f"expected best {cell['metric'].iloc[0]}")
    return _finish(fig, axes, bool(cells), "no searched experiment in this grid",
                   "Expected best metric over k trials (exact over k-subsets; band: bootstrap over trials)", out)


def trials_figure(trials: pd.DataFrame, out: Path) -> Path:
    """One panel per cell: every trial's final metric per objective; trial 0 (the objective's own
    setting) ringed, diverged trials listed under the axis."""
    cells = _cells(trials)
    fig, axes = plt.subplots(1, max(len(cells), 1), figsize=(PANEL * max(len(cells), 1) + 0.6, PANEL + 0.6),
                             squeeze=False)
    for ax, (experiment, dataset, arch) in zip(axes[0], cells):
        cell = trials[(trials["experiment"] == experiment) & (trials["dataset"] == dataset) & (trials["arch"] == arch)]
        order = sorted(cell["objective"].unique())
        sns.stripplot(data=cell, x="objective", y="value", order=order, ax=ax, size=4, color="tab:blue", jitter=0.15)
        default = cell[cell["trial"] == 0]
        ax.scatter([order.index(o) for o in default["objective"]], default["value"], s=70, facecolors="none",
                   edgecolors="black", linewidths=1.2, label="trial 0 (own setting)", zorder=3)
        log_if_wide(ax, cell["value"])
        lost = cell[cell["value"].isna()].groupby("objective").size()
        ax.set_xticks(range(len(order)),
                      [f"{o}\n({lost[o]} diverged)" if o in lost else o for o in order], rotation=30, ha="right")
        ax.set_title(f"{experiment}: {dataset}/{arch}", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel(cell["metric"].iloc[0])
    if cells:
        axes[0, 0].legend(loc="best", fontsize=7, frameon=False)
    else:
        axes[0, 0].axis("off")
    fig.suptitle("Final metric of every hyperparameter trial", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def rerun_figure(rerun: pd.DataFrame, out: Path) -> Path:
    """One panel per cell: each objective's mean over the rerun seeds with its bootstrap interval,
    under its own setting (trial 0) and at its best trial, joined by a line: where the lines cross,
    the ranking changed with the search."""
    cells = _cells(rerun)
    fig, axes = plt.subplots(1, max(len(cells), 1), figsize=(PANEL * max(len(cells), 1) + 1.8, PANEL + 0.4),
                             squeeze=False)
    phases = [p for p in ("own setting", "best trial") if p in set(rerun.get("phase", pd.Series(dtype=str)))]
    names = sorted(rerun["objective"].unique()) if len(rerun) else []
    palette = dict(zip(names, sns.color_palette("tab10" if len(names) <= 10 else "husl", max(len(names), 1))))
    for ax, (experiment, dataset, arch) in zip(axes[0], cells):
        cell = rerun[(rerun["experiment"] == experiment) & (rerun["dataset"] == dataset) & (rerun["arch"] == arch)]
        for objective, group in cell.groupby("objective"):
            group = group.set_index("phase").reindex(phases)
            x = np.arange(len(phases)) + (sorted(palette).index(objective) - len(palette) / 2) * 0.02
            ax.errorbar(x, group["mean"], yerr=[group["mean"] - group["low"], group["high"] - group["mean"]],
                        marker="o", markersize=4, capsize=2, color=palette[objective], label=objective)
        log_if_wide(ax, pd.concat([cell["mean"], cell["low"], cell["high"]]))
        ax.set_xticks(range(len(phases)), [f"{p}\n(trial 0)" if p == "own setting" else p for p in phases])
        ax.set_xlim(-0.4, len(phases) - 0.6)
        ax.set_title(f"{experiment}: {dataset}/{arch}", fontsize=9)
        ax.set_ylabel(f"mean {cell['metric'].iloc[0]} over {int(cell['seeds'].max())} seeds")
    return _finish(fig, axes, bool(cells), "no rerun in this grid",
                   "Own setting against best trial, the same seeds (lines that cross: the ranking changed)", out)


def _finish(fig: plt.Figure, axes: np.ndarray, any_cell: bool, empty: str, title: str, out: Path) -> Path:
    """What the per-cell figures with one legend at the right share: a note where no cell was drawn,
    the objectives' legend, the title, and room for the legend."""
    if not any_cell:
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, empty, ha="center")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", frameon=False, title="objective")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.6 / fig.get_figwidth(), 1))
    return _save(fig, out)


def _save(fig: plt.Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
