"""Figures of an equal-budget study (wganbench/study_tables.py): each objective's expected best
metric against the number of hyperparameter trials, and the spread of its trials."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PANEL = 3.2


def _cells(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(frame[["experiment", "dataset", "arch"]].drop_duplicates().itertuples(index=False, name=None))


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
        ax.set_title(f"{experiment}: {dataset}/{arch}", fontsize=9)
        ax.set_xlabel("hyperparameter trials k")
        ax.set_ylabel(f"expected best {cell['metric'].iloc[0]}")
    if not cells:
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "no searched experiment in this grid", ha="center")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center right", frameon=False, title="objective")
    fig.suptitle("Expected best metric over k trials (exact over k-subsets; band: bootstrap over trials)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.6 / fig.get_figwidth(), 1))
    return _save(fig, out)


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


def _save(fig: plt.Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
