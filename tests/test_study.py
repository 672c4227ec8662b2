"""The equal-budget statistics against brute force and scipy, and the search expansion's
determinism (Lucic et al. 2018; Dodge et al. 2019)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from wganbench.inventory import builtin_objectives
from wganbench.search import SearchError, base_objective, expand, parse_space
from wganbench.study import (budget_curve, expected_best_of_k, interquartile_mean, probability_of_improvement,
                             stratified_probability_of_improvement)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=8), st.booleans(), st.data())
def test_expected_best_of_k_is_the_mean_over_all_k_subsets(values: list[float], lower: bool, data) -> None:
    k = data.draw(st.integers(1, len(values)))
    best = min if lower else max
    brute = np.mean([best(subset) for subset in combinations(values, k)])
    assert expected_best_of_k(np.array(values), k, lower_is_better=lower) == pytest.approx(brute, rel=1e-9, abs=1e-9)


def test_best_of_all_trials_is_the_best_and_of_one_is_the_mean() -> None:
    values = np.array([30.0, 12.0, 55.0, 8.0, 19.0])
    assert expected_best_of_k(values, 5) == 8.0
    assert expected_best_of_k(values, 1) == pytest.approx(values.mean())
    assert expected_best_of_k(values, 5, lower_is_better=False) == 55.0


def test_a_diverged_trial_counts_as_the_worst() -> None:
    values = np.array([10.0, np.nan, 20.0])
    # subsets of 2: {10, nan} -> 10, {10, 20} -> 10, {nan, 20} -> 20
    assert expected_best_of_k(values, 2) == pytest.approx((10 + 10 + 20) / 3)
    assert expected_best_of_k(values, 1) == np.inf  # one draw in three finds nothing


def test_budget_curve_falls_with_k_and_its_band_holds_it() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 0.5, size=12)
    curve = budget_curve(values, resamples=300, seed=1)
    assert list(curve.k) == list(range(1, 13))
    assert np.all(np.diff(curve.expected) <= 1e-12)
    assert np.all(curve.low <= curve.expected + 1e-9) and np.all(curve.expected <= curve.high + 1e-9)
    assert curve.expected[-1] == values.min()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=9), st.lists(st.integers(0, 6), min_size=1, max_size=9))
def test_probability_of_improvement_is_mann_whitney_u_over_nm(a: list[int], b: list[int]) -> None:
    """P(A < B) with ties counted half equals U(B, A) / (n m): U counts pairs where B's value is greater."""
    u = stats.mannwhitneyu(b, a, alternative="two-sided").statistic
    assert probability_of_improvement(np.array(a), np.array(b)) == pytest.approx(u / (len(a) * len(b)))


def test_stratified_probability_of_improvement_and_its_interval() -> None:
    rng = np.random.default_rng(3)
    a = {"digits": rng.normal(10, 1, 8), "8gaussians": rng.normal(0.2, 0.02, 8)}
    b = {"digits": rng.normal(14, 1, 8), "8gaussians": rng.normal(0.3, 0.02, 8)}
    point, low, high = stratified_probability_of_improvement(a, b, resamples=300)
    expected = np.mean([probability_of_improvement(a[t], b[t]) for t in a])
    assert point == pytest.approx(expected)
    assert 0.5 < low <= point <= high <= 1.0
    # unequal run counts are fine: each data set's runs are resampled on their own
    point5, low5, high5 = stratified_probability_of_improvement({**a, "digits": a["digits"][:5]}, b, resamples=300)
    assert low5 <= point5 <= high5
    assert stratified_probability_of_improvement(b, a, resamples=300)[0] == pytest.approx(1 - point)


def test_interquartile_mean_ignores_the_tails() -> None:
    assert interquartile_mean(np.array([1.0, 2, 3, 4, 5, 6, 7, 1000])) == pytest.approx(4.5)


