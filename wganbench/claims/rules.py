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

from ..outcomes import DIVERGED, FAILED, LEARNED, NOT_LEARNED, UNFINISHED
from ..registry import Registry

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = "reproduced", "contradicted", "inconclusive", "not run here"
POWER = 0.8  # the power at which "seeds needed" is computed
MAX_SEEDS = 1000  # seeds-needed estimates are capped here: "more than 1,000" says the effect is too small
MIN_SEEDS = 3  # completed (or diverged) seeds a side below which a sampled rule does not decide


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
    # the side of the threshold the point estimate is on, significant or not (a decision, or
    # inconclusive where unknown runs or a missing control leave it open): how a verdict's
    # stability over the budget is judged (wganbench.claims.budget.settle)
    leaning: str = ""

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


def log_comb(n: float, k: float) -> float:
    """log C(n, k) through the log-gamma function: finite and instant for any n (no big integers)."""
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def min_rank_p(n: int, m: int | None = None) -> float:
    """The smallest one-sided Mann-Whitney p-value with n and m seeds: 1 / C(n + m, n) (m = n by default)."""
    m = n if m is None else m
    return math.exp(-log_comb(n + m, n))


def capped_seeds(estimate: float, floor: int = 2) -> int:
    """A seeds-needed estimate as an integer in [floor, MAX_SEEDS]; an infinite or huge estimate is the cap."""
    if not math.isfinite(estimate) or estimate >= MAX_SEEDS:
        return MAX_SEEDS
    return min(MAX_SEEDS, max(floor, math.ceil(estimate)))


def smallest_n(p_floor: Callable[[int], float], alpha: float) -> int:
    """The fewest seeds whose best possible p-value is below alpha (capped at MAX_SEEDS)."""
    n = 2
    while p_floor(n) >= alpha * (1 - 1e-9) and n < MAX_SEEDS:  # 1/C(6, 3) is 0.05 up to rounding: not below it
        n += 1
    return n


def normal_seeds(spread: float, gap: float, alpha: float, efficiency: float = 3 / math.pi) -> float:
    """Seeds a side for a one-sided rank test at level alpha and power POWER to see ``gap`` against
    noise ``spread`` (normal approximation, divided by the rank test's efficiency against the t-test)."""
    if not (math.isfinite(spread) and math.isfinite(gap)) or gap == 0:
        return math.inf
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)
    return 2 * (z * max(spread, 1e-12) / gap) ** 2 / efficiency


def rank_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """One-sided Mann-Whitney U p-value. With ties (diverged runs ranked worst together, mode counts)
    scipy falls back to the normal approximation, which is anti-conservative for a few seeds (3 vs 3
    complete separation: 0.04 instead of 1/20); there the exact permutation distribution is used."""
    small = min(len(a), len(b)) <= 20
    tied = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
    if small and tied:
        method = stats.PermutationMethod(n_resamples=20000, rng=np.random.default_rng(0))
        return float(stats.mannwhitneyu(a, b, alternative=alternative, method=method).pvalue)
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


def side_of(low: float, high: float, bound: float, at_least: bool) -> str:
    """Where an interval lies against a claimed bound: beyond it (the claimed side), short of it, or across."""
    if at_least:
        return REPRODUCED if low > bound else CONTRADICTED if high < bound else INCONCLUSIVE
    return REPRODUCED if high < bound else CONTRADICTED if low > bound else INCONCLUSIVE


def straddle_reason(low: float, high: float, bound: str) -> str:
    return f"the CI [{low:.3g}, {high:.3g}] straddles the threshold {bound}"


# --- sampled rules -------------------------------------------------------------------------------

