"""Decision rules for equal-budget claims (Lucic et al. 2018), read from a searched experiment's
trials (objectives ``<objective>--t<k>``, wganbench/search.py):

- ``at_budget``: `better`'s expected best of k trials beats `worse`'s by at least (``at_least``) or
  by at most (``at_most``) a margin in metric units. k: a number or ``all`` (every trial).
- ``spread_at_budget``: the expected best of k trials differs between the best and the worst of
  ``objectives`` by at least (or at most) a margin: whether objectives differ at that budget.
- ``ranking_differs``: the ranking of ``objectives`` under their own (published) settings differs
  from their ranking after the search. Both are measured with the rerun seeds: trial 0 of each
  objective (experiment ``<name>-defaults``) against each objective's best trial (``<name>-best``).
  The effect is the largest reversal: over pairs (A, B), the smaller of A's lead over B under the
  own settings and B's lead over A after the search; a reversal counts once both leads exceed
  the margin (metric units), so a swap inside the noise is not a different ranking.

Effects are exact over k-subsets of the trials (wganbench/study.py); intervals and one-sided
p-values come from a bootstrap over each objective's trials. The two rules over a list of
objectives never choose the best and worst (or the most reversed) pair inside the bootstrap: the
largest of many noisy pairs is biased upwards, so each ordered pair is tested on its own
(`pairwise_decision`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..search import DEFAULTS_SUFFIX, RERUN_SUFFIX, base_objective
from ..study import best_of_k_weights, expected_best_of_k
from ..study_tables import rerun_fill, trial_values, worst_of
from .rules import CONTRADICTED, INCONCLUSIVE, MIN_SEEDS, REPRODUCED, RULES, Evidence, Tables, not_run, side_of


def _trials(spec: dict[str, Any], tables: Tables) -> pd.DataFrame:
    runs = tables.runs
    if runs.empty:
        return pd.DataFrame()
    cell = runs[(runs["experiment"] == spec["experiment"]) & (runs["dataset"] == spec["dataset"])
                & (runs["arch"] == spec["arch"])]
    return trial_values(cell, {spec["experiment"]: spec["metric"]})


def _values(trials: pd.DataFrame, objective: str) -> np.ndarray:
    return trials[trials["objective"] == objective].sort_values("trial")["value"].to_numpy(dtype=float)


def _budget(spec: dict[str, Any], sizes: list[int]) -> int:
    return min(sizes) if spec["k"] == "all" else min(int(spec["k"]), min(sizes))


def _signed(values: np.ndarray, k: int, lower: bool, worst: float | None) -> float:
    """Expected best of k, signed so that larger is better (a diverged trial counts as ``worst``)."""
    best = expected_best_of_k(values, k, lower_is_better=lower, worst=worst)
    return -best if lower else best


def _decide(effect: float, draws: np.ndarray, spec: dict[str, Any], tables: Tables, n_text: str,
            bound_text: str) -> Evidence:
    at_least = "at_least" in spec
    margin = float(spec["at_least"] if at_least else spec["at_most"])
    finite = draws[np.isfinite(draws)]
    if not np.isfinite(effect) or len(finite) < 0.9 * len(draws):
        return Evidence(INCONCLUSIVE, effect, threshold=bound_text, n=n_text, sampled=True,
                        reason="cells missing: too many trials diverged for an expected best at this budget")
    tail = (1 - tables.confidence) / 2
    low, high = (float(q) for q in np.quantile(finite, [tail, 1 - tail]))
    decision = side_of(low, high, margin, at_least)
    above = (1 + np.sum(finite <= margin)) / (1 + len(finite))  # p that the effect is not above the margin
    below = (1 + np.sum(finite >= margin)) / (1 + len(finite))
    p_for, p_against = (float(above), float(below)) if at_least else (float(below), float(above))
    leaning = REPRODUCED if (effect > margin) == at_least else CONTRADICTED
    reason = "" if decision != INCONCLUSIVE else f"the CI [{low:.3g}, {high:.3g}] straddles the margin {margin:g}"
    return Evidence(decision, effect, low, high, bound_text, n_text, reason, p_for, p_against, True, leaning=leaning)


@RULES.register("at_budget")
def at_budget(spec: dict[str, Any], tables: Tables) -> Evidence:
    """`better`'s expected best of k trials minus `worse`'s, signed so that positive favours `better`."""
    trials = _trials(spec, tables)
    a = _values(trials, spec["better"]) if len(trials) else np.array([])
    b = _values(trials, spec["worse"]) if len(trials) else np.array([])
    if not len(a) or not len(b):
        return not_run(f"trials of {spec['better']} and {spec['worse']} in {spec['experiment']}/{spec['dataset']}/"
                       f"{spec['arch']}")
    lower, worst = bool(spec["lower_is_better"]), worst_of(trials)
    k = _budget(spec, [len(a), len(b)])
    effect = _signed(a, k, lower, worst) - _signed(b, k, lower, worst)
    rng = np.random.default_rng(tables.seed)
    draws = np.array([_signed(rng.choice(a, len(a)), k, lower, worst) - _signed(rng.choice(b, len(b)), k, lower, worst)
                      for _ in range(tables.resamples)])
    word = "at least" if "at_least" in spec else "at most"
    margin = spec.get("at_least", spec.get("at_most"))
    bound = f"best of {k} beats by {word} {margin:g} {spec['metric']}"
    return _decide(effect, draws, spec, tables, f"{len(a)} vs {len(b)} trials, k = {k}", bound)


def bootstrap_signed_best_of_k(values: np.ndarray, k: int, lower: bool, worst: float, draws: int,
                               rng: np.random.Generator) -> np.ndarray:
    """``draws`` resamples (with replacement) of the trials -> each one's expected best of k, signed
    so that larger is better, at once (the same order-statistic weights as `expected_best_of_k`)."""
    filled = np.where(np.isfinite(values), values, worst)  # NaN or inf: the trial found nothing
    signed = -filled if lower else filled
    samples = signed[rng.integers(0, len(signed), size=(draws, len(signed)))]
    descending = -np.sort(-samples, axis=1)
    return descending @ best_of_k_weights(len(signed), k)


def pair_differences(scores: np.ndarray) -> np.ndarray:
    """(..., m objectives) signed scores -> (..., m(m-1)) differences A - B over `ordered_pairs`."""
    m = scores.shape[-1]
    return (scores[..., :, None] - scores[..., None, :])[..., ~np.eye(m, dtype=bool)]


def resamples_for_pairs(tables: Tables, pairs: int) -> int:
    """Enough resamples that the Bonferroni tail (tail / pairs) holds ~40 draws, whatever the grid's setting."""
    tail = (1 - tables.confidence) / 2
    return max(tables.resamples, int(np.ceil(40 * pairs / tail)))