def test_search_expansion_is_deterministic_and_trial_zero_is_the_builtin_setting() -> None:
    definition = builtin_objectives()["wgan-gp"]
    search = {"space": "narrow", "trials": 6, "seed": 4}
    first, again = expand("wgan-gp", definition, search, "experiments.s.search"), \
        expand("wgan-gp", definition, search, "experiments.s.search")
    assert first == again
    assert list(first) == [f"wgan-gp--t{k:02d}" for k in range(6)]
    assert first["wgan-gp--t00"] == (definition, {})
    for name, (trial, params) in list(first.items())[1:]:
        assert base_objective(name) == ("wgan-gp", int(name[-2:]))
        assert 1e-4 <= params["lr"] <= 1e-3 and params["beta1"] == 0.5 and params["n_critic"] == 1
        assert 0.1 <= params["penalty"] <= 10 and "clip" not in params
        assert trial["optimizer"]["lr"] == params["lr"] and trial["optimizer"]["betas"] == [0.5, 0.9]
        assert trial["lipschitz"]["gradient_penalty"] == params["penalty"] and trial["n_critic"] == 1
    other_seed = expand("wgan-gp", definition, {**search, "seed": 5}, "x")
    assert other_seed["wgan-gp--t01"] != first["wgan-gp--t01"]


def test_the_wide_space_searches_clipping_where_the_objective_clips() -> None:
    trials = expand("wgan", builtin_objectives()["wgan"], {"space": "wide", "trials": 30, "seed": 0}, "x")
    params = [p for _, p in list(trials.values())[1:]]
    assert all(1e-3 <= p["clip"] <= 1 and 1e-5 <= p["lr"] <= 1e-2 and 1 <= p["n_critic"] <= 5 for p in params)
    assert all("beta1" not in p for p in params)  # RMSprop has no beta1
    assert len({p["n_critic"] for p in params}) > 1


@pytest.mark.parametrize("space, key", [
    ("nope", "experiments.s.search.space"),
    ({"lr": {"low": 1e-3, "high": 1e-4}}, "experiments.s.search.space.lr"),
    ({"lr": {"low": 0, "high": 1e-3, "log": True}}, "experiments.s.search.space.lr.low"),
    ({"momentum": {"low": 0, "high": 1}}, "experiments.s.search.space.momentum"),
])
def test_a_bad_search_space_gets_one_line_naming_the_key(space, key: str) -> None:
    with pytest.raises(SearchError) as error:
        parse_space(space, "experiments.s.search.space")
    message = str(error.value)
    assert f"config key '{key}'" in message and "\n" not in message


def test_best_of_k_improvement_against_brute_force_over_subsets() -> None:
    """P(best of k of A beats best of k of B), exact, equals the share over all pairs of k-subsets."""
    from wganbench.study_tables import best_of_k_improvement

    a, b = np.array([5.0, 9.0, 3.0, 7.0]), np.array([4.0, 8.0, 6.0, 4.0, 10.0])
    for k in (1, 2, 3, 4):
        pairs = [(min(x), min(y)) for x in combinations(a, k) for y in combinations(b, k)]
        brute = np.mean([1.0 if x < y else 0.5 if x == y else 0.0 for x, y in pairs])
        assert best_of_k_improvement(a, b, k) == pytest.approx(brute)
    assert best_of_k_improvement(np.array([1.0, np.nan]), np.array([np.nan, np.nan]), 1) == pytest.approx(0.75)


def test_study_tables_from_a_runs_table(tmp_path) -> None:
    import pandas as pd

    from wganbench.study_tables import write_study_tables

    rows = []
    for objective, fids in (("nsgan", [9.0, 4.0, 12.0, 6.0]), ("wgan", [20.0, 3.0, np.nan, 15.0])):
        for trial, fid in enumerate(fids):
            rows.append({"experiment": "s", "dataset": "digits", "arch": "dcgan", "objective": f"{objective}--t{trial:02d}",
                         "seed": 0, "status": "diverged" if np.isnan(fid) else "completed", "fid": fid})
    rows.append({"experiment": "plain", "dataset": "digits", "arch": "dcgan", "objective": "nsgan", "seed": 0,
                 "status": "completed", "fid": 1.0})
    paths = write_study_tables(pd.DataFrame(rows), {"s": "fid", "plain": "fid"}, "nsgan", tmp_path, resamples=50)
    trials = pd.read_csv(paths["trials"])
    assert len(trials) == 8 and trials["diverged"].sum() == 1
    curves = pd.read_csv(paths["budget"]).set_index(["objective", "k"])
    assert curves.loc[("nsgan", 4), "expected_best"] == 4.0 and curves.loc[("wgan", 4), "expected_best"] == 3.0
    assert curves.loc[("nsgan", 1), "expected_best"] == pytest.approx(31 / 4)
    # one draw in four diverged: it counts as the worst completed trial of the cell (no levels here)
    assert curves.loc[("wgan", 1), "expected_best"] == pytest.approx((20 + 3 + 20 + 15) / 4)
    comparisons = pd.read_csv(paths["comparisons"]).set_index("k")
    assert list(comparisons.index) == [1, 2, 3, 4] and (comparisons["objective"] == "wgan").all()
    assert comparisons.loc[4, "p_better"] == 1.0  # with every trial, WGAN's best (3) beats NS-GAN's (4)


