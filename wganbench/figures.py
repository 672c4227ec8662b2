"""Tables -> seaborn figures for the report, one registered function per figure kind.

Every figure reads only ``results/tables`` (and, for sample grids, the run folders that runs.csv
names), so a figure can be redrawn without touching training or evaluation. Each experiment has
one metric on its y axes (``--metric EXP=NAME``; default the first metric evaluate reported).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .aggregate import metric_columns  # noqa: E402
from .registry import ConfigError, Registry  # noqa: E402
from .rundir import COMPLETED, FAILED, RunDir  # noqa: E402

Figure = matplotlib.figure.Figure
FIGURES: Registry[Callable[["Tables", "Options"], Figure]] = Registry("figure")
PANEL = 2.6  # inches per facet
SAMPLE_PANEL = 3.4  # sample grids: 6 x 6 images of 16 px must show a digit
WRAP = 4  # panels per row when an experiment has one architecture
OUTCOME_TEXT = {"learned": "tab:green", "failed to learn": "tab:orange", "diverged": "tab:red", "failed": "tab:red"}
# statuses whose samples say nothing about the objective (the run never got going): the panel shows
# the reason instead; a diverged run's panel shows its last samples
NO_SAMPLES = {FAILED}
# the metric an experiment's figures plot when the config names none: the first of these evaluate
# reported for it (image quality, then 2-D distance, then coverage), else the first at all
PREFERRED_METRICS = ["fid", "w1", "modes_covered", "kid", "isc", "high_quality_share"]


@dataclass
class Options:
    """What a figure is drawn for: an experiment (sample grids) and the metric of each experiment."""

    experiment: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)


class Tables:
    """The aggregate tables, loaded on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @cached_property
    def runs(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "runs.parquet")

    @cached_property
    def summary(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "summary.parquet")

    @cached_property
    def curves(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "curves.parquet")

    def metric(self, experiment: str, options: Options) -> str | None:
        """The experiment's plotted metric: configured, else the first one with a finite value."""
        chosen = options.metrics.get(experiment)
        rows = self.runs[self.runs["experiment"] == experiment]
        if chosen:
            if chosen not in rows:
                raise ConfigError(f"config key 'experiments.{experiment}.metric': no metric {chosen!r} in "
                                  f"runs.csv; choose one of {', '.join(metric_columns(self.runs))}")
            return chosen
        available = [m for m in metric_columns(self.runs) if rows[m].notna().any()]
        ranked = [m for m in PREFERRED_METRICS if m in available] + available
        return ranked[0] if ranked else None


MIN_WIDTH = 6.0  # inches: a one-column figure still fits its title and an outside legend


def panels(rows: list[str], cols: list[str], title: str, size: float = PANEL) -> tuple[Figure, np.ndarray]:
    width = max(MIN_WIDTH, size * len(cols) + 1.5)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(width, size * len(rows) + 0.6),
                             squeeze=False, constrained_layout=True)
    fig.suptitle(textwrap.fill(title, width=int(width * 9)))  # ~9 characters an inch at the title's size
    return fig, axes


