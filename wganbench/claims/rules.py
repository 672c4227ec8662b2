"""Decision rules: each turns the tables into the evidence for one claim, with every outcome fixed in
advance by the catalogue's thresholds.

A rule never reads run folders: sampled rules read ``runs`` (one row per run, with its outcome)
and ``curves``; exact rules read a theory table. A sampled rule returns the effect, its confidence
interval, and two one-sided p-values, one for the claim and one against it, which
``wganbench.claims.verdicts`` corrects for multiplicity across the run's claims before deciding. An
exact rule (a closed form, a bound on a computed table) decides at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats

from ..registry import Registry

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = "reproduced", "contradicted", "inconclusive", "not run here"
POWER = 0.8  # the power at which "seeds needed" is computed
MAX_SEEDS = 1000


@dataclass
class Tables:
    """What rules read: the aggregate tables and the results folder (for theory tables)."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    results: Path
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    def cell_runs(self, spec: dict[str, Any], objective: str | list[str]) -> pd.DataFrame:
        """The runs of one objective's cell; of several (a method's settings), the best one's."""
        if isinstance(objective, list):
            objective = self.best_setting(spec, objective)
        runs = self.runs
        if runs.empty:
            return runs
        chosen = ((runs["experiment"] == spec["experiment"]) & (runs["dataset"] == spec["dataset"])
                  & (runs["arch"] == spec["arch"]) & (runs["objective"] == objective))
        return runs[chosen]

    def best_setting(self, spec: dict[str, Any], objectives: list[str]) -> str:
        """The objective with the best mean ``metric`` over its finite values (the first when none
        has any): the paper's "optimal setting per method". The choice is made on the same seeds it
        is then scored on, as the papers did, so the best setting's mean is optimistic."""
        sign = 1.0 if spec.get("lower_is_better", True) else -1.0
        scored = []
        for index, name in enumerate(objectives):
            values, _ = metric_values(self.cell_runs(spec, name), spec["metric"])
            if len(values):
                scored.append((sign * float(values.mean()), index, name))
        return min(scored)[2] if scored else objectives[0]

    def theory_table(self, relative: str) -> pd.DataFrame | None:
        path = self.results / relative
        return pd.read_csv(path) if path.exists() else None


@dataclass
class Evidence:
    """A rule's finding. ``decision`` is what the interval (or the exact check) says; sampled
    findings also carry p-values, and their verdict waits for the multiplicity correction."""

    decision: str
    effect: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    threshold: str = ""
    n: str = ""
    reason: str = ""
    p_for: float | None = None
    p_against: float | None = None
    sampled: bool = False
    needs: Callable[[float], int | None] = field(default=lambda alpha: None, repr=False)

    def seeds_needed(self, alpha: float) -> int | None:
        return self.needs(alpha)


RULES: Registry[Callable[[dict[str, Any], Tables], Evidence]] = Registry("decision rule")


# --- helpers ---------------------------------------------------------------------------------------

def cell_name(spec: dict[str, Any], objective: str | list[str] | None = None) -> str:
    objective = objective or spec.get("objective", "")
    if isinstance(objective, list):
        objective = "best of " + "|".join(objective)
    parts = [spec["experiment"], spec["dataset"], objective, spec["arch"]]
    return "/".join(p for p in parts if p)


def not_run(what: str) -> Evidence:
    return Evidence(NOT_RUN, reason=f"{what} not in this run")


def metric_values(runs: pd.DataFrame, metric: str) -> tuple[np.ndarray, int]:
    """Finite final values of completed runs, and how many runs gave none (diverged, failed, NaN)."""
    if metric not in runs:
        return np.array([]), len(runs)
    completed = runs[runs["status"] == "completed"][metric].astype(float)
    values = completed[np.isfinite(completed)].to_numpy()
    return values, len(runs) - len(values)