def study_runs(values: dict[str, list[float]]) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for objective, fids in values.items():
        for trial, fid in enumerate(fids):
            rows.append({"experiment": "s", "dataset": "digits", "arch": "dcgan", "objective": f"{objective}--t{trial:02d}",
                         "seed": 0, "status": "diverged" if np.isnan(fid) else "completed", "fid": fid,
                         "outcome_metric": "fid", "level_constant": 100.0})
    return pd.DataFrame(rows)


def decide_one(test: dict, runs, tmp_path):
    import pandas as pd

    from wganbench.claims.catalogue import Claim
    from wganbench.claims.rules import Tables
    from wganbench.claims.verdicts import decide

    claim = Claim(id="c", source={"paper": "Lucic et al. 2018", "where": "§5", "quote": "q"}, statement="s", test=test,
                  tested_by=["config/study.yaml"])
    tables = Tables(runs, pd.DataFrame(columns=["experiment", "dataset", "objective", "arch", "seed", "status", "source",
                                                "variable", "iteration", "value"]), tmp_path, confidence=0.9,
                    resamples=400, seed=0)
    return decide([claim], tables, 0.05)[0]


AT_BUDGET = {"rule": "at_budget", "experiment": "s", "dataset": "digits", "arch": "dcgan", "metric": "fid",
             "better": "wgan-gp", "worse": "nsgan", "lower_is_better": True}


def test_at_budget_decides_on_the_expected_best_of_k(tmp_path) -> None:
    rng = np.random.default_rng(0)
    good, poor = list(rng.uniform(2, 4, 12)), list(rng.uniform(20, 40, 12))
    runs = study_runs({"wgan-gp": good, "nsgan": poor})
    beats = decide_one({**AT_BUDGET, "k": 1, "at_least": 5.0}, runs, tmp_path)
    assert beats.verdict == "reproduced"
    assert beats.parts[0].effect == pytest.approx(np.mean(poor) - np.mean(good))
    # "does not beat by more than 5" is contradicted by the same trials
    assert decide_one({**AT_BUDGET, "k": "all", "at_most": 5.0}, runs, tmp_path).verdict == "contradicted"
    # with every trial, a diverged trial costs nothing as long as a good one exists
    runs = study_runs({"wgan-gp": good[:11] + [float("nan")], "nsgan": poor})
    assert decide_one({**AT_BUDGET, "k": "all", "at_least": 5.0}, runs, tmp_path).parts[0].effect == pytest.approx(
        min(poor) - min(good[:11]))


def test_at_budget_on_overlapping_trials_is_inconclusive_and_missing_trials_not_run(tmp_path) -> None:
    rng = np.random.default_rng(1)
    runs = study_runs({"wgan-gp": list(rng.uniform(5, 15, 6)), "nsgan": list(rng.uniform(5, 15, 6))})
    assert decide_one({**AT_BUDGET, "k": 1, "at_least": 0.0}, runs, tmp_path).verdict == "inconclusive"
    # ... while "beats it by 8 FID" is contradicted by the same trials
    assert decide_one({**AT_BUDGET, "k": 1, "at_least": 8.0}, runs, tmp_path).verdict == "contradicted"
    assert decide_one({**AT_BUDGET, "better": "dragan", "k": 1, "at_least": 3.0}, runs, tmp_path).verdict == "not run here"


def test_spread_at_budget_decides_on_the_best_and_worst_objectives(tmp_path) -> None:
    rng = np.random.default_rng(2)
    values = {"nsgan": list(rng.uniform(3, 5, 10)), "wgan": list(rng.uniform(30, 50, 10)),
              "lsgan": list(rng.uniform(4, 6, 10))}
    spec = {"rule": "spread_at_budget", "experiment": "s", "dataset": "digits", "arch": "dcgan", "metric": "fid",
            "objectives": list(values), "lower_is_better": True, "k": 1, "at_least": 10.0}
    verdict = decide_one(spec, study_runs(values), tmp_path)
    assert verdict.verdict == "reproduced"
    assert verdict.parts[0].effect == pytest.approx(np.mean(values["wgan"]) - np.mean(values["nsgan"]))
    same = {name: list(rng.uniform(3, 5, 10)) for name in values}
    assert decide_one({**spec, "objectives": list(same)}, study_runs(same), tmp_path).verdict != "reproduced"
    # "they differ by at most 60" needs every pair below 60: the same trials reproduce it, and contradict "at most 10"
    at_most = {key: value for key, value in spec.items() if key != "at_least"}
    assert decide_one({**at_most, "at_most": 60.0}, study_runs(values), tmp_path).verdict == "reproduced"
    assert decide_one({**at_most, "at_most": 10.0}, study_runs(values), tmp_path).verdict == "contradicted"


