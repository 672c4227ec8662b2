"""Verdict over budget: every sampled claim decided again at each snapshot iteration, as if training
had stopped there.

A verdict that appears only at the last snapshot, or flips back and forth between snapshots, rests
on the budget; one that has held since early in training does not. For each snapshot iteration t the
runs table is rebuilt from the curves table as of t: each run's metrics are its last snapshot at or
before t, its status is ``diverged`` only once it has diverged, its outcome is decided against the
same threshold (and the still-improving rule on its curve up to t), and the curves are cut at t for
the correlation rules. The table (claim x iteration -> verdict) is ``claims_over_budget.csv`` and a
figure; each scorecard row says from which iteration its verdict held.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..outcomes import (DIVERGED, DIVERSITY_METRICS, FAILED, NOT_EVALUATED, OUTCOME_METRICS, PROGRESS_METRICS,
                        Threshold, judged, metric_named)
from ..aggregate import metric_columns
from ..trend import TrendRule, trend, with_trend
from .catalogue import Claim
from .rules import NOT_RUN, Tables
from .verdicts import decide

RUN_KEYS = ["experiment", "dataset", "objective", "arch", "seed"]


def runs_as_of(runs: pd.DataFrame, snapshots: pd.DataFrame, iteration: int, rule: TrendRule) -> pd.DataFrame:
    """The runs table as if every run had stopped at ``iteration``: its metrics are its last snapshot
    at or before it (none yet: not evaluated), never a later or final value; a run that diverged by
    then is diverged even without a snapshot; outcomes and trends are decided again on its curve so far."""
    keys = [k for k in (*RUN_KEYS, "critic") if k in runs and k in snapshots]
    seen = snapshots[snapshots["iteration"] <= iteration]
    # every final metric goes: a metric that has no snapshot value yet (or none at all) is NaN, never
    # the run's final value
    variables = sorted(set(snapshots["variable"].unique()) | set(metric_columns(runs)))
    latest = seen.sort_values("iteration").groupby(keys + ["variable"]).tail(1)
    values = latest.pivot_table(index=keys, columns="variable", values="value", aggfunc="last")
    values = values.reindex(columns=variables)
    base = runs.drop(columns=[c for c in variables if c in runs.columns]).set_index(keys)
    frame = base.join(values, how="left").reset_index()
    stopped = frame["iterations"].astype(float) if "iterations" in frame else pd.Series(math.nan, frame.index)
    diverged = (frame["status"] == "diverged") & (stopped <= iteration)
    frame["status"] = np.where(diverged, "diverged", np.where(frame["status"] == "failed", "failed", "completed"))
    frame["iterations"] = np.minimum(stopped.fillna(iteration), iteration)
    outcomes, needed, trends = [], [], []
    by_run = {key: group for key, group in seen.groupby(keys)}
    for row in frame.to_dict("records"):
        found, estimate, shape_name = _outcome_as_of(row, by_run.get(tuple(row[k] for k in keys), seen.iloc[0:0]), rule)
        outcomes.append(found)
        needed.append(estimate)
        trends.append(shape_name)
    return frame.assign(outcome=outcomes, iterations_needed=needed, trend=trends)


def _outcome_as_of(row: dict, points: pd.DataFrame, rule: TrendRule) -> tuple[str, float, str | None]:
    """(outcome, iterations needed, trend) of one run from its snapshots so far."""
    if row["status"] in ("diverged", "failed"):
        return (DIVERGED if row["status"] == "diverged" else FAILED), math.nan, None
    metric = row.get("outcome_metric")
    if not isinstance(metric, str) or "level_real" not in row:
        return NOT_EVALUATED, math.nan, None
    spec, threshold = metric_named(OUTCOME_METRICS, metric), float(row.get("outcome_threshold", math.nan))
    if spec is None or not math.isfinite(threshold):
        return NOT_EVALUATED, math.nan, None
    diversity_name = row.get("diversity_metric")
    diversity = float(row.get(diversity_name, math.nan)) if isinstance(diversity_name, str) else math.nan
    found, _ = judged(spec, float(row.get(metric, math.nan)), threshold, metric_named(DIVERSITY_METRICS, diversity_name),
                      diversity, float(row.get("diversity_threshold", math.nan)))
    if found == NOT_EVALUATED:
        return found, math.nan, None
    progress = row.get("progress_metric")
    if isinstance(progress, str):  # the trend's own curve (W1 on 2-D data): wganbench.outcomes
        curve = Threshold(metric_named(PROGRESS_METRICS, progress), float(row["progress_real"]),
                          float(row["progress_constant"]))
    else:
        curve = Threshold(spec, float(row["level_real"]), float(row["level_constant"]))
    points = points[points["variable"] == curve.metric.name]
    shape = trend(points["iteration"].to_numpy(), points["value"].to_numpy(), curve, rule)
    result, label, needed = with_trend(found, shape, on_outcome_curve=not isinstance(progress, str))
    return result, needed, label


def verdicts_over_budget(claims: list[Claim], tables: Tables, alpha: float, rule: TrendRule) -> pd.DataFrame:
    """claim x snapshot iteration -> verdict, for the claims that read runs (sampled rules). Each
    snapshot is decided with the grid's own bootstrap resamples: with fewer, a p-value's floor
    (1 / (resamples + 1), times the parts of an all_of claim) can keep the last snapshot short of the
    scorecard's verdict on the same values."""
    sampled = [c for c in claims if any("experiment" in part for part in c.parts)]
    columns = ["claim", "iteration", "verdict", "leaning", "effect"]
    if not sampled or tables.curves.empty or tables.runs.empty:
        return pd.DataFrame(columns=columns)
    snapshots = tables.curves[tables.curves["source"] == "metrics"]
    last = {claim.id: last_snapshot(claim, snapshots) for claim in sampled}
    rows = []
    for iteration in sorted(snapshots["iteration"].unique()):
        runs = runs_as_of(tables.runs, snapshots, int(iteration), rule)
        cut = replace(tables, runs=runs, curves=tables.curves[tables.curves["iteration"] <= iteration])
        for verdict in decide(sampled, cut, alpha):
            if last[verdict.claim.id] is None or iteration > last[verdict.claim.id] or verdict.verdict == NOT_RUN:
                continue  # past the end of this claim's own runs (another experiment trains longer), or none
            rows.append({"claim": verdict.claim.id, "iteration": int(iteration), "verdict": verdict.verdict,
                         "leaning": verdict.leaning, "effect": verdict.parts[0].effect})
    return pd.DataFrame(rows, columns=columns)