def failure_note(runs: pd.DataFrame) -> str:
    """``2 runs failed: out of memory``: runs that ended in an error (not a finding about the method),
    or have no metric yet; they leave n and are named in the row."""
    if runs.empty:
        return ""
    notes = []
    failed = runs[runs["status"] == "failed"]
    if len(failed):
        reasons = sorted({str(r) for r in failed.get("reason", pd.Series(dtype=str)).dropna()})
        notes.append(f"{len(failed)} run{'s' * (len(failed) > 1)} failed" + (f": {'; '.join(reasons)}" if reasons else ""))
    other = runs[~runs["status"].isin(["completed", "diverged", "failed"])]
    if len(other):
        notes.append(f"{len(other)} run{'s' * (len(other) > 1)} {', '.join(sorted(set(other['status'].astype(str))))}")
    return "; ".join(notes)


@dataclass
class Side:
    """One side of an ordering: the finite values of its completed runs (signed so that larger is
    better), how many diverged (ranked worst), and what left n (errors, missing metrics)."""

    values: np.ndarray
    diverged: int
    unusable: int
    note: str
    improving: int

    @property
    def n(self) -> int:
        return len(self.values) + self.diverged


def ordering_side(runs: pd.DataFrame, metric: str, sign: float) -> Side:
    completed = runs[runs["status"] == "completed"]
    values = completed[metric].astype(float).to_numpy() if metric in completed else np.full(len(completed), np.nan)
    finite = np.isfinite(values)
    note = failure_note(runs)
    unevaluated = int((~finite).sum())
    if unevaluated:
        note = "; ".join(filter(None, [note, f"{unevaluated} completed run{'s' * (unevaluated > 1)} without a finite {metric}"]))
    improving = int(runs.get("outcome", pd.Series(dtype=str)).isin(UNFINISHED).sum())
    return Side(sign * values[finite], int((runs["status"] == "diverged").sum()),
                int((runs["status"] != "completed").sum() - (runs["status"] == "diverged").sum()) + unevaluated,
                note, improving)


def with_diverged(side: Side, worst: float) -> np.ndarray:
    """The side's values with each diverged run just below the worst finite value of both sides:
    ranked last in the rank test, and counted (conservatively) as the worst run in the mean."""
    below = worst - 1e-9 * max(1.0, abs(worst))
    return np.concatenate([side.values, np.full(side.diverged, below)])