def test_spread_at_budget_does_not_find_a_difference_in_noise(tmp_path) -> None:
    """Six identical objectives: the best minus the worst of six noisy means is biased upwards, and
    re-choosing the pair inside the bootstrap called them different in 6 of the first 20 of these
    grids (seeds 204, 205, 209, ...); each pair tested on its own calls none of them different."""
    names = ["nsgan", "gan", "lsgan", "wgan", "wgan-gp", "dragan"]
    spec = {"rule": "spread_at_budget", "experiment": "s", "dataset": "digits", "arch": "dcgan", "metric": "fid",
            "objectives": names, "lower_is_better": True, "k": 1, "at_least": 1.0}
    for trial in (204, 205, 209, 211, 216, 219, 200, 201):
        rng = np.random.default_rng(trial)
        values = {o: list(10 + rng.normal(0, 2.0, 16)) for o in names}
        verdict = decide_one(spec, study_runs(values), tmp_path)
        assert verdict.verdict != "reproduced", (trial, verdict.parts[0].effect, verdict.parts[0].ci_low)


def test_pairwise_decision_adjusts_the_some_pair_bound_over_the_pairs(tmp_path) -> None:
    """30 ordered pairs, one of them 2.2 SD above the margin: its plain 95% lower bound clears the
    margin, the Bonferroni-adjusted one (tail / 30) does not, so "some pair is above" stays open, with
    p = 30 x P(Z < -2.2) ~ 0.42; 4 SD above clears both. "Every pair below" uses the plain level."""
    from scipy import stats

    from wganbench.claims.at_budget import pairwise_decision
    from wganbench.claims.rules import Tables

    tables = Tables(None, None, tmp_path, confidence=0.95, resamples=400, seed=0)
    z = stats.norm.ppf((np.arange(20000) + 0.5) / 20000)  # exact normal quantiles as draws
    others = np.tile(z[:, None] - 10.0, (1, 29))
    for shift, expected in ((2.2, "inconclusive"), (4.0, "reproduced")):
        draws = np.column_stack([1.0 + shift + z, others])
        found = pairwise_decision(1.0 + shift, draws, 1.0, True, tables, "b", "n")
        assert found.decision == expected
        assert found.ci_low == pytest.approx(1.0 + shift + stats.norm.ppf(0.025 / 30), abs=0.02)
        assert found.ci_high == pytest.approx(1.0 + shift + stats.norm.ppf(0.975), abs=0.02)
    draws = np.column_stack([1.0 + 2.2 + z, others])
    assert pairwise_decision(3.2, draws, 1.0, True, tables, "b", "n").p_for == pytest.approx(
        30 * stats.norm.cdf(-2.2), rel=0.02)
    # every pair below: the largest pair 2.2 SD below the margin is below at the plain level
    below = np.column_stack([1.0 - 2.2 + z, others])
    assert pairwise_decision(-1.2, below, 1.0, True, tables, "b", "n").decision == "contradicted"


def test_bootstrap_best_of_k_equals_the_exact_expectation_on_each_resample() -> None:
    """The vectorised bootstrap against `expected_best_of_k` on the same resamples, diverged trials
    filled, in both metric directions."""
    from wganbench.claims.at_budget import bootstrap_signed_best_of_k
    from wganbench.study import expected_best_of_k

    values = np.array([3.0, np.nan, 7.5, 1.25, 9.0, 4.0, np.nan, 2.0])
    for lower, k in ((True, 1), (True, 3), (False, 2), (False, 8)):
        worst = 20.0 if lower else -5.0  # worse than every value, as `worst_of` fills
        fast = bootstrap_signed_best_of_k(values, k, lower, worst, 50, np.random.default_rng(5))
        indices = np.random.default_rng(5).integers(0, len(values), size=(50, len(values)))
        exact = [expected_best_of_k(values[row], k, lower, worst=worst) for row in indices]
        assert fast == pytest.approx([-e if lower else e for e in exact])


