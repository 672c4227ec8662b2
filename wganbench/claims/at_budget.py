"""Decision rules for equal-budget claims (Lucic et al. 2018), read from a searched experiment's
trials (objectives ``<objective>--t<k>``, wganbench/search.py):

- ``at_budget``: `better`'s expected best of k trials beats `worse`'s by at least (``at_least``) or
  by at most (``at_most``) a margin in metric units. k: a number or ``all`` (every trial).
- ``spread_at_budget``: the expected best of k trials differs between the best and the worst of
  ``objectives`` by at least (or at most) a margin: whether objectives differ at that budget.

Effects are exact over k-subsets of the trials (wganbench/study.py); intervals and one-sided
p-values come from a bootstrap over each objective's trials (the best and worst objectives chosen
again in every resample, so the choice is part of the uncertainty).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

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