@RULES.register("ordering")
def ordering(spec: dict[str, Any], tables: Tables) -> Evidence:
    """`better` beats `worse`: effect = improvement of better over worse (difference of means, signed
    so that positive favours the claim), percentile-bootstrap CI, one-sided Mann-Whitney U tests.
    Diverged runs rank worst (never dropped); runs that failed (an error) leave n and are named."""
    better_runs, worse_runs = tables.cell_runs(spec, spec["better"]), tables.cell_runs(spec, spec["worse"])
    if better_runs.empty and worse_runs.empty:
        return not_run(f"cells {cell_name(spec, spec['better'])} and {cell_name(spec, spec['worse'])}")
    sign = -1.0 if spec["lower_is_better"] else 1.0
    better, worse = ordering_side(better_runs, spec["metric"], sign), ordering_side(worse_runs, spec["metric"], sign)
    margin, equivalence = float(spec.get("margin", 0.0)), spec.get("equivalence")
    bound = f"> {margin:g}" + (f" (contradicted inside ±{equivalence:g})" if equivalence else "")
    notes = "; ".join(f"{name}: {side.note}" for name, side in (("better", better), ("worse", worse)) if side.note)
    diverged = better.diverged + worse.diverged
    n = f"{better.n} vs {worse.n}" + (f" ({diverged} diverged, ranked worst)" if diverged else "")
    n += f"; {notes}" if notes else ""
    minimum = int(spec.get("min_seeds", MIN_SEEDS))
    finite = np.concatenate([better.values, worse.values])
    if better.n < minimum or worse.n < minimum or len(finite) == 0:
        why = "no finite value on either side" if len(finite) == 0 else f"fewer than {minimum} judged seeds a side"
        return Evidence(INCONCLUSIVE, threshold=bound, n=n, sampled=True,
                        reason=f"cells missing: {why} ({spec['metric']})" + (f"; {notes}" if notes else ""))
    worst = float(finite.min())
    ga, gb = with_diverged(better, worst), with_diverged(worse, worst)  # larger is better on both sides now
    effect = float(ga.mean() - gb.mean())
    low, high = bootstrap_ci(lambda rng: rng.choice(ga, len(ga)).mean() - rng.choice(gb, len(gb)).mean(), effect, tables)
    decision = side_of(low, high, margin, at_least=True)
    p_for = rank_p(ga - margin, gb, "greater")
    p_against = rank_p(ga - margin, gb, "less")
    if equivalence:
        inside = -equivalence < low and high < equivalence
        p_tost = max(rank_p(ga + equivalence, gb, "greater"), rank_p(ga - equivalence, gb, "less"))
        if inside:
            decision, p_against = CONTRADICTED, p_tost
    spread = float(np.sqrt((ga.var(ddof=1) + gb.var(ddof=1)) / 2)) if min(len(ga), len(gb)) > 1 else math.nan
    gap = abs(effect - margin)

    def needs(alpha: float) -> int | None:
        if gap == 0:
            return None
        return max(capped_seeds(normal_seeds(spread, gap, alpha)), smallest_n(min_rank_p, alpha))

    reason = "" if decision != INCONCLUSIVE else straddle_reason(low, high, f"{margin:g}")
    # a verdict that the side losing it could still overturn with more iterations is not a finding
    loser = worse if decision == REPRODUCED else better if decision == CONTRADICTED else None
    if loser is not None and loser.improving:
        which = "worse" if loser is worse else "better"
        reason = (f"the {which} side has {loser.improving} run{'s' * (loser.improving > 1)} still improving (or with "
                  f"no plateau yet) at the end of the budget: the {decision} verdict may be a budget artifact{iterations_note(tables, spec, spec[which])}")
        decision = INCONCLUSIVE
    leaning = CONTRADICTED if (equivalence and abs(effect) < equivalence) or effect <= margin else REPRODUCED
    control = spec.get("control")
    if control:  # whatever the interval says: without the control the comparison is empty
        check = positive_control(spec, control, tables)
        if check.decision != REPRODUCED:
            decision, reason = INCONCLUSIVE, without_control(control, check, f"{spec['better']} against {spec['worse']}")
            leaning = INCONCLUSIVE
            p_for = p_against = None  # not tested: it leaves the multiplicity family (verdicts.decide)
        n += f"; control {control}: {check.n}"
    return Evidence(decision, effect, low, high, bound, n, reason, p_for, p_against, True, needs, leaning)


def iterations_note(tables: Tables, spec: dict[str, Any], objective: str | list[str]) -> str:
    """``; ~2,400 more iterations (run at 1,000)``: the largest estimate among still-improving runs."""
    runs = tables.cell_runs(spec, objective)
    improving = runs[runs.get("outcome", pd.Series(dtype=str)).isin(UNFINISHED)] if not runs.empty else runs
    if improving.empty or "iterations_needed" not in improving:
        return ""
    needed = improving["iterations_needed"].astype(float)
    needed = needed[np.isfinite(needed)]
    ran = improving["iterations"].dropna() if "iterations" in improving else pd.Series(dtype=float)
    at = f" (run for {int(ran.max()):,})" if len(ran) else ""
    return f"; ~{int(needed.max()):,} more iterations at the current slope{at}" if len(needed) else ""


def _share_p(k: int, n: int, level: float, greater: bool) -> float:
    return float(stats.binomtest(k, n, level, alternative="greater" if greater else "less").pvalue)


@dataclass
class Shares:
    """A cell's seeds by outcome for a `learns` rule: ``k`` certain successes, ``unknown`` runs still
    improving (no success yet, but their budget, not the method, may be what stopped them), of ``n``
    judged runs (diverged counts as not learned); errors and unevaluated runs leave n, named in ``note``."""

    k: int
    unknown: int
    n: int
    word: str
    note: str