def rerun_runs(phases: dict[str, dict[str, list[float]]]) -> "pd.DataFrame":
    """Runs of experiments s-defaults (trial 0) and s-best (trial 3) from {experiment: {objective: fids}}."""
    import pandas as pd

    rows = []
    for experiment, values in phases.items():
        trial = 0 if experiment.endswith("-defaults") else 3
        for objective, fids in values.items():
            for seed, fid in enumerate(fids, start=1):
                rows.append({"experiment": experiment, "dataset": "digits", "arch": "dcgan",
                             "objective": f"{objective}--t{trial:02d}", "seed": seed,
                             "status": "diverged" if np.isnan(fid) else "completed", "fid": fid,
                             "outcome_metric": "fid", "level_constant": 100.0})
    return pd.DataFrame(rows)


RANKING = {"rule": "ranking_differs", "experiment": "s", "dataset": "digits", "arch": "dcgan", "metric": "fid",
           "objectives": ["nsgan", "wgan", "lsgan"], "lower_is_better": True, "at_least": 1.0}


def test_largest_reversal_against_every_pair_by_hand() -> None:
    from wganbench.claims.at_budget import largest_reversal

    own = {"a": np.array([2.0]), "b": np.array([5.0]), "c": np.array([9.0])}
    tuned = {"a": np.array([4.0]), "b": np.array([1.0]), "c": np.array([3.5])}
    # leads (lower is better): own a>b by 3, a>c by 7, b>c by 4; tuned b>a by 3, c>a by 0.5, b>c by 2.5
    # reversals: (a, b): min(3, 3) = 3; (a, c): min(7, 0.5) = 0.5; (b, c): min(4, -2.5)
    effect, pair = largest_reversal(own, tuned, lower=True)
    assert effect == pytest.approx(3.0) and pair.startswith("a ahead of b")
    same = {k: v - 1.0 for k, v in own.items()}  # the same order tuned: no pair reverses, the effect is negative
    assert largest_reversal(own, same, lower=True)[0] == pytest.approx(-3.0)
    assert largest_reversal({k: -v for k, v in own.items()}, {k: -v for k, v in tuned.items()}, lower=False)[0] \
        == pytest.approx(3.0)


def test_ranking_differs_reproduced_on_a_reversal_and_contradicted_on_the_same_order(tmp_path) -> None:
    rng = np.random.default_rng(3)

    def seeds(centre: float) -> list[float]:
        return list(centre + rng.normal(0, 0.3, 7))

    own = {"nsgan": seeds(3.0), "wgan": seeds(9.0), "lsgan": seeds(6.0)}
    swapped = {"nsgan": seeds(4.0), "wgan": seeds(2.0), "lsgan": seeds(3.0)}  # wgan from last to first
    verdict = decide_one(RANKING, rerun_runs({"s-defaults": own, "s-best": swapped}), tmp_path)
    assert verdict.verdict == "reproduced", verdict.reason
    lead_own = np.mean(own["wgan"]) - np.mean(own["nsgan"])
    lead_tuned = np.mean(swapped["nsgan"]) - np.mean(swapped["wgan"])
    assert verdict.parts[0].effect == pytest.approx(min(lead_own, lead_tuned))
    assert "nsgan ahead of wgan" in verdict.parts[0].n
    kept = {name: list(np.array(v) - 1.0) for name, v in own.items()}  # every objective better, same order
    assert decide_one(RANKING, rerun_runs({"s-defaults": own, "s-best": kept}), tmp_path).verdict == "contradicted"
    # a swap inside the noise decides nothing either way
    close = {"nsgan": seeds(3.0), "wgan": seeds(3.1), "lsgan": seeds(6.0)}
    close_tuned = {"nsgan": seeds(3.1), "wgan": seeds(3.0), "lsgan": seeds(6.0)}
    tight = decide_one({**RANKING, "at_least": 0.05}, rerun_runs({"s-defaults": close, "s-best": close_tuned}), tmp_path)
    assert tight.verdict == "inconclusive"