def experiment_rows(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(experiment, data set) pairs in table order: one figure row each."""
    return list(dict.fromkeys(zip(runs["experiment"], runs["dataset"])))


def row_archs(runs: pd.DataFrame, experiment: str, dataset: str) -> list[str]:
    """The architectures of one figure row, in table order."""
    rows = runs[(runs["experiment"] == experiment) & (runs["dataset"] == dataset)]
    return list(dict.fromkeys(rows["arch"]))


def arch_grid(runs: pd.DataFrame, title: str) -> tuple[Figure, np.ndarray, list[tuple[str, str, list[str]]]]:
    """One row per (experiment, data set), one panel per architecture it ran; spare panels hidden."""
    rows = [(e, d, row_archs(runs, e, d)) for e, d in experiment_rows(runs)]
    width = max(len(archs) for _, _, archs in rows)
    fig, axes = panels([f"{e}/{d}" for e, d, _ in rows], [str(i) for i in range(width)], title)
    for i, (_, _, archs) in enumerate(rows):
        for j in range(len(archs), width):
            axes[i, j].set_visible(False)
    return fig, axes, rows


def empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def legend_outside(fig: Figure, axes: np.ndarray, title: str = "objective") -> None:
    """One legend for the whole figure, with every label any panel used (panels differ)."""
    entries: dict[str, object] = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        entries.update({label: handle for handle, label in zip(handles, labels) if label not in entries})
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside right center", fontsize="small", title=title)


# --- sample grids --------------------------------------------------------------------------------

def _image_grid(samples: np.ndarray, count: int = 36, gap: int = 1) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one image of the first ``count`` samples in a square grid, each
    framed by ``gap`` pixels of mid grey so that neighbouring samples stay apart."""
    images = np.clip((samples[:count] + 1) / 2, 0, 1)
    n, c, h, w = images.shape
    side = int(math.ceil(math.sqrt(n)))
    canvas = np.full((side * (h + gap) + gap, side * (w + gap) + gap, c), 0.5)
    for i, image in enumerate(images):
        r, q = divmod(i, side)
        top, left = gap + r * (h + gap), gap + q * (w + gap)
        canvas[top:top + h, left:left + w] = image.transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas


def _real_points(dataset: str, count: int = 1000) -> np.ndarray:
    from .data import load_dataset

    return load_dataset(dataset).reference("test", count=count, seed=0).samples.numpy()


def _draw_samples(ax: plt.Axes, run: dict, real: dict[str, np.ndarray]) -> None:
    samples, _ = RunDir(run["run_dir"]).load_samples()
    if samples.size == 0:
        empty(ax, "no samples")
        return
    if samples.ndim == 2:  # 2-D points over the real data
        if run["dataset"] not in real:
            real[run["dataset"]] = _real_points(run["dataset"])
        points = real[run["dataset"]]
        ax.scatter(points[:, 0], points[:, 1], s=2, c="0.75", label="real")
        finite = samples[np.isfinite(samples).all(axis=1)]
        ax.scatter(finite[:, 0], finite[:, 1], s=2, c="tab:orange", label="generated")
        lim = np.abs(points).max() * 1.3
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        grid = _image_grid(np.nan_to_num(samples))
        ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)
        ax.axis("off")
        ax.set_frame_on(True)


@FIGURES.register("samples")
def sample_grid(tables: Tables, options: Options) -> Figure:
    """WGAN-paper figures 5-7: rows objectives, columns architectures (x data sets), first seed."""
    if not options.experiment:
        raise ConfigError("figure 'samples' needs --experiment")
    runs = tables.runs[tables.runs["experiment"] == options.experiment]
    if runs.empty:
        raise ConfigError(f"config key 'experiments': no runs of experiment {options.experiment!r} in runs.csv")
    first = runs[runs["seed"] == runs.groupby(["dataset", "objective", "arch"])["seed"].transform("min")]
    objectives = list(dict.fromkeys(first["objective"]))
    columns = list(dict.fromkeys(zip(first["dataset"], first["arch"])))
    # one column (a single architecture): wrap the objectives into rows of up to WRAP panels
    slots = ([(o, c) for o in objectives for c in columns] if len(columns) > 1 else [(o, columns[0]) for o in objectives])
    width = len(columns) if len(columns) > 1 else min(WRAP, len(objectives))
    height = math.ceil(len(slots) / width)
    fig, axes = panels([str(i) for i in range(height)], [str(j) for j in range(width)],
                       f"{options.experiment}: samples (seed {int(first['seed'].min())}; title: its outcome)", size=SAMPLE_PANEL)
    real: dict[str, np.ndarray] = {}
    cells = {(r["objective"], r["dataset"], r["arch"]): r for r in first.to_dict("records")}
    for ax in axes.flat[len(slots):]:
        ax.set_visible(False)
    for ax, (objective, (dataset, arch)) in zip(axes.flat, slots):
        run = cells.get((objective, dataset, arch))
        if run is None:
            empty(ax, "not in grid")
            continue
        if run["status"] in NO_SAMPLES:
            empty(ax, textwrap.fill(str(run["reason"]), 30)[:160])
        else:
            _draw_samples(ax, run, real)
        outcome = run.get("outcome") or run["status"]
        why = run.get("outcome_reason") if outcome in ("learned", "failed to learn") else None
        ax.set_title(f"{objective} | {dataset}/{arch}\n{outcome.upper()}" + (f" ({why})" if why else ""),
                     fontsize="small", color=OUTCOME_TEXT.get(outcome, "black"))
    return fig


# --- curves and final metrics --------------------------------------------------------------------

def _curve_rows(tables: Tables, experiment: str, dataset: str, metric: str | None) -> tuple[pd.DataFrame, str]:
    """The metric's curve when evaluate recorded one, else the critic's distance estimate."""
    curves = tables.curves[(tables.curves["experiment"] == experiment) & (tables.curves["dataset"] == dataset)]
    if metric is not None:
        chosen = curves[(curves["source"] == "metrics") & (curves["variable"] == metric)]
        if not chosen.empty:
            return chosen, metric
    return curves[(curves["source"] == "log") & (curves["variable"] == "distance_estimate")], "distance_estimate"