def learn_shares(spec: dict[str, Any], runs: pd.DataFrame) -> Shares:
    success = spec.get("success")
    runs = runs if "outcome" in runs else runs.assign(outcome="not evaluated")
    judged = runs[runs["outcome"].isin([LEARNED, NOT_LEARNED, *UNFINISHED, DIVERGED])]
    improving = judged["outcome"].isin(UNFINISHED)
    if success:
        bound_value = success.get("at_least", success.get("at_most"))
        word = f"{success['metric']} {'≥' if 'at_least' in success else '≤'} {bound_value:g}"
        values = judged[success["metric"]].astype(float) if success["metric"] in judged else pd.Series(np.nan, judged.index)
        hit = (values >= bound_value) if "at_least" in success else (values <= bound_value)
        hit &= judged["status"] == "completed"
        # a run that missed the bound but is still improving (whatever its outcome) is an unknown
        trending = judged["trend"].isin(UNFINISHED) if "trend" in judged else improving
        unfinished = (improving | trending) & (judged["status"] == "completed")
        k, unknown = int(hit.sum()), int((unfinished & ~hit).sum())
    else:
        word = "learned"
        k, unknown = int((judged["outcome"] == LEARNED).sum()), int(improving.sum())
    note = failure_note(runs[~runs.index.isin(judged.index)])
    return Shares(k, unknown, len(judged), word, note)


def _share_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def positive_control(spec: dict[str, Any], control: str, tables: Tables) -> Evidence:
    """Whether ``control`` learns (≥ half its seeds, reproduced) on the cell the claim reads: without
    it, "X fails" or "X covers more modes than Y" says nothing about X at this budget."""
    keep = {k: v for k, v in spec.items() if k in ("experiment", "dataset", "arch", "min_seeds")}
    return learns({**keep, "rule": "learns", "objective": control, "at_least": 0.5}, tables)


def without_control(control: str, check: Evidence, subject: str) -> str:
    """Why a claim waits for its control: nothing learns at this budget (the control fails or is still
    improving), or the control's own evidence is too thin (more seeds would settle it)."""
    if check.decision == CONTRADICTED or "still improving" in check.reason or "cells missing" in check.reason:
        return (f"nothing learns on this cell at this budget: the positive control {control} has {check.n} "
                f"({check.decision}); a comparison here says nothing about {subject}")
    return (f"the positive control {control} is not established ({check.n}: {check.reason}); "
            f"until it is, a comparison here says nothing about {subject}")