def bootstrap_ci(sample: Callable[[np.random.Generator], float], point: float, tables: Tables) -> tuple[float, float]:
    """Percentile interval of a statistic resampled ``tables.resamples`` times (fixed seed)."""
    rng = np.random.default_rng(tables.seed)
    draws = np.array([sample(rng) for _ in range(tables.resamples)])
    tail = (1 - tables.confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(min(low, point)), float(max(high, point))


def min_rank_p(n: int) -> float:
    """The smallest one-sided Mann-Whitney p-value with n seeds a side: 1 / C(2n, n)."""
    return 1.0 / math.comb(2 * n, n)


def side_of(low: float, high: float, bound: float, at_least: bool) -> str:
    """Where an interval lies against a claimed bound: beyond it (the claimed side), short of it, or across."""
    if at_least:
        return REPRODUCED if low > bound else CONTRADICTED if high < bound else INCONCLUSIVE
    return REPRODUCED if high < bound else CONTRADICTED if low > bound else INCONCLUSIVE


def straddle_reason(low: float, high: float, bound: str) -> str:
    return f"the CI [{low:.3g}, {high:.3g}] straddles the threshold {bound}"


# --- sampled rules -------------------------------------------------------------------------------

@RULES.register("ordering")
def ordering(spec: dict[str, Any], tables: Tables) -> Evidence:
    """`better` beats `worse`: effect = improvement of better over worse (difference of means, signed
    so that positive favours the claim), percentile-bootstrap CI, one-sided Mann-Whitney U tests."""
    better_runs, worse_runs = tables.cell_runs(spec, spec["better"]), tables.cell_runs(spec, spec["worse"])
    if better_runs.empty and worse_runs.empty:
        return not_run(f"cells {cell_name(spec, spec['better'])} and {cell_name(spec, spec['worse'])}")
    a, lost_a = metric_values(better_runs, spec["metric"])
    b, lost_b = metric_values(worse_runs, spec["metric"])
    sign = -1.0 if spec["lower_is_better"] else 1.0
    margin, equivalence = float(spec.get("margin", 0.0)), spec.get("equivalence")
    bound = f"> {margin:g}" + (f" (contradicted inside ±{equivalence:g})" if equivalence else "")
    n = f"{len(a)} vs {len(b)}"
    if len(a) < 2 or len(b) < 2:
        lost = f"; {lost_a} + {lost_b} runs diverged, failed or unevaluated" if lost_a + lost_b else ""
        return Evidence(INCONCLUSIVE, threshold=bound, n=n, sampled=True,
                        reason=f"cells missing: fewer than 2 finite {spec['metric']} values a side{lost}")
    ga, gb = sign * a, sign * b  # larger is better on both sides now
    effect = float(ga.mean() - gb.mean())
    low, high = bootstrap_ci(lambda rng: rng.choice(ga, len(ga)).mean() - rng.choice(gb, len(gb)).mean(), effect, tables)
    decision = side_of(low, high, margin, at_least=True)
    p_for = float(stats.mannwhitneyu(ga - margin, gb, alternative="greater").pvalue)
    p_against = float(stats.mannwhitneyu(ga - margin, gb, alternative="less").pvalue)
    if equivalence:
        inside = -equivalence < low and high < equivalence
        p_tost = max(float(stats.mannwhitneyu(ga + equivalence, gb, alternative="greater").pvalue),
                     float(stats.mannwhitneyu(ga - equivalence, gb, alternative="less").pvalue))
        if inside:
            decision, p_against = CONTRADICTED, p_tost
    spread = float(np.sqrt((ga.var(ddof=1) + gb.var(ddof=1)) / 2)) or 1e-12
    gap = abs(effect - margin)

    def needs(alpha: float) -> int | None:
        if gap == 0:
            return None
        z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)
        n_needed = math.ceil(2 * (z * spread / gap) ** 2 * math.pi / 3)  # U's efficiency vs the t-test: 3/pi
        while min_rank_p(n_needed) >= alpha and n_needed < MAX_SEEDS:
            n_needed += 1
        return max(n_needed, 2)

    reason = "" if decision != INCONCLUSIVE else straddle_reason(low, high, f"{margin:g}")
    return Evidence(decision, effect, low, high, bound, n, reason, p_for, p_against, True, needs)


def _share_p(k: int, n: int, level: float, greater: bool) -> float:
    return float(stats.binomtest(k, n, level, alternative="greater" if greater else "less").pvalue)