MAX_OVERLAY = 6  # more objectives than this on one panel are unreadable: one panel each
CURVE_WRAP = 5  # panels per figure row of the curves figure


def curve_panels(runs: pd.DataFrame) -> list[tuple[str, str, str, list[str]]]:
    """(experiment, data set, arch, objectives) of each curves panel: one per architecture, or, where
    one architecture carries more than MAX_OVERLAY objectives, one per objective (small multiples)."""
    found = []
    for experiment, dataset in experiment_rows(runs):
        archs = row_archs(runs, experiment, dataset)
        for arch in archs:
            cell = runs[(runs["experiment"] == experiment) & (runs["dataset"] == dataset) & (runs["arch"] == arch)]
            objectives = list(dict.fromkeys(cell["objective"]))
            if len(objectives) > MAX_OVERLAY:
                found += [(experiment, dataset, arch, [objective]) for objective in objectives]
            else:
                found.append((experiment, dataset, arch, objectives))
    return found


@FIGURES.register("curves")
def metric_curves(tables: Tables, options: Options) -> Figure:
    """Metric vs generator iteration, mean and a band of one standard deviation over seeds; an
    experiment with many objectives gets one panel per objective on shared axes, with the baseline
    (the first objective of the experiment) in grey on each for reference."""
    found = curve_panels(tables.runs)
    rows: list[list[tuple[str, str, str, list[str]]]] = []
    for panel in found:  # wrap each experiment's panels, starting a new figure row per experiment
        if not rows or len(rows[-1]) == CURVE_WRAP or rows[-1][0][:2] != panel[:2]:
            rows.append([])
        rows[-1].append(panel)
    width = max(len(row) for row in rows)
    fig, axes = panels([str(i) for i in range(len(rows))], [str(i) for i in range(width)],
                       "metric vs generator iteration (band: ±1 sd over seeds)")
    palette, markers = objective_styles(tables.runs)
    for i, row in enumerate(rows):
        for j in range(len(row), width):
            axes[i, j].set_visible(False)
        for j, (experiment, dataset, arch, objectives) in enumerate(row):
            ax = axes[i, j]
            data, label = _curve_rows(tables, experiment, dataset, tables.metric(experiment, options))
            subset = data[data["arch"] == arch]
            shown = subset[subset["objective"].isin(objectives)]
            if shown.empty:
                empty(ax, "no runs")
                continue
            if len(objectives) == 1:
                reference = list(dict.fromkeys(tables.runs[tables.runs["experiment"] == experiment]["objective"]))[0]
                if reference != objectives[0]:
                    sns.lineplot(subset[subset["objective"] == reference], x="iteration", y="value", errorbar=None,
                                 ax=ax, color="0.75", linewidth=1, label=f"{reference} (reference)")
            sns.lineplot(shown, x="iteration", y="value", hue="objective", style="objective", errorbar="sd",
                         ax=ax, palette=palette, markers=markers, dashes=False, markersize=4, linewidth=1)
            title = f"{experiment}/{dataset} | {arch}" + (f" | {objectives[0]}" if len(objectives) == 1 else "")
            ax.set_title(title, fontsize="small")
            ax.set_ylabel(label)
        if len(row) > 1 and len(row[0][3]) == 1:  # small multiples of one experiment share the y-axis range
            limits = [axes[i, j].get_ylim() for j in range(len(row)) if axes[i, j].has_data()]
            if limits:
                for j in range(len(row)):
                    axes[i, j].set_ylim(min(l[0] for l in limits), max(l[1] for l in limits))
    legend_outside(fig, axes)
    return fig


def final_estimates(tables: Tables) -> pd.DataFrame:
    """Each run's last logged critic distance estimate."""
    log = tables.curves[(tables.curves["source"] == "log") & (tables.curves["variable"] == "distance_estimate")]
    keys = ["experiment", "dataset", "objective", "arch", "seed"]
    last = log.sort_values("iteration").groupby(keys, as_index=False).last()
    return last[keys + ["value"]].rename(columns={"value": "distance_estimate"})