@RULES.register("learns")
def learns(spec: dict[str, Any], tables: Tables) -> Evidence:
    """Share of seeds that learned (diverged counts as not learned; an error leaves n) against a level:
    Clopper-Pearson CI and one-sided exact binomial tests. ``success`` counts a seed by a metric bound
    instead of its outcome (e.g. all 8 modes covered). Runs still improving at the end of their budget
    are unknowns: the verdict must hold whether they would learn or not. A claim that a method fails
    (``at_most``) with a ``control`` is decided only when that positive control learns on the same cell."""
    runs = tables.cell_runs(spec, spec["objective"])
    if runs.empty:
        return not_run(f"cell {cell_name(spec)}")
    at_least = "at_least" in spec
    level = float(spec["at_least"] if at_least else spec["at_most"])
    shares = learn_shares(spec, runs)
    bound = f"{'≥' if at_least else '≤'} {level:g} of seeds {shares.word}"
    n_text = f"{shares.k}/{shares.n} {shares.word}" + (f", {shares.unknown} still improving" if shares.unknown else "")
    n_text += f"; {shares.note}" if shares.note else ""
    minimum = int(spec.get("min_seeds", MIN_SEEDS))
    if shares.n < minimum:
        return Evidence(INCONCLUSIVE, threshold=bound, n=n_text, sampled=True,
                        reason=f"cells missing: {shares.n} judged runs of {cell_name(spec)} (fewer than {minimum})"
                               + (f"; {shares.note}" if shares.note else ""))
    k, n = shares.k, shares.n
    optimistic = k + shares.unknown  # every still-improving run would learn
    low, high = _share_interval(k, n, tables.confidence)
    opt_low, opt_high = _share_interval(optimistic, n, tables.confidence)
    # for the claim: the pessimistic count when it claims "at least", the optimistic one for "at most"
    if at_least:
        decision_for = side_of(low, high, level, True) == REPRODUCED
        decision_against = side_of(opt_low, opt_high, level, True) == CONTRADICTED
        p_for, p_against = _share_p(k, n, level, True), _share_p(optimistic, n, level, False)
    else:
        decision_for = side_of(opt_low, opt_high, level, False) == REPRODUCED
        decision_against = side_of(low, high, level, False) == CONTRADICTED
        p_for, p_against = _share_p(optimistic, n, level, False), _share_p(k, n, level, True)
    decision = REPRODUCED if decision_for else CONTRADICTED if decision_against else INCONCLUSIVE
    share = k / n
    reason = ""
    if decision == INCONCLUSIVE:
        plain = side_of(low, high, level, at_least)
        if shares.unknown and plain != INCONCLUSIVE:
            reason = (f"{shares.unknown} of {n} runs are still improving (or show no plateau yet) at the end of their budget: "
                      f"'{plain}' would rest on them{iterations_note(tables, spec, spec['objective'])}")
        else:
            reason = straddle_reason(low, high, f"{level:g}")
    # the side the shares are on whichever way the still-improving runs go
    pessimistic, hopeful = (k, optimistic) if at_least else (optimistic, k)
    claimed = (lambda c: c / n >= level) if at_least else (lambda c: c / n <= level)
    leaning = REPRODUCED if claimed(pessimistic) else CONTRADICTED if not claimed(hopeful) else INCONCLUSIVE
    control = spec.get("control")
    if control:
        check = positive_control(spec, control, tables)
        p_for = max(p_for, check.p_for) if check.p_for is not None else p_for
        if check.decision != REPRODUCED:
            decision, reason = INCONCLUSIVE, without_control(control, check, spec["objective"])
            leaning = INCONCLUSIVE
            p_for = p_against = None  # not tested: it leaves the multiplicity family (verdicts.decide)
        n_text += f"; control {control}: {check.n}"

    def needs(alpha: float) -> int | None:
        if share == level:
            return None
        claimed = (share > level) == at_least
        for m in range(max(2, n), MAX_SEEDS):
            if _share_p(round(share * m), m, level, greater=(share > level)) < alpha:
                return m
        return None if not claimed else MAX_SEEDS

    return Evidence(decision, share, low, high, bound, n_text, reason, p_for, p_against, True, needs, leaning)


def partial_spearman(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> float:
    """Spearman's rho of x and y with the iteration t partialled out: the ranks of x and y regressed
    on the ranks of t, then correlated. A variable x that is any monotone function of t (such as
    1/iteration) has no association with y beyond the trend: 0. A metric y that is itself monotone
    in t has nothing beyond the trend to track: NaN (the run cannot tell tracking from trending)."""
    ranks = [stats.rankdata(v) for v in (x, y, t)]
    design = np.column_stack([np.ones(len(t)), ranks[2]])
    residuals = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in ranks[:2]]
    scale = [float(np.sqrt(np.mean(r ** 2))) for r in residuals]
    if scale[1] <= 1e-9 * len(t):
        return math.nan
    if scale[0] <= 1e-9 * len(t):
        return 0.0
    return float(np.clip(np.mean(residuals[0] * residuals[1]) / (scale[0] * scale[1]), -1.0, 1.0))