@RULES.register("learns")
def learns(spec: dict[str, Any], tables: Tables) -> Evidence:
    """Share of seeds that learned (diverged and failed runs count as not learned) against a level:
    Clopper-Pearson CI and one-sided exact binomial tests. ``success`` counts a seed by a metric
    bound instead of its outcome (e.g. all 8 modes covered)."""
    runs = tables.cell_runs(spec, spec["objective"])
    if runs.empty:
        return not_run(f"cell {cell_name(spec)}")
    at_least = "at_least" in spec
    level = float(spec["at_least"] if at_least else spec["at_most"])
    success = spec.get("success")
    if success:
        bound_value = success.get("at_least", success.get("at_most"))
        word = f"{success['metric']} {'≥' if 'at_least' in success else '≤'} {bound_value:g}"
        judged = runs[runs["status"].isin(["completed", "diverged", "failed"])]
        values = judged[success["metric"]].astype(float) if success["metric"] in judged else pd.Series(np.nan, judged.index)
        hit = values >= bound_value if "at_least" in success else values <= bound_value
        k = int((hit & (judged["status"] == "completed")).sum())
    else:
        word = "learned"
        judged = runs[runs["outcome"].isin(["learned", "failed to learn", "diverged", "failed"])]
        k = int((judged["outcome"] == "learned").sum())
    bound = f"{'≥' if at_least else '≤'} {level:g} of seeds {word}"
    n = len(judged)
    if n == 0:
        return Evidence(INCONCLUSIVE, threshold=bound, n="0", sampled=True,
                        reason=f"cells missing: no run of {cell_name(spec)} has an outcome (no reference levels?)")
    share = k / n
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=tables.confidence, method="exact")
    low, high = float(ci.low), float(ci.high)
    decision = side_of(low, high, level, at_least)
    p_for, p_against = _share_p(k, n, level, at_least), _share_p(k, n, level, not at_least)

    def needs(alpha: float) -> int | None:
        if share == level:
            return None
        claimed = (share > level) == at_least
        for m in range(2, MAX_SEEDS):
            if _share_p(round(share * m), m, level, greater=(share > level)) < alpha:
                return m
        return None if not claimed else MAX_SEEDS

    reason = "" if decision != INCONCLUSIVE else straddle_reason(low, high, f"{level:g}")
    return Evidence(decision, share, low, high, bound, f"{k}/{n} {word}", reason, p_for, p_against, True, needs)


def run_correlations(spec: dict[str, Any], tables: Tables) -> np.ndarray:
    """Per run: Spearman's rho between the logged ``variable`` and the ``metric`` curve at the
    iterations both have."""
    curves = tables.curves
    if curves.empty:
        return np.array([])
    cell = curves[(curves["experiment"] == spec["experiment"]) & (curves["dataset"] == spec["dataset"])
                  & (curves["arch"] == spec["arch"]) & (curves["objective"] == spec["objective"])
                  & (curves["status"] == "completed")]
    rhos = []
    for _, run in cell.groupby("seed"):
        logged = run[(run["source"] == "log") & (run["variable"] == spec["variable"])].set_index("iteration")["value"]
        metric = run[(run["source"] == "metrics") & (run["variable"] == spec["metric"])].set_index("iteration")["value"]
        joined = pd.concat([logged.rename("x"), metric.rename("y")], axis=1, join="inner").dropna()
        if len(joined) >= 5 and joined["x"].nunique() > 1 and joined["y"].nunique() > 1:
            rhos.append(float(stats.spearmanr(joined["x"], joined["y"]).statistic))
    return np.array(rhos)