def test_ranking_differs_counts_a_diverged_seed_as_the_constant_generator_and_needs_both_phases(tmp_path) -> None:
    own = {"nsgan": [3.0] * 4, "wgan": [float("nan")] * 4}  # WGAN diverged under its own setting
    tuned = {"nsgan": [3.0] * 4, "wgan": [2.0] * 4}
    verdict = decide_one({**RANKING, "objectives": ["nsgan", "wgan"]},
                         rerun_runs({"s-defaults": own, "s-best": tuned}), tmp_path)
    # nsgan led by 97 (a diverged seed is the constant generator, 100), and trails by 1 after the search
    assert verdict.parts[0].effect == pytest.approx(1.0) and "nsgan ahead of wgan" in verdict.parts[0].n
    verdict = decide_one({**RANKING, "objectives": ["nsgan", "wgan"]}, rerun_runs({"s-best": tuned}), tmp_path)
    assert verdict.verdict == "inconclusive" and "no reruns of nsgan (own setting), wgan (own setting)" in verdict.reason
    assert decide_one(RANKING, rerun_runs({}), tmp_path).verdict == "not run here"


def test_ranking_differs_does_not_find_a_reversal_in_noise(tmp_path) -> None:
    """Six identical objectives, identical in both phases: the largest of 30 noisy pair reversals is
    biased upwards, and choosing it inside the bootstrap would call it a finding (the first version
    did, in 40% of such grids at this noise)."""
    names = ["nsgan", "gan", "lsgan", "wgan", "wgan-gp", "dragan"]
    for trial in range(8):
        rng = np.random.default_rng(100 + trial)
        phases = {phase: {o: list(3.0 + rng.normal(0, 5.0, 7)) for o in names} for phase in ("s-defaults", "s-best")}
        verdict = decide_one({**RANKING, "objectives": names}, rerun_runs(phases), tmp_path)
        assert verdict.verdict != "reproduced", (trial, verdict.parts[0].effect, verdict.parts[0].ci_low)


def test_ranking_differs_needs_seeds_and_every_objective_in_both_phases(tmp_path) -> None:
    one_seed = {"s-defaults": {"nsgan": [3.0], "wgan": [9.0], "lsgan": [6.0]},
                "s-best": {"nsgan": [4.0], "wgan": [2.0], "lsgan": [3.0]}}
    verdict = decide_one(RANKING, rerun_runs(one_seed), tmp_path)
    assert verdict.verdict == "inconclusive" and "fewer than 3 seeds" in verdict.reason
    partial = {"s-defaults": {"nsgan": [3.0] * 4, "wgan": [9.0] * 4, "lsgan": [6.0] * 4},
               "s-best": {"nsgan": [4.0] * 4, "wgan": [2.0] * 4}}
    verdict = decide_one(RANKING, rerun_runs(partial), tmp_path)
    assert verdict.verdict == "inconclusive" and "lsgan (best trial)" in verdict.reason


def test_ranking_differs_without_a_constant_level_counts_a_diverged_seed_as_the_worst_completed(tmp_path) -> None:
    """On 8 Gaussians the outcome metric is the mode count, not W1: a diverged seed has no constant
    level on W1 and counts as the cell's worst completed seed, never as a missing value."""
    runs = rerun_runs({"s-defaults": {"nsgan": [3.0] * 5, "wgan": [5.0] * 5},
                       "s-best": {"nsgan": [3.0, 3.0, float("nan"), float("nan"), float("nan")], "wgan": [4.0] * 5}})
    runs["outcome_metric"] = "modes_covered"
    verdict = decide_one({**RANKING, "objectives": ["nsgan", "wgan"]}, runs, tmp_path)
    # nsgan's tuned seeds: 3, 3 and three at the worst completed value (5): mean 4.2, behind wgan's 4 by 0.2;
    # it led by 2 under the own settings: the reversal is min(2, 0.2)
    assert verdict.parts[0].effect == pytest.approx(0.2)
    assert "3 diverged or failed, counted at 5" in verdict.parts[0].n