def last_snapshot(claim: Claim, snapshots: pd.DataFrame) -> int | None:
    """The last snapshot iteration of the cells a claim reads (its experiments, data sets, architectures)."""
    found = [snapshots.loc[(snapshots["experiment"] == part["experiment"]) & (snapshots["dataset"] == part["dataset"])
                           & (snapshots["arch"] == part["arch"]), "iteration"].max()
             for part in claim.parts if "experiment" in part]
    found = [int(value) for value in found if pd.notna(value)]
    return max(found) if found else None


def held_since(over_budget: pd.DataFrame, claim: str, final: str, column: str = "verdict") -> int | None:
    """The first snapshot iteration from which the claim's ``column`` (its verdict, or the side its
    point estimates lean to) equalled ``final`` at every later snapshot; None when it did not even
    at the last one (or the claim reads no runs)."""
    series = over_budget[over_budget["claim"] == claim].sort_values("iteration")
    if series.empty or series[column].iloc[-1] != final:
        return None
    differs = series[column].to_numpy() != final
    if not differs.any():
        return int(series["iteration"].iloc[0])
    last_other = int(np.flatnonzero(differs).max())
    return int(series["iteration"].iloc[last_other + 1])


def scale_of(claim: Claim, runs: pd.DataFrame) -> str:
    """``16 px digits, 1,000 it (1% of the paper's 100,000)``: the scale the claim was decided at."""
    cells = [part for part in claim.parts if "experiment" in part]
    if not cells or runs.empty:
        return ""
    parts = []
    for key in sorted({(p["experiment"], p["dataset"]) for p in cells}):
        chosen = runs[(runs["experiment"] == key[0]) & (runs["dataset"] == key[1])]
        if chosen.empty:
            continue
        size = chosen["image_size"].dropna() if "image_size" in chosen else pd.Series(dtype=float)
        iterations = int(chosen["iterations"].dropna().max()) if chosen["iterations"].notna().any() else 0
        text = f"{int(size.iloc[0])} px {key[1]}" if len(size) else key[1]
        parts.append(f"{text}, {iterations:,} it")
    if not parts:
        return ""
    budget = claim.paper_budget
    if budget and budget.get("iterations"):
        ran = max(int(runs[runs["experiment"].isin([p["experiment"] for p in cells])]["iterations"].dropna().max()), 0)
        parts.append(f"{ran / budget['iterations']:.1%} of the paper's {budget['iterations']:,} ({budget['source']})")
    elif budget:
        parts.append(f"paper's length {budget['source']}")
    return "; ".join(parts)


VERDICT_CODES = {"reproduced": 0, "contradicted": 1, "inconclusive": 2, "not run here": 3}


def iteration_edges(iterations: np.ndarray) -> np.ndarray:
    """Cell edges on the iteration axis: the grid read at snapshot t holds until the next snapshot, so
    each cell spans [t, next t); the last one gets the width of the one before it."""
    iterations = np.sort(np.asarray(iterations, dtype=float))
    last_width = iterations[-1] - iterations[-2] if len(iterations) > 1 else max(1.0, iterations[-1] * 0.05)
    return np.append(iterations, iterations[-1] + last_width)