@RULES.register("correlation")
def correlation(spec: dict[str, Any], tables: Tables) -> Evidence:
    """Mean over seeds of each run's Spearman rho (variable vs metric over training) against a level:
    bootstrap CI over seeds, one-sided Wilcoxon signed-rank tests of rho - level."""
    if tables.cell_runs(spec, spec["objective"]).empty:
        return not_run(f"cell {cell_name(spec)}")
    at_least = "at_least" in spec
    level = float(spec["at_least"] if at_least else spec["at_most"])
    bound = f"mean ρ {'≥' if at_least else '≤'} {level:g}"
    rhos = run_correlations(spec, tables)
    if len(rhos) < 2:
        return Evidence(INCONCLUSIVE, threshold=bound, n=str(len(rhos)), sampled=True,
                        reason=f"cells missing: fewer than 2 runs with ≥ 5 points of {spec['variable']} and {spec['metric']}")
    effect = float(rhos.mean())
    low, high = bootstrap_ci(lambda rng: rng.choice(rhos, len(rhos)).mean(), effect, tables)
    decision = side_of(low, high, level, at_least)
    diff = rhos - level
    greater = float(stats.wilcoxon(diff, alternative="greater").pvalue) if np.any(diff) else 1.0
    less = float(stats.wilcoxon(diff, alternative="less").pvalue) if np.any(diff) else 1.0
    p_for, p_against = (greater, less) if at_least else (less, greater)
    spread, gap = float(rhos.std(ddof=1)) or 1e-12, abs(effect - level)

    def needs(alpha: float) -> int | None:
        if gap == 0:
            return None
        z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)
        return max(math.ceil((z * spread / gap) ** 2 * math.pi / 3), math.ceil(math.log2(1 / alpha)), 2)

    reason = "" if decision != INCONCLUSIVE else straddle_reason(low, high, f"{level:g}")
    return Evidence(decision, effect, low, high, bound, f"{len(rhos)} runs", reason, p_for, p_against, True, needs)