def pairwise_decision(effect: float, draws: np.ndarray, margin: float, at_least: bool, tables: Tables,
                      bound: str, n_text: str) -> Evidence:
    """Decide "some ordered pair exceeds the margin" from (resamples, pairs) bootstrap draws.

    Some pair above: its lower bound at a Bonferroni-adjusted level over the pairs; every pair below:
    each pair's upper bound at the plain level (an intersection-union test needs no adjustment)."""
    pairs, tail = draws.shape[1], (1 - tables.confidence) / 2
    if not np.isfinite(effect) or not np.isfinite(draws).all():
        return Evidence(INCONCLUSIVE, effect, threshold=bound, n=n_text, sampled=True,
                        reason="cells missing: a value that is not finite leaves no interval")
    low = float(np.max(np.quantile(draws, tail / pairs, axis=0)))
    high = float(np.max(np.quantile(draws, 1 - tail, axis=0)))
    above = (1 + np.sum(draws <= margin, axis=0)) / (1 + len(draws))  # per pair: p that it is not above
    below = (1 + np.sum(draws >= margin, axis=0)) / (1 + len(draws))
    p_some_above, p_all_below = float(min(1.0, pairs * above.min())), float(below.max())
    p_for, p_against = (p_some_above, p_all_below) if at_least else (p_all_below, p_some_above)
    decision = side_of(low, high, margin, at_least)
    reason = "" if decision != INCONCLUSIVE else (
        f"the pairs' intervals straddle the margin {margin:g} (the largest pair's lower bound {low:.3g}, "
        f"adjusted over {pairs} ordered pairs; the largest upper bound {high:.3g})")
    leaning = REPRODUCED if (effect > margin) == at_least else CONTRADICTED
    return Evidence(decision, effect, low, high, bound, n_text, reason, p_for, p_against, True, leaning=leaning)