def draw_over_budget(frame: pd.DataFrame, out: Path) -> Path:
    """claims x snapshot iterations, each cell coloured by the verdict the grid would give had it
    stopped there: a row that settles early holds up; one that changes at the end is a budget artifact."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from .scorecard import COLOURS, ORDER

    out.parent.mkdir(parents=True, exist_ok=True)
    ran = frame.groupby("claim")["verdict"].transform(lambda v: (v != "not run here").any()) if len(frame) else []
    frame = frame[ran] if len(frame) else frame  # claims this grid never reads are in the scorecard, not here
    if frame.empty:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no sampled claim read a run of this grid", ha="center", va="center")
    else:
        grid = frame.assign(code=frame["verdict"].map(VERDICT_CODES)).pivot_table(
            index="claim", columns="iteration", values="code", aggfunc="first", sort=False)
        grid = grid.reindex(columns=sorted(grid.columns))
        edges = iteration_edges(grid.columns.to_numpy(dtype=float))
        fig, ax = plt.subplots(figsize=(13.0, 0.38 * grid.shape[0] + 1.6))
        # a numeric iteration axis: cells with snapshots every 50 and every 100 iterations keep their true widths
        ax.pcolormesh(edges, np.arange(grid.shape[0] + 1), np.ma.masked_invalid(grid.to_numpy(dtype=float)),
                      cmap=ListedColormap([COLOURS[v] for v in ORDER]), vmin=-0.5, vmax=3.5,
                      edgecolors="white" if grid.shape[1] <= 40 else "face", linewidth=0.3)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(grid.shape[0], 0)
        ax.set_yticks(np.arange(grid.shape[0]) + 0.5, list(grid.index))
        # where the verdict is not (yet) significant, a dot shows the side the effect leans to: what
        # `settle` reads over the last 40% of a claim's snapshots
        leaning = frame["leaning"] if "leaning" in frame else pd.Series("", index=frame.index)
        rows = {c: i for i, c in enumerate(grid.index)}
        middle = dict(zip(grid.columns, (edges[:-1] + edges[1:]) / 2))
        for lean, colour in (("reproduced", "#1b7837"), ("contradicted", "#b2182b")):
            chosen = frame[(frame["verdict"] == "inconclusive") & (leaning == lean)]
            ax.scatter([middle[i] for i in chosen["iteration"]], [rows[c] + 0.5 for c in chosen["claim"]],
                       s=6, color=colour, marker="o", linewidths=0)
        ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.set_xlabel("generator iteration at which the grid is read")
        ax.set_ylabel("")
        handles = [Patch(facecolor=COLOURS[v], edgecolor="grey", label=v) for v in ORDER]
        handles += [plt.Line2D([], [], color=c, marker="o", linestyle="", markersize=4, label=f"effect leans {v}")
                    for v, c in (("reproduced", "#1b7837"), ("contradicted", "#b2182b"))]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title("Verdict over budget: each sampled claim decided at every snapshot")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def settle(verdicts: list, over_budget: pd.DataFrame, runs: pd.DataFrame, window: float) -> None:
    """Give each verdict the iteration from which it held and its scale. A decided empirical verdict
    is settled when the claim's point estimates lean to its side (``Verdict.leaning``) at every
    snapshot over the last ``window`` share of its own snapshots (the still-improving rule's
    window); otherwise it is not settled at this budget: inconclusive, with the iteration it
    appeared at. Significance is judged once, at the end, on every seed: asking it of every
    snapshot would make a verdict harder to settle the more often a run is measured (one seed of
    seven dipping at one snapshot), while a late change of side is what a longer run could undo."""
    from .rules import CONTRADICTED, INCONCLUSIVE, NOT_RUN, REPRODUCED

    for verdict in verdicts:
        if verdict.verdict == NOT_RUN or not verdict.claim.empirical:
            continue
        verdict.scale = scale_of(verdict.claim, runs)
        decided = verdict.verdict in (REPRODUCED, CONTRADICTED)
        verdict.held_since = held_since(over_budget, verdict.claim.id, verdict.verdict,
                                        "leaning" if decided else "verdict")
        if not decided:
            continue
        series = over_budget[over_budget["claim"] == verdict.claim.id]
        if series.empty:  # no metric snapshots: nothing shows the verdict would hold at another budget
            verdict.reason = (f"not settled: {verdict.verdict} over the final evaluation, but the runs have no metric "
                              "snapshots to show it held before the end (set snapshot_every)")
            verdict.verdict = INCONCLUSIVE
            continue
        last = int(series["iteration"].max())
        if verdict.held_since is None or verdict.held_since > last * (1 - window):
            since = (f"its effect is on that side only from iteration {verdict.held_since:,} of {last:,}"
                     if verdict.held_since else
                     f"at the last snapshot ({last:,}) its effect leaned {series.sort_values('iteration')['leaning'].iloc[-1]}")
            verdict.reason = (f"not settled at this budget: {verdict.verdict} over the final evaluation, but {since} "
                              f"(a settled verdict's effect stays on its side over the last {window:.0%} of the "
                              "snapshots)")
            verdict.verdict = INCONCLUSIVE