@RULES.register("published")
def published(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The measured mean's bootstrap CI inside published ± band: reproduced; wholly outside: contradicted."""
    runs = tables.cell_runs(spec, spec["objective"])
    if runs.empty:
        return not_run(f"cell {cell_name(spec)}")
    values, lost = metric_values(runs, spec["metric"])
    value, band = float(spec["value"]), float(spec["band"])
    bound = f"{value:g} ± {band:g} (published)"
    if len(values) < 2:
        return Evidence(INCONCLUSIVE, threshold=bound, n=str(len(values)), sampled=True,
                        reason=f"cells missing: fewer than 2 finite {spec['metric']} values ({lost} lost)")
    mean = float(values.mean())
    low, high = bootstrap_ci(lambda rng: rng.choice(values, len(values)).mean(), mean, tables)
    lo_band, hi_band = value - band, value + band
    if lo_band < low and high < hi_band:
        decision = REPRODUCED
    elif high < lo_band or low > hi_band:
        decision = CONTRADICTED
    else:
        decision = INCONCLUSIVE
    # one-sided tests of the mean against the band's edges (t on the seeds): inside = both edges
    sem = float(values.std(ddof=1) / math.sqrt(len(values))) or 1e-12
    df = len(values) - 1
    p_inside = max(float(stats.t.sf((mean - lo_band) / sem, df)), float(stats.t.cdf((mean - hi_band) / sem, df)))
    p_outside = min(float(stats.t.cdf((mean - lo_band) / sem, df)), float(stats.t.sf((mean - hi_band) / sem, df)))
    reason = "" if decision != INCONCLUSIVE else f"the CI [{low:.3g}, {high:.3g}] overlaps an edge of {bound}"
    return Evidence(decision, mean, low, high, bound, f"{len(values)} seeds", reason, p_inside, p_outside, True)


# --- exact rules on theory tables -----------------------------------------------------------------

def select(frame: pd.DataFrame, where: dict[str, Any] | None) -> pd.DataFrame:
    """Rows matching every filter: a value, or {min, max, abs_min, in}."""
    mask = pd.Series(True, index=frame.index)
    for column, condition in (where or {}).items():
        if column not in frame:
            raise KeyError(column)
        values = frame[column]
        if isinstance(condition, dict):
            if "min" in condition:
                mask &= values >= condition["min"]
            if "max" in condition:
                mask &= values <= condition["max"]
            if "abs_min" in condition:
                mask &= values.abs() >= condition["abs_min"]
            if "in" in condition:
                mask &= values.isin(condition["in"])
        else:
            mask &= values == condition
    return frame[mask]


def _theory(spec: dict[str, Any], tables: Tables) -> tuple[pd.DataFrame | None, Evidence | None]:
    frame = tables.theory_table(spec["table"])
    if frame is None:
        return None, not_run(f"theory table {spec['table']}")
    return frame, None


def _rows(frame: pd.DataFrame, where: dict | None, columns: list[str], table: str) -> pd.DataFrame | Evidence:
    try:
        rows = select(frame, where)
    except KeyError as exc:
        return Evidence(INCONCLUSIVE, reason=f"{table} has no column {exc.args[0]!r}")
    missing = [c for c in columns if c not in frame]
    if missing:
        return Evidence(INCONCLUSIVE, reason=f"{table} has no column {missing[0]!r}")
    if rows.empty:
        return Evidence(INCONCLUSIVE, reason=f"cells missing: no row of {table} matches {where}")
    return rows


@RULES.register("closed_form")
def closed_form(spec: dict[str, Any], tables: Tables) -> Evidence:
    """Every selected row within tolerance of the expected value: effect = the largest error."""
    frame, missing = _theory(spec, tables)
    if missing:
        return missing
    expected = spec["expected"]
    by_column = isinstance(expected, str) and expected != "inf"
    rows = _rows(frame, spec.get("where"), [spec["column"]] + ([expected] if by_column else []), spec["table"])
    if isinstance(rows, Evidence):
        return rows
    got = rows[spec["column"]].astype(float).to_numpy()
    want = rows[expected].astype(float).to_numpy() if by_column else np.full(len(got), float(expected))
    with np.errstate(invalid="ignore"):
        error = np.where(np.isinf(want) & (got == want), 0.0, np.abs(got - want))
    scale = np.abs(want) if spec.get("relative") else np.ones_like(want)
    worst = float(np.nanmax(error / np.where(scale == 0, 1, scale))) if len(error) else math.nan
    tolerance = float(spec["tolerance"])
    decision = REPRODUCED if worst <= tolerance else CONTRADICTED
    unit = " (relative)" if spec.get("relative") else ""
    return Evidence(decision, worst, threshold=f"largest error ≤ {tolerance:g}{unit}", n=f"{len(got)} rows",
                    reason="" if decision == REPRODUCED else f"largest error {worst:.3g} > {tolerance:g}{unit}")


@RULES.register("table_bound")
def table_bound(spec: dict[str, Any], tables: Tables) -> Evidence:
    """A reduced column (min, max, mean or range = max - min of the selected rows) at least / at most a bound."""
    frame, missing = _theory(spec, tables)
    if missing:
        return missing
    rows = _rows(frame, spec.get("where"), [spec["column"]], spec["table"])
    if isinstance(rows, Evidence):
        return rows
    values = rows[spec["column"]].astype(float)
    values = values.abs() if spec.get("absolute") else values
    value = float(values.max() - values.min()) if spec["reduce"] == "range" else float(getattr(values, spec["reduce"])())
    at_least = "at_least" in spec
    bound = float(spec["at_least"] if at_least else spec["at_most"])
    holds = value >= bound if at_least else value <= bound
    label = f"{spec['reduce']} {'≥' if at_least else '≤'} {bound:g}"
    return Evidence(REPRODUCED if holds else CONTRADICTED, value, threshold=label, n=f"{len(values)} rows",
                    reason="" if holds else f"{spec['reduce']} is {value:.4g}")


@RULES.register("ratio")
def ratio(spec: dict[str, Any], tables: Tables) -> Evidence:
    """log10(mean |numerator| / mean |denominator|) against a bound (abs_ for either direction)."""
    frame, missing = _theory(spec, tables)
    if missing:
        return missing
    means = []
    for side in ("numerator", "denominator"):
        rows = _rows(frame, spec[side].get("where"), [spec[side]["column"]], spec["table"])
        if isinstance(rows, Evidence):
            return rows
        means.append(float(rows[spec[side]["column"]].astype(float).abs().mean()))
    with np.errstate(divide="ignore"):
        value = float(np.log10(means[0]) - np.log10(means[1]))
    key = next(k for k in ("log10_at_least", "log10_at_most", "abs_log10_at_least", "abs_log10_at_most") if k in spec)
    measured = abs(value) if key.startswith("abs") else value
    holds = measured >= spec[key] if key.endswith("at_least") else measured <= spec[key]
    label = f"{'|log10 ratio|' if key.startswith('abs') else 'log10 ratio'} {'≥' if key.endswith('at_least') else '≤'} {spec[key]:g}"
    return Evidence(REPRODUCED if holds else CONTRADICTED, value, threshold=label,
                    n="", reason="" if holds else f"log10 ratio is {value:.3g}")