def test_rerun_table_ranks_each_phase_apart() -> None:
    from wganbench.study_tables import BEST_PHASE, OWN_PHASE, rerun_table

    runs = rerun_runs({"s-defaults": {"nsgan": [3.0, 3.2], "wgan": [float("nan"), float("nan")]},
                       "s-best": {"nsgan": [3.0, 3.4], "wgan": [2.0, 2.2], "lsgan": [1.0, float("nan")]}})
    table = rerun_table(runs, {"s-best": "s", "s-defaults": "s"}, {"s": "fid"}, resamples=50,
                        phases={"s-best": BEST_PHASE, "s-defaults": OWN_PHASE}).set_index(["phase", "objective"])
    assert table.loc[(OWN_PHASE, "nsgan"), "rank"] == 1 and table.loc[(OWN_PHASE, "wgan"), "rank"] == 2
    assert table.loc[(OWN_PHASE, "wgan"), "diverged"] == 2
    assert table.loc[(BEST_PHASE, "wgan"), "rank"] == 1 and table.loc[(BEST_PHASE, "wgan"), "trial"] == 3
    assert table.loc[(BEST_PHASE, "nsgan"), "mean"] == pytest.approx(3.2)
    # lsgan's completed seed is the best, but its diverged one counts at the constant level (100): last
    assert table.loc[(BEST_PHASE, "lsgan"), "mean"] == pytest.approx(1.0)
    assert table.loc[(BEST_PHASE, "lsgan"), "rank"] == 3


def test_rerun_rank_fills_a_diverged_seed_as_the_ranking_claim_does(tmp_path) -> None:
    """Without a constant level (W1 on 8 Gaussians), a diverged seed counts as the worst completed seed
    over both phases. The tuned phase alone has a worst of 4.0 (nsgan would rank first at (3 + 4) / 2);
    over both phases the worst is 9.0 and nsgan ranks second, as the claim's effect says."""
    from wganbench.study_tables import BEST_PHASE, OWN_PHASE, rerun_table

    phases = {"s-defaults": {"nsgan": [3.0] * 3, "wgan": [9.0] * 3},
              "s-best": {"nsgan": [3.0, float("nan"), float("nan")], "wgan": [4.0] * 3}}
    runs = rerun_runs(phases)
    runs["outcome_metric"] = "modes_covered"
    table = rerun_table(runs, {"s-best": "s", "s-defaults": "s"}, {"s": "fid"}, resamples=50,
                        phases={"s-best": BEST_PHASE, "s-defaults": OWN_PHASE}).set_index(["phase", "objective"])
    assert table.loc[(BEST_PHASE, "nsgan"), "rank"] == 2 and table.loc[(BEST_PHASE, "wgan"), "rank"] == 1
    verdict = decide_one({**RANKING, "objectives": ["nsgan", "wgan"]}, runs, tmp_path)
    assert "counted at 9" in verdict.parts[0].n
    # nsgan tuned: (3 + 9 + 9) / 3 = 7, behind wgan's 4 by 3; it led by 6 under the own settings
    assert verdict.parts[0].effect == pytest.approx(3.0)


def test_own_setting_reruns_list_trial_zero_of_every_objective_with_the_rerun_seeds() -> None:
    from wganbench.search import SearchError, add_default_reruns, expand_searches

    config = {"objectives": {}, "experiments": {"s": {
        "datasets": ["8gaussians"], "objectives": ["nsgan", "wgan"], "archs": ["mlp"], "iterations": 10,
        "search": {"space": "narrow", "trials": 3, "seed": 0, "rerun_seeds": [4, 5], "rerun_defaults": True}}}}
    expand_searches(config, builtin_objectives())
    assert add_default_reruns(config) == {"s-defaults": "s"}
    defaults = config["experiments"]["s-defaults"]
    assert defaults["objectives"] == ["nsgan--t00", "wgan--t00"] and defaults["seeds"] == [4, 5]
    assert defaults["search"] is None and config["objectives"]["wgan--t00"] == builtin_objectives()["wgan"]
    with pytest.raises(SearchError, match="experiments.s-defaults"):
        add_default_reruns(config)


def test_the_landing_page_opens_a_study_on_its_budget_curves() -> None:
    import pandas as pd

    from wganbench.claims.scorecard import budget_block

    rows = [{"experiment": "s", "dataset": "digits", "arch": "dcgan", "objective": o, "metric": "fid", "k": k,
             "expected_best": value - 0.1 * k, "low": 0.0, "high": 9.0}
            for o, value in (("nsgan", 3.0), ("wgan", 5.0)) for k in range(1, 7)]
    text = budget_block(pd.DataFrame(rows))
    assert text.startswith("Budget curves\n-------------")
    assert all(f"k = {k}" in text for k in (1, 2, 4, 6)) and "k = 5" not in text  # powers of two, and N
    assert "<b>2.9</b>" in text and "<b>2.4</b>" in text and "<b>4.9</b>" not in text  # the best at each k
    assert budget_block(pd.DataFrame(columns=rows[0].keys())) == ""
