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
p-values come from a bootstrap over each objective's trials (the best and worst objectives chosen
again in every resample, so the choice is part of the uncertainty).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..search import DEFAULTS_SUFFIX, RERUN_SUFFIX, base_objective
from ..study import expected_best_of_k
from ..study_tables import trial_values, worst_of
from .rules import CONTRADICTED, INCONCLUSIVE, REPRODUCED, RULES, Evidence, Tables, not_run, side_of


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


@RULES.register("spread_at_budget")
def spread_at_budget(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The best objective's expected best of k minus the worst one's (both chosen again per resample)."""
    trials = _trials(spec, tables)
    values = {o: _values(trials, o) for o in spec["objectives"]} if len(trials) else {}
    values = {o: v for o, v in values.items() if len(v)}
    if len(values) < 2:
        return not_run(f"trials of {', '.join(spec['objectives'])} in {spec['experiment']}/{spec['dataset']}/"
                       f"{spec['arch']}")
    lower, worst = bool(spec["lower_is_better"]), worst_of(trials)
    k = _budget(spec, [len(v) for v in values.values()])

    def spread(samples: dict[str, np.ndarray]) -> float:
        scores = [_signed(v, k, lower, worst) for v in samples.values()]
        return float(max(scores) - min(scores))

    effect = spread(values)
    rng = np.random.default_rng(tables.seed)
    draws = np.array([spread({o: rng.choice(v, len(v)) for o, v in values.items()}) for _ in range(tables.resamples)])
    word = "at least" if "at_least" in spec else "at most"
    margin = spec.get("at_least", spec.get("at_most"))
    bound = f"best minus worst objective's best of {k}: {word} {margin:g} {spec['metric']}"
    return _decide(effect, draws, spec, tables, f"{len(values)} objectives, k = {k}", bound)


def _seed_values(spec: dict[str, Any], tables: Tables, experiment: str) -> dict[str, np.ndarray]:
    """Objective -> its seeds' metric values in one rerun experiment's cell; a seed that diverged or
    failed takes the constant generator's level on the metric (it found nothing), else stays NaN."""
    runs = tables.runs
    if runs.empty:
        return {}
    cell = runs[(runs["experiment"] == experiment) & (runs["dataset"] == spec["dataset"]) & (runs["arch"] == spec["arch"])]
    found = {}
    for name, group in cell.groupby("objective"):
        objective = base_objective(name)[0]
        if objective not in spec["objectives"] or spec["metric"] not in group:
            continue
        values = group[spec["metric"]].astype(float).where(group["status"] == "completed")
        same = "outcome_metric" in group and (group["outcome_metric"] == spec["metric"]).all()
        worst = group["level_constant"].dropna() if same and "level_constant" in group else pd.Series(dtype=float)
        found[objective] = values.fillna(float(worst.iloc[0]) if len(worst) else np.nan).to_numpy()
    return found


def largest_reversal(own: dict[str, np.ndarray], tuned: dict[str, np.ndarray], lower: bool) -> tuple[float, str]:
    """max over ordered pairs (A, B) of min(A's lead over B under own settings, B's lead over A tuned),
    leads in metric units (positive = better); with the pair it comes from."""
    sign = -1.0 if lower else 1.0
    mean_own = {o: sign * float(np.mean(v)) for o, v in own.items()}
    mean_tuned = {o: sign * float(np.mean(v)) for o, v in tuned.items()}
    best, pair = -np.inf, ""
    for a in mean_own:
        for b in mean_own:
            if a == b:
                continue
            value = min(mean_own[a] - mean_own[b], mean_tuned[b] - mean_tuned[a])
            if value > best:
                best, pair = value, f"{a} ahead of {b} under their own settings, behind after the search"
    return float(best), pair


def kendall_tau(own: dict[str, np.ndarray], tuned: dict[str, np.ndarray]) -> float:
    """Kendall's τ between the two rankings by mean (1: the same order)."""
    from scipy import stats

    names = sorted(own)
    return float(stats.kendalltau([np.mean(own[o]) for o in names], [np.mean(tuned[o]) for o in names]).statistic)


@RULES.register("ranking_differs")
def ranking_differs(spec: dict[str, Any], tables: Tables) -> Evidence:
    """The largest reversal between the own-settings and the tuned rankings (module docstring), with a
    bootstrap over each objective's seeds in each phase."""
    own = _seed_values(spec, tables, f"{spec['experiment']}{DEFAULTS_SUFFIX}")
    tuned = _seed_values(spec, tables, f"{spec['experiment']}{RERUN_SUFFIX}")
    shared = sorted(set(own) & set(tuned))
    if len(shared) < 2:
        return not_run(f"reruns of {', '.join(spec['objectives'])} in {spec['experiment']}{DEFAULTS_SUFFIX} and "
                       f"{spec['experiment']}{RERUN_SUFFIX} (search.rerun_seeds with rerun_defaults: true)")
    own, tuned = {o: own[o] for o in shared}, {o: tuned[o] for o in shared}
    lower = bool(spec["lower_is_better"])
    effect, pair = largest_reversal(own, tuned, lower)
    rng = np.random.default_rng(tables.seed)

    def resample(side: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {o: rng.choice(v, len(v)) for o, v in side.items()}

    draws = np.array([largest_reversal(resample(own), resample(tuned), lower)[0] for _ in range(tables.resamples)])
    word = "at least" if "at_least" in spec else "at most"
    margin = spec.get("at_least", spec.get("at_most"))
    seeds = min(len(v) for v in [*own.values(), *tuned.values()])
    n_text = (f"{len(shared)} objectives, ≥ {seeds} seeds per setting; Kendall τ {kendall_tau(own, tuned):.2f}; "
              f"largest: {pair}")
    bound = f"largest reversal between own-setting and tuned rankings: {word} {margin:g} {spec['metric']}"
    return _decide(effect, draws, spec, tables, n_text, bound)