@FIGURES.register("estimate-vs-quality")
def estimate_vs_quality(tables: Tables, options: Options) -> Figure:
    """The WGAN paper's claim: the critic's estimate tracks sample quality (one point per run)."""
    joined = tables.runs.merge(final_estimates(tables), on=["experiment", "dataset", "objective", "arch", "seed"])
    rows = experiment_rows(tables.runs)
    fig, axes = panels(["critic estimate"], [f"{e}/{d}" for e, d in rows], "final critic distance estimate vs sample quality")
    palette, markers = objective_styles(tables.runs)
    for j, (experiment, dataset) in enumerate(rows):
        ax = axes[0, j]
        metric = tables.metric(experiment, options)
        data = joined[(joined["experiment"] == experiment) & (joined["dataset"] == dataset) & (joined["status"] == COMPLETED)]
        if metric is None or data.empty:
            empty(ax, "no metric")
            continue
        sns.scatterplot(data, x="distance_estimate", y=metric, hue="objective", style="objective", palette=palette,
                        markers=markers, ax=ax, s=30)
        ax.set_title(f"{experiment}/{dataset}", fontsize="small")
    legend_outside(fig, axes)
    return fig


@FIGURES.register("estimate-tracking")
def estimate_tracking(tables: Tables, options: Options) -> Figure:
    """WGAN §4.2: does the critic's estimate track sample quality over training? Per run, Spearman's
    rho between the logged distance estimate and the experiment's metric at the snapshots, partial on
    the iteration (the statistic of the `correlation` claims: two curves that merely both trend score
    0) beside the raw rho; one point per seed, a box per objective."""
    from .claims.rules import Tables as ClaimTables, run_correlations

    source = ClaimTables(tables.runs, tables.curves, tables.folder)
    fig, axes, rows = arch_grid(tables.runs, "Spearman ρ of the critic's estimate vs sample quality over training, "
                                             "partial on iteration (dots; grey x: raw ρ; one per seed)")
    palette = objective_palette(tables.runs)
    for i, (experiment, dataset, archs) in enumerate(rows):
        metric = tables.metric(experiment, options)
        for j, arch in enumerate(archs):
            ax = axes[i, j]
            points = []
            for objective in dict.fromkeys(tables.runs[(tables.runs["experiment"] == experiment)]["objective"]):
                spec = {"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                        "variable": "distance_estimate", "metric": metric}
                for found in run_correlations(spec, source):
                    points.append({"objective": objective, "rho": found.partial, "kind": "partial on iteration"})
                    points.append({"objective": objective, "rho": found.raw, "kind": "raw"})
            if not points:
                empty(ax, "no metric curves with variation\nbeyond the trend")
                continue
            data = pd.DataFrame(points)
            partial = data[data["kind"] == "partial on iteration"]
            sns.boxplot(partial, y="objective", x="rho", ax=ax, color="0.9", fliersize=0, linewidth=0.8)
            sns.stripplot(partial, y="objective", x="rho", hue="objective", palette=palette, ax=ax, size=4, legend=False)
            sns.stripplot(data[data["kind"] == "raw"], y="objective", x="rho", ax=ax, size=4, marker="x",
                          color="0.45", linewidth=1, legend=False)  # an unfilled marker needs a line width
            ax.axvline(0.3, color="0.4", lw=0.8, ls="--")
            ax.axvline(-0.3, color="0.4", lw=0.8, ls="--")
            ax.set(xlim=(-1.05, 1.05), xlabel=f"ρ(distance estimate, {metric})")
            ax.set_title(f"{experiment}/{dataset} | {arch}", fontsize="small")
            ax.tick_params(axis="y", labelsize="small")
    return fig


@FIGURES.register("distributions")
def final_distributions(tables: Tables, options: Options) -> Figure:
    """Final metric over seeds per objective x architecture: box for the spread, points for seeds."""
    fig, axes, rows = arch_grid(tables.runs, "final metric per objective (one point per seed; diverged and failed runs omitted)")
    for i, (experiment, dataset, archs) in enumerate(rows):
        metric = tables.metric(experiment, options)
        for j, arch in enumerate(archs):
            ax = axes[i, j]
            data = tables.runs[(tables.runs["experiment"] == experiment) & (tables.runs["dataset"] == dataset)
                               & (tables.runs["arch"] == arch) & (tables.runs["status"] == COMPLETED)]
            if metric is None or data[metric].notna().sum() == 0:
                empty(ax, "no completed runs")
                continue
            order = list(dict.fromkeys(tables.runs["objective"]))
            order = [o for o in order if o in set(data["objective"])]
            sns.boxplot(data, y="objective", x=metric, order=order, ax=ax, color="0.85", fliersize=0, linewidth=0.8)
            sns.stripplot(data, y="objective", x=metric, order=order, ax=ax, color="tab:blue", size=3.5)
            ax.set_title(f"{experiment}/{dataset} | {arch}", fontsize="small")
            ax.tick_params(axis="y", labelsize="small")
    return fig


@FIGURES.register("success")
def success_heatmap(tables: Tables, options: Options) -> Figure:
    """Share of seeds that learned (outcome against the data set's derived threshold), objective x
    (experiment, data set, architecture); each cell also says k/n and how many diverged."""
    runs = tables.runs.assign(cell=tables.runs["experiment"] + "/" + tables.runs["dataset"] + "\n" + tables.runs["arch"])
    if "outcome" not in runs:
        runs = runs.assign(outcome=np.where(runs["status"] == COMPLETED, "not evaluated", runs["status"]))
    runs = runs.assign(learned=runs["outcome"] == "learned", diverged=runs["outcome"].isin(["diverged", "failed"]))
    share = runs.pivot_table(index="objective", columns="cell", values="learned", aggfunc="mean", sort=False)
    counts = runs.groupby(["objective", "cell"], sort=False).agg(k=("learned", "sum"), n=("learned", "size"),
                                                                  d=("diverged", "sum"))
    labels = share.copy().astype(object)
    for (objective, cell), row in counts.iterrows():
        labels.loc[objective, cell] = f"{int(row.k)}/{int(row.n)}" + (f"\n{int(row.d)} div." if row.d else "")
    width = 2.5 + 1.1 * max(1, share.shape[1])
    fig, ax = plt.subplots(figsize=(width, 1.4 + 0.42 * max(1, share.shape[0])), constrained_layout=True)
    sns.heatmap(share.astype(float), annot=labels.fillna("").to_numpy(), fmt="", vmin=0, vmax=1, cmap="RdYlGn",
                cbar_kws={"label": "share of seeds that learned"}, ax=ax, annot_kws={"fontsize": 8})
    thresholds = runs.dropna(subset=["outcome_threshold"]).drop_duplicates(["dataset", "outcome_metric"]) \
        if "outcome_threshold" in runs else runs.iloc[:0]
    note = "; ".join(f"{r.dataset}: {r.outcome_metric} {'>' if r.outcome_metric == 'modes_covered' else '<'} "
                     f"{r.outcome_threshold:.3g}" for r in thresholds.itertuples())
    ax.set_title("share of seeds that learned" + (f"\n(learned: {note})" if note else ""), fontsize="small")
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelsize="small")
    return fig