@RULES.register("spread_at_budget")
def spread_at_budget(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The best objective's expected best of k minus the worst one's. The point estimate takes the
    best and worst as found; the decision tests every ordered pair (`pairwise_decision`)."""
    trials = _trials(spec, tables)
    values = {o: _values(trials, o) for o in spec["objectives"]} if len(trials) else {}
    values = {o: v for o, v in values.items() if len(v)}
    if len(values) < 2:
        return not_run(f"trials of {', '.join(spec['objectives'])} in {spec['experiment']}/{spec['dataset']}/"
                       f"{spec['arch']}")
    lower, worst = bool(spec["lower_is_better"]), worst_of(trials)
    k = _budget(spec, [len(v) for v in values.values()])
    word = "at least" if "at_least" in spec else "at most"
    margin = float(spec.get("at_least", spec.get("at_most")))
    bound = f"best minus worst objective's best of {k}: {word} {margin:g} {spec['metric']}"
    n_text = f"{len(values)} objectives, k = {k}"
    if worst is None:
        return Evidence(INCONCLUSIVE, threshold=bound, n=n_text, sampled=True,
                        reason="cells missing: no trial completed, so nothing measures the best of k")
    scores = [_signed(v, k, lower, worst) for v in values.values()]
    effect = float(max(scores) - min(scores))
    rng = np.random.default_rng(tables.seed)
    count = resamples_for_pairs(tables, len(values) * (len(values) - 1))
    draws = pair_differences(np.column_stack([bootstrap_signed_best_of_k(v, k, lower, worst, count, rng)
                                              for v in values.values()]))
    return pairwise_decision(effect, draws, margin, "at_least" in spec, tables, bound, n_text)


def _seed_values(spec: dict[str, Any], tables: Tables, experiment: str) -> dict[str, np.ndarray]:
    """Objective -> its seeds' metric values in one rerun experiment's cell; NaN where a seed diverged
    or failed (`study_tables.rerun_fill` decides what that counts as)."""
    runs = tables.runs
    if runs.empty:
        return {}
    cell = runs[(runs["experiment"] == experiment) & (runs["dataset"] == spec["dataset"]) & (runs["arch"] == spec["arch"])]
    found = {}
    for name, group in cell.groupby("objective"):
        objective = base_objective(name)[0]
        if objective in spec["objectives"] and spec["metric"] in group:
            found[objective] = group[spec["metric"]].astype(float).where(group["status"] == "completed").to_numpy()
    return found


def reversals_of_means(own_mean: np.ndarray, tuned_mean: np.ndarray, lower: bool) -> np.ndarray:
    """Mean metrics (..., k objectives) of both phases -> (..., k(k-1)) reversals of the ordered pairs
    (A, B) in `ordered_pairs` order: min(A's lead over B under own settings, B's lead over A after
    the search), leads in metric units (positive = better)."""
    sign = -1.0 if lower else 1.0
    own, tuned = sign * np.asarray(own_mean, dtype=float), sign * np.asarray(tuned_mean, dtype=float)
    lead_own = own[..., :, None] - own[..., None, :]
    lead_tuned = tuned[..., None, :] - tuned[..., :, None]  # B's lead over A, for row A and column B
    found = np.minimum(lead_own, lead_tuned)
    k = own.shape[-1]
    return found[..., ~np.eye(k, dtype=bool)]


def pair_reversals(own: dict[str, np.ndarray], tuned: dict[str, np.ndarray], names: list[str],
                   lower: bool) -> np.ndarray:
    """Each ordered pair's reversal from the seeds' values (positive: the pair reversed)."""
    return reversals_of_means(np.array([np.mean(own[o]) for o in names]),
                              np.array([np.mean(tuned[o]) for o in names]), lower)


def bootstrap_means(values: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` means of resamples (with replacement) of ``values``, at once."""
    return values[rng.integers(0, len(values), size=(draws, len(values)))].mean(axis=1)


def ordered_pairs(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a in names for b in names if a != b]


def largest_reversal(own: dict[str, np.ndarray], tuned: dict[str, np.ndarray], lower: bool) -> tuple[float, str]:
    """The largest pair reversal, and which pair it is."""
    names = sorted(own)
    values = pair_reversals(own, tuned, names, lower)
    best = int(np.argmax(values))
    a, b = ordered_pairs(names)[best]
    if values[best] > 0:
        return float(values[best]), f"{a} ahead of {b} under their own settings, behind after the search"
    return float(values[best]), f"no pair reverses; closest: {a} and {b}"


def kendall_tau(own: dict[str, np.ndarray], tuned: dict[str, np.ndarray]) -> float:
    """Kendall's τ between the two rankings by mean (1: the same order)."""
    from scipy import stats

    names = sorted(own)
    return float(stats.kendalltau([np.mean(own[o]) for o in names], [np.mean(tuned[o]) for o in names]).statistic)


@RULES.register("ranking_differs")
def ranking_differs(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The largest reversal between the own-setting and the tuned rankings (module docstring).

    Each ordered pair is its own test: "reproduced" needs one pair whose reversal is above the margin
    at a Bonferroni-adjusted level over the n(n-1) pairs (the largest of many noisy pairs is biased
    upwards, so the pair is never chosen inside the bootstrap); "contradicted" needs every pair below
    the margin (an intersection-union test: no adjustment). The bootstrap resamples each objective's
    seeds in each phase; the phases share seeds but are resampled independently (conservative)."""
    own_name, tuned_name = f"{spec['experiment']}{DEFAULTS_SUFFIX}", f"{spec['experiment']}{RERUN_SUFFIX}"
    own, tuned = _seed_values(spec, tables, own_name), _seed_values(spec, tables, tuned_name)
    if not own and not tuned:
        return not_run(f"reruns of {', '.join(spec['objectives'])} in {own_name} and {tuned_name} "
                       "(search.rerun_seeds with rerun_defaults: true)")
    word = "at least" if "at_least" in spec else "at most"
    margin = float(spec.get("at_least", spec.get("at_most")))
    bound = f"largest reversal between own-setting and tuned rankings: {word} {margin:g} {spec['metric']}"
    missing = [f"{o} ({phase})" for o in spec["objectives"] for phase, found in (("own setting", own), ("best trial", tuned))
               if o not in found]
    minimum = int(spec.get("min_seeds", MIN_SEEDS))
    few = [o for o in spec["objectives"] if o in own and o in tuned and min(len(own[o]), len(tuned[o])) < minimum]
    if missing or few:
        why = f"no reruns of {', '.join(missing)}" if missing else f"fewer than {minimum} seeds of {', '.join(few)}"
        return Evidence(INCONCLUSIVE, threshold=bound, n=f"{len(spec['objectives'])} objectives", sampled=True,
                        reason=f"cells missing: {why}")
    worst = rerun_fill(tables.runs, [own_name, tuned_name], spec["dataset"], spec["arch"], spec["metric"],
                       bool(spec["lower_is_better"]))
    if worst is None:
        return Evidence(INCONCLUSIVE, threshold=bound, sampled=True, reason="cells missing: no rerun seed completed")
    diverged = sum(int((~np.isfinite(v)).sum()) for phase in (own, tuned) for v in phase.values())
    own = {o: np.where(np.isfinite(v), v, worst) for o, v in own.items()}
    tuned = {o: np.where(np.isfinite(v), v, worst) for o, v in tuned.items()}
    names, lower = sorted(own), bool(spec["lower_is_better"])
    effect, pair = largest_reversal(own, tuned, lower)
    rng = np.random.default_rng(tables.seed)
    count = resamples_for_pairs(tables, len(names) * (len(names) - 1))
    draws = reversals_of_means(np.column_stack([bootstrap_means(own[o], count, rng) for o in names]),
                               np.column_stack([bootstrap_means(tuned[o], count, rng) for o in names]), lower)
    seeds = min(len(v) for v in [*own.values(), *tuned.values()])
    n_text = (f"{len(names)} objectives, ≥ {seeds} seeds per setting"
              + (f" ({diverged} diverged or failed, counted at {worst:.3g})" if diverged else "")
              + f"; Kendall τ {kendall_tau(own, tuned):.2f}; largest: {pair}")
    return pairwise_decision(effect, draws, margin, "at_least" in spec, tables, bound, n_text)