@dataclass
class RunCorrelation:
    partial: float  # on iteration: what the rule decides by
    raw: float  # the plain Spearman rho, for the record
    trend: float  # the iteration-only baseline: rho(iteration, metric)


def run_correlations(spec: dict[str, Any], tables: Tables) -> list[RunCorrelation]:
    """Per run: Spearman's rho between the logged ``variable`` and the ``metric`` curve at the
    iterations both have, partial on iteration, beside the raw rho and the iteration-only baseline."""
    curves = tables.curves
    if curves.empty:
        return []
    cell = curves[(curves["experiment"] == spec["experiment"]) & (curves["dataset"] == spec["dataset"])
                  & (curves["arch"] == spec["arch"]) & (curves["objective"] == spec["objective"])
                  & (curves["status"] == "completed")]
    found = []
    for _, run in cell.groupby("seed"):
        logged = run[(run["source"] == "log") & (run["variable"] == spec["variable"])].set_index("iteration")["value"]
        metric = run[(run["source"] == "metrics") & (run["variable"] == spec["metric"])].set_index("iteration")["value"]
        joined = pd.concat([logged.rename("x"), metric.rename("y")], axis=1, join="inner")
        joined = joined[np.isfinite(joined["x"]) & np.isfinite(joined["y"])]
        if len(joined) >= 5 and joined["x"].nunique() > 1 and joined["y"].nunique() > 1:
            t = joined.index.to_numpy(dtype=float)
            found.append(RunCorrelation(partial_spearman(joined["x"].to_numpy(), joined["y"].to_numpy(), t),
                                        float(stats.spearmanr(joined["x"], joined["y"]).statistic),
                                        float(stats.spearmanr(t, joined["y"]).statistic)))
    return found


@RULES.register("correlation")
def correlation(spec: dict[str, Any], tables: Tables) -> Evidence:
    """Mean over seeds of each run's Spearman rho (variable vs metric over training, partial on the
    iteration so that a shared trend does not count as tracking) against a level: bootstrap CI over
    seeds, one-sided Wilcoxon signed-rank tests of rho - level."""
    if tables.cell_runs(spec, spec["objective"]).empty:
        return not_run(f"cell {cell_name(spec)}")
    at_least = "at_least" in spec
    level = float(spec["at_least"] if at_least else spec["at_most"])
    bound = f"mean partial ρ {'≥' if at_least else '≤'} {level:g}"
    every = run_correlations(spec, tables)
    found = [c for c in every if not math.isnan(c.partial)]
    rhos = np.array([c.partial for c in found])
    minimum = int(spec.get("min_seeds", MIN_SEEDS))
    if len(rhos) < minimum:
        trending = len(every) - len(found)
        why = (f"in {trending} of {len(every)} runs {spec['metric']} moves monotonically with the iteration: nothing "
               "beyond the trend to track (more snapshots, or a run long enough to plateau, would tell)"
               if trending else f"fewer than {minimum} runs with ≥ 5 points of {spec['variable']} and {spec['metric']}")
        return Evidence(INCONCLUSIVE, threshold=bound, n=f"{len(rhos)} informative runs of {len(every)}", sampled=True,
                        reason=f"cells missing: {why}")
    effect = float(rhos.mean())
    low, high = bootstrap_ci(lambda rng: rng.choice(rhos, len(rhos)).mean(), effect, tables)
    decision = side_of(low, high, level, at_least)
    diff = rhos - level
    greater = float(stats.wilcoxon(diff, alternative="greater").pvalue) if np.any(diff) else 1.0
    less = float(stats.wilcoxon(diff, alternative="less").pvalue) if np.any(diff) else 1.0
    p_for, p_against = (greater, less) if at_least else (less, greater)
    spread, gap = float(rhos.std(ddof=1)), abs(effect - level)

    def needs(alpha: float) -> int | None:
        if gap == 0:
            return None
        return max(capped_seeds(normal_seeds(spread, gap, alpha) / 2), smallest_n(lambda m: 0.5 ** m, alpha))

    raw = float(np.mean([c.raw for c in found]))
    baseline = float(np.mean([c.trend for c in found]))
    n_text = f"{len(rhos)} runs; raw ρ {raw:.2f}, iteration-only ρ(iteration, {spec['metric']}) {baseline:.2f}"
    reason = "" if decision != INCONCLUSIVE else straddle_reason(low, high, f"{level:g}")
    leaning = REPRODUCED if (effect >= level) == at_least or effect == level else CONTRADICTED
    return Evidence(decision, effect, low, high, bound, n_text, reason, p_for, p_against, True, needs, leaning)