# Objectives by family, each family in its own hues (blues: the standard GAN's relatives; reds:
# Wasserstein-type; purples: f-GANs) and each member with its own marker, so 14+ curves stay apart.
FAMILY_COLOURS: dict[str, list[str]] = {
    "standard": ["#08306b", "#2171b5", "#6baed6", "#17becf", "#41ab5d"],
    "wasserstein": ["#a50f15", "#ef3b2c", "#fd8d3c", "#8c510a", "#fdae6b"],
    "f-gan": ["#3f007d", "#807dba", "#e377c2", "#bcbd22", "#dd3497"],
    "other": ["#252525", "#636363", "#969696", "#bdbdbd"],
}
FAMILY_MEMBERS: dict[str, list[str]] = {
    "standard": ["gan", "nsgan", "lsgan", "hinge", "sngan"],
    "wasserstein": ["wgan", "wgan-gp", "wgan-gp-toy", "cramer"],
    "f-gan": ["f-kl", "f-rkl", "f-pearson", "f-hellinger", "f-js"],
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def objective_family(name: str) -> str:
    for family, members in FAMILY_MEMBERS.items():
        if name in members:
            return family
    return "f-gan" if name.startswith("f-") else "wasserstein" if name.startswith(("wgan", "cramer")) else "other"


def objective_styles(runs: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """(colour, marker) per objective, the same in every figure: by family, then by order in it."""
    colours, markers = {}, {}
    names = list(dict.fromkeys(runs["objective"]))
    for family, palette in FAMILY_COLOURS.items():
        members = [n for n in names if objective_family(n) == family]
        known = FAMILY_MEMBERS.get(family, [])
        members.sort(key=lambda n: (known.index(n) if n in known else len(known), n))
        for i, name in enumerate(members):
            colours[name] = palette[i % len(palette)]
            markers[name] = MARKERS[i % len(MARKERS)]
    return colours, markers


def objective_palette(runs: pd.DataFrame) -> dict[str, str]:
    """One colour per objective, the same in every figure."""
    return objective_styles(runs)[0]


def draw(kind: str, tables_dir: Path, out: Path, options: Options) -> Path:
    """Draw figure ``kind`` from the tables in ``tables_dir`` into ``out`` (PNG, or by suffix)."""
    figure = FIGURES.get(kind, key="figure")
    sns.set_theme(style="whitegrid", context="paper")
    fig = figure(Tables(tables_dir), options)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