@RULES.register("published")
def published(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The measured mean's bootstrap CI inside published ± band: reproduced; wholly outside: contradicted."""
    runs = tables.cell_runs(spec, spec["objective"])
    if runs.empty:
        return not_run(f"cell {cell_name(spec)}")
    values, lost = metric_values(runs, spec["metric"])
    value, band = float(spec["value"]), float(spec["band"])
    bound = f"{value:g} ± {band:g} (published)"
    minimum = int(spec.get("min_seeds", MIN_SEEDS))
    if len(values) < minimum:
        return Evidence(INCONCLUSIVE, threshold=bound, n=str(len(values)), sampled=True,
                        reason=f"cells missing: fewer than {minimum} finite {spec['metric']} values ({lost} diverged, "
                               "failed or unevaluated)")
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


def non_finite_reason(values: np.ndarray, column: str, table: str) -> str | None:
    """An exact check never passes on rows it could not read: NaN (a computation that produced no
    number) makes it inconclusive, with the count."""
    missing = int(np.isnan(values).sum())
    if missing:
        return f"{missing} of {len(values)} selected rows of {table} have no value (NaN) in {column!r}"
    return None


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
    unreadable = non_finite_reason(got, spec["column"], spec["table"]) or (
        non_finite_reason(want, expected, spec["table"]) if by_column else None)
    if unreadable:
        return Evidence(INCONCLUSIVE, n=f"{len(got)} rows", reason=unreadable)
    with np.errstate(invalid="ignore"):
        error = np.where(np.isinf(want) & (got == want), 0.0, np.abs(got - want))
    scale = np.abs(want) if spec.get("relative") else np.ones_like(want)
    with np.errstate(invalid="ignore"):
        relative_error = error / np.where(scale == 0, 1, scale)
    # an infinite expected value met by a finite one (or the reverse) is an infinite error
    worst = float(np.max(np.where(np.isnan(relative_error), math.inf, relative_error)))
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
    unreadable = non_finite_reason(values.to_numpy(), spec["column"], spec["table"])
    if unreadable:
        return Evidence(INCONCLUSIVE, n=f"{len(values)} rows", reason=unreadable)
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
        column = rows[spec[side]["column"]].astype(float).to_numpy()
        unreadable = non_finite_reason(column, spec[side]["column"], spec["table"])
        if unreadable:
            return Evidence(INCONCLUSIVE, reason=unreadable)
        means.append(float(np.abs(column).mean()))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(np.log10(means[0]) - np.log10(means[1]))
    if math.isnan(value):
        return Evidence(INCONCLUSIVE, reason=f"the ratio of means {means[0]:.3g} / {means[1]:.3g} is undefined")
    key = next(k for k in ("log10_at_least", "log10_at_most", "abs_log10_at_least", "abs_log10_at_most") if k in spec)
    measured = abs(value) if key.startswith("abs") else value
    holds = measured >= spec[key] if key.endswith("at_least") else measured <= spec[key]
    label = f"{'|log10 ratio|' if key.startswith('abs') else 'log10 ratio'} {'≥' if key.endswith('at_least') else '≤'} {spec[key]:g}"
    return Evidence(REPRODUCED if holds else CONTRADICTED, value, threshold=label,
                    n="", reason="" if holds else f"log10 ratio is {value:.3g}")
