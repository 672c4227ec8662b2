"""The verdict engine on synthetic tables whose verdicts are known in advance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wganbench.claims.catalogue import Claim, check_catalogue, load_catalogues
from wganbench.claims.rules import Tables
from wganbench.claims.scorecard import markdown, write_scorecard
from wganbench.claims.verdicts import benjamini_hochberg, decide
from wganbench.registry import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {"paper": "A 2017", "where": "Fig. 1", "quote": "it works"}


def runs_table(cells: dict[tuple[str, str], list[tuple[str, float]]]) -> pd.DataFrame:
    """(objective, arch) -> [(outcome, fid), ...], one row per seed, in experiment e / data set d."""
    rows = []
    for (objective, arch), seeds in cells.items():
        for seed, (outcome, fid) in enumerate(seeds):
            status = {"diverged": "diverged", "failed": "failed"}.get(outcome, "completed")
            rows.append({"experiment": "e", "dataset": "d", "objective": objective, "arch": arch, "seed": seed,
                         "status": status, "outcome": outcome, "fid": fid if status == "completed" else math.nan})
    return pd.DataFrame(rows)


def tables(runs: pd.DataFrame, tmp_path: Path, curves: pd.DataFrame | None = None) -> Tables:
    curves = curves if curves is not None else pd.DataFrame(columns=["experiment", "dataset", "objective", "arch",
                                                                      "seed", "status", "source", "variable",
                                                                      "iteration", "value"])
    return Tables(runs, curves, tmp_path, confidence=0.9, resamples=500, seed=0)


def claim(test: dict, id: str = "c") -> Claim:
    return Claim(id=id, source=SOURCE, statement="s", test=test, tested_by=["config/config.yaml"])


ORDER = {"rule": "ordering", "experiment": "e", "dataset": "d", "arch": "a", "metric": "fid",
         "better": "good", "worse": "bad", "lower_is_better": True}
LEARNS = {"rule": "learns", "experiment": "e", "dataset": "d", "arch": "a", "objective": "good", "at_least": 0.5}


def learned(fids: list[float]) -> list[tuple[str, float]]:
    return [("learned", f) for f in fids]


def test_clear_ordering_and_learning_are_reproduced(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0, 2.1, 1.9, 2.2, 2.05, 1.95]),
                       ("bad", "a"): [("failed to learn", f) for f in [9.0, 9.5, 8.8, 9.2, 9.9, 9.1]]})
    verdicts = decide([claim(ORDER, "order"), claim(LEARNS, "learns")], tables(runs, tmp_path), alpha=0.05)
    order, learns = verdicts
    assert order.verdict == "reproduced"
    # effect = mean(bad) - mean(good) in FID, positive for the claim
    assert order.parts[0].effect == pytest.approx(np.mean([9.0, 9.5, 8.8, 9.2, 9.9, 9.1]) - np.mean([2.0, 2.1, 1.9, 2.2, 2.05, 1.95]))
    assert order.parts[0].ci_low > 0
    # complete separation of 6 vs 6: the one-sided U p-value is 1 / C(12, 6)
    assert order.p_for == pytest.approx(1 / math.comb(12, 6))
    assert learns.verdict == "reproduced"
    assert learns.p_for == pytest.approx(0.5 ** 6)
    assert learns.parts[0].ci_low == pytest.approx(0.05 ** (1 / 6))  # one-sided 95% Clopper-Pearson bound


def test_reversed_ordering_and_no_learning_are_contradicted(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): [("failed to learn", f) for f in [9.0, 9.5, 8.8, 9.2, 9.9, 9.1]],
                       ("bad", "a"): learned([2.0, 2.1, 1.9, 2.2, 2.05, 1.95])})
    order, learns = decide([claim(ORDER, "order"), claim(LEARNS, "learns")], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "contradicted"
    assert order.parts[0].ci_high < 0
    assert learns.verdict == "contradicted"
    assert learns.p_against == pytest.approx(0.5 ** 6)


def test_three_seeds_are_too_few_and_say_how_many_would_do(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0, 2.2, 2.1]), ("bad", "a"): learned([9.0, 9.4, 9.2])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.parts[0].decision == "reproduced"  # the interval alone would say so ...
    assert order.verdict == "inconclusive"  # ... but 3 vs 3 cannot reach p < 0.05 (min 1/20)
    assert "too few seeds" in order.reason
    # complete separation gives p = 1 / C(2n, n): 0.05 at n = 3 (not below α), 1/70 at n = 4
    assert order.seeds_needed == 4 and "~4 seeds" in order.reason


def test_two_seeds_a_side_do_not_decide(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0, 2.2]), ("bad", "a"): learned([9.0, 9.4])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.parts[0].decision == "inconclusive" and "fewer than 3 judged seeds a side" in order.reason


def test_straddling_interval_is_inconclusive(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    runs = runs_table({("good", "a"): learned(list(5 + rng.normal(size=5))),
                       ("bad", "a"): learned(list(5.2 + rng.normal(size=5)))})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "inconclusive"
    assert "straddles" in order.reason
    assert order.parts[0].ci_low < 0 < order.parts[0].ci_high
    assert order.seeds_needed is not None and order.seeds_needed > 5


def test_missing_and_diverged_cells(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): [("diverged", math.nan)] * 3, ("bad", "a"): learned([9.0, 9.4, 9.1])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    # diverged runs rank worst: 3 vs 3 against the claim, but the exact p (1/20 with ties) is not below α
    assert order.parts[0].decision == "contradicted" and "3 diverged, ranked worst" in order.parts[0].n
    assert order.verdict == "inconclusive" and order.p_against == pytest.approx(1 / 20)
    runs = runs_table({("good", "a"): [("failed", math.nan)] * 3, ("bad", "a"): learned([9.0, 9.4, 9.1])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "inconclusive" and "cells missing" in order.reason and "3 runs failed" in order.reason
    elsewhere = {**ORDER, "experiment": "paper-grid"}
    (absent,) = decide([claim(elsewhere)], tables(runs, tmp_path), alpha=0.05)
    assert absent.verdict == "not run here" and "config/config.yaml" in absent.reason


def test_equivalence_band_contradicts_a_claimed_difference(tmp_path: Path) -> None:
    same = [5.0, 5.01, 4.99, 5.02, 4.98, 5.0, 5.01, 4.99]
    runs = runs_table({("good", "a"): learned(same), ("bad", "a"): learned([v + 0.001 for v in same])})
    (order,) = decide([claim({**ORDER, "equivalence": 0.5})], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "contradicted"


def test_all_of_needs_every_part_and_one_contradiction_is_enough(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0] * 6), ("bad", "a"): [("failed to learn", 9.0)] * 6})
    both = claim({"all_of": [LEARNS, {**LEARNS, "objective": "bad", "at_most": 0.5, "at_least": None}]})
    both.test["all_of"][1].pop("at_least")
    (verdict,) = decide([both], tables(runs, tmp_path), alpha=0.05)
    assert verdict.verdict == "reproduced"
    mixed = claim({"all_of": [LEARNS, {**LEARNS, "objective": "bad"}]})
    (verdict,) = decide([mixed], tables(runs, tmp_path), alpha=0.05)
    assert verdict.verdict == "contradicted"
    assert verdict.p_against == pytest.approx(2 * 0.5 ** 6)  # Bonferroni within the claim


def test_benjamini_hochberg_matches_scipy_and_demotes(tmp_path: Path) -> None:
    p = [0.01, 0.04, 0.03, 0.5, float("nan")]
    q = benjamini_hochberg(p)
    assert np.allclose(q[:4], stats.false_discovery_control(p[:4]))
    assert math.isnan(q[4])
    # 5/5 learned: p = 1/32 alone passes; beside four claims at p = 1 its q is 5/32 and it is demoted
    runs = runs_table({("good", "a"): learned([2.0] * 5), ("bad", "a"): [("failed to learn", 9.0)] * 5,
                       ("mid", "a"): [("learned", 2.0), ("failed to learn", 9.0)] * 2 + [("learned", 2.0)]})
    alone = decide([claim(LEARNS)], tables(runs, tmp_path), alpha=0.05)
    assert alone[0].verdict == "reproduced"
    others = [claim({**LEARNS, "objective": "mid"}, f"m{i}") for i in range(4)]
    crowd = decide([claim(LEARNS)] + others, tables(runs, tmp_path), alpha=0.05)
    assert crowd[0].verdict == "inconclusive" and "Benjamini-Hochberg" in crowd[0].reason


def test_success_by_metric_counts_seeds(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([8, 8, 8, 8, 8, 7])}).rename(columns={"fid": "modes_covered"})
    test = {**LEARNS, "success": {"metric": "modes_covered", "at_least": 8}}
    (verdict,) = decide([claim(test)], tables(runs, tmp_path), alpha=0.05)
    assert verdict.parts[0].n == "5/6 modes_covered ≥ 8"
    assert verdict.parts[0].effect == pytest.approx(5 / 6)


def test_correlation_rule_reads_curves(tmp_path: Path) -> None:
    def point(seed: int, source: str, variable: str, iteration: int, value: float) -> dict:
        return {"experiment": "e", "dataset": "d", "objective": "good", "arch": "a", "seed": seed,
                "status": "completed", "source": source, "variable": variable, "iteration": iteration, "value": value}

    # the critic's estimate follows W1's own ups and downs around its trend in every run (a
    # monotone map of it): the partial rho on iteration is 1 per run
    wiggle = [0.3, -0.2, 0.25, -0.1, 0.15, -0.3, 0.05, -0.05, 0.2, -0.25]
    curves = pd.DataFrame([point(seed, source, variable, 10 * i, value)
                           for seed in range(6) for i in range(10)
                           for source, variable, value in [("log", "distance_estimate", (1.0 / (i + 1) + 0.1 * wiggle[i]) ** 2),
                                                           ("metrics", "w1", 1.0 / (i + 1) + 0.1 * wiggle[i] + 0.001 * seed)]])
    runs = runs_table({("good", "a"): learned([1.0] * 6)})
    test = {"rule": "correlation", "experiment": "e", "dataset": "d", "arch": "a", "objective": "good",
            "variable": "distance_estimate", "metric": "w1", "at_least": 0.5}
    (verdict,) = decide([claim(test)], tables(runs, tmp_path, curves), alpha=0.05)
    assert verdict.parts[0].effect == pytest.approx(1.0)
    assert verdict.verdict == "reproduced"
    assert verdict.p_for == pytest.approx(1 / 64)  # Wilcoxon signed-rank, 6 positive differences


def test_closed_form_and_bounds_on_a_theory_table(tmp_path: Path) -> None:
    folder = tmp_path / "theory" / "t"
    folder.mkdir(parents=True)
    pd.DataFrame({"theta": [-1.0, 0.0, 1.0], "w1": [1.0, 0.0, 1.0], "est": [1.05, 0.0, 0.97],
                  "kl": [math.inf, 0.0, math.inf], "g": [1e-9, 1.0, 2e-9], "h": [1.0, 1.0, 1.0]}).to_csv(folder / "x.csv", index=False)
    t = tables(pd.DataFrame(), tmp_path)
    tests = {
        "close": {"rule": "closed_form", "table": "theory/t/x.csv", "column": "est", "expected": "w1", "tolerance": 0.1},
        "far": {"rule": "closed_form", "table": "theory/t/x.csv", "column": "est", "expected": "w1", "tolerance": 0.01},
        "inf": {"rule": "closed_form", "table": "theory/t/x.csv", "where": {"theta": {"abs_min": 0.5}}, "column": "kl",
                "expected": "inf", "tolerance": 0},
        "ratio": {"rule": "ratio", "table": "theory/t/x.csv", "numerator": {"column": "g", "where": {"theta": {"abs_min": 0.5}}},
                  "denominator": {"column": "h"}, "log10_at_most": -3},
        "bound": {"rule": "table_bound", "table": "theory/t/x.csv", "column": "est", "reduce": "range", "at_most": 0.5},
        "absent": {"rule": "closed_form", "table": "theory/none/y.csv", "column": "a", "expected": 1, "tolerance": 0},
    }
    verdicts = {v.claim.id: v for v in decide([claim(t_, name) for name, t_ in tests.items()], t, alpha=0.05)}
    assert verdicts["close"].verdict == "reproduced"
    assert verdicts["close"].parts[0].effect == pytest.approx(0.05)
    assert verdicts["far"].verdict == "contradicted" and "0.05 > 0.01" in verdicts["far"].reason
    assert verdicts["inf"].verdict == "reproduced"
    assert verdicts["ratio"].verdict == "reproduced"
    assert verdicts["ratio"].parts[0].effect == pytest.approx(math.log10(1.5e-9))
    assert verdicts["bound"].verdict == "contradicted"  # range 1.05
    assert verdicts["absent"].verdict == "not run here"
    assert all(v.p_for is None for v in verdicts.values())  # exact checks are outside the correction


def test_malformed_claims_get_one_line_naming_the_key(tmp_path: Path) -> None:
    good = {"id": "x", "source": SOURCE, "statement": "s", "tested_by": ["config/config.yaml"], "test": ORDER}
    with pytest.raises(ConfigError, match=r"claims\.0\.test.*margin"):
        check_catalogue({"claims": [{**good, "test": {**ORDER, "margin": -1}}]}, "mine.yaml")
    with pytest.raises(ConfigError, match=r"claims\.0.*'sourse'"):
        check_catalogue({"claims": [{**{k: v for k, v in good.items() if k != "source"}, "sourse": SOURCE}]}, "mine.yaml")
    with pytest.raises(ConfigError, match=r"given twice"):
        check_catalogue({"claims": [good, good]}, "mine.yaml")
    with pytest.raises(ConfigError, match=r"claims\.0\.test\.rule': 'orderring' is not one of"):
        check_catalogue({"claims": [{**good, "test": {**ORDER, "rule": "orderring"}}]}, "mine.yaml")
    closed = {"rule": "closed_form", "table": "theory/a/b.csv", "column": "c", "expected": 1}
    with pytest.raises(ConfigError) as missing:
        check_catalogue({"claims": [good, {**good, "id": "y", "test": closed}]}, "mine.yaml")
    assert str(missing.value) == "mine.yaml: config key 'claims.1.test': 'tolerance' is a required property"
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalogues([missing])


def test_the_shipped_catalogue_is_valid_and_covers_the_papers() -> None:
    claims = load_catalogues([ROOT / "config" / "claims.yaml"])
    ids = {c.id for c in claims}
    assert len(ids) == len(claims) >= 12
    papers = {c.source["paper"].split(",")[0] for c in claims}
    assert {"Arjovsky", "Gulrajani et al. 2017", "Bellemare et al. 2017", "Nowozin"} <= {p.split(" ")[0] if p.startswith(("Arjovsky", "Nowozin")) else p for p in papers}


def test_scorecard_files(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0] * 6), ("bad", "a"): [("failed to learn", 9.0)] * 6})
    verdicts = decide([claim(ORDER, "order"), claim({**ORDER, "experiment": "x"}, "away")], tables(runs, tmp_path), 0.05)
    written = write_scorecard(verdicts, 0.05, tmp_path / "tables", tmp_path / "scorecard.md", tmp_path / "landing.rst", "T")
    frame = pd.read_csv(written[0])
    assert list(frame.columns) == list(type(verdicts[0]).COLUMNS) == list(verdicts[0].row())
    assert list(frame["claim"]) == ["order", "away"]
    assert list(frame["verdict"]) == ["reproduced", "not run here"]
    text = markdown(verdicts, 0.05, "T")
    assert text.index("## A 2017") < text.index("| **order** | **reproduced** | 7 [7, 7] | 6 vs 6 |")
    assert "empirical claims: 1 reproduced, 1 not run here; theory checks: none." in text
    assert "- **order** (A 2017, Fig. 1): s Quote: “it works”." in text
    assert "Benjamini-Hochberg" in text
    landing = (tmp_path / "landing.rst").read_text()
    assert landing.startswith("T\n=")
    assert "background-color:#d4edda" in landing and "background-color:#e2e3e5" in landing
    assert not any(o in landing.split(".. raw:: html")[1] for o in ("{{", "{%", "{#"))  # Jinja renders it first


def test_a_grid_without_catalogues_writes_an_empty_scorecard_that_says_so(tmp_path: Path) -> None:
    """A sweep (config/gamma-sweep.yaml: `claims: []`) runs the whole workflow; its scorecard is empty."""
    runs = runs_table({("good", "a"): learned([2.0] * 3)})
    (tmp_path / "tables").mkdir()
    runs.to_parquet(tmp_path / "tables" / "runs.parquet")
    pd.DataFrame(columns=["experiment"]).to_parquet(tmp_path / "tables" / "curves.parquet")
    from wganbench.cli import main

    assert main(["claims", "--tables", str(tmp_path / "tables"), "--results", str(tmp_path),
                 "--markdown", str(tmp_path / "scorecard.md")]) in (0, None)
    assert "No claims: this grid's config names no claims catalogue" in (tmp_path / "scorecard.md").read_text()
    assert pd.read_csv(tmp_path / "tables" / "claims.csv").empty


def test_a_method_with_several_settings_is_scored_by_its_best(tmp_path: Path) -> None:
    """SN-GAN table 2 reports each method at its best Adam setting: `objective` (or `better` /
    `worse`) may list the settings; the one with the best mean metric stands for the method."""
    runs = runs_table({("sn-a", "a"): learned([30.0, 31.0, 29.5]), ("sn-b", "a"): learned([20.0, 20.4, 19.8]),
                       ("clip-a", "a"): learned([45.0, 44.0, 46.0]), ("clip-b", "a"): learned([60.0, 61.0, 59.0])})
    source = tables(runs, tmp_path)
    spec = {"experiment": "e", "dataset": "d", "arch": "a", "metric": "fid"}
    assert source.best_setting(spec, ["sn-a", "sn-b"]) == "sn-b"
    assert source.best_setting({**spec, "lower_is_better": False}, ["sn-a", "sn-b"]) == "sn-a"
    published = {"rule": "published", **spec, "objective": ["sn-a", "sn-b"], "value": 20.0, "band": 2.0}
    ordering = {"rule": "ordering", **spec, "better": ["sn-a", "sn-b"], "worse": ["clip-a", "clip-b"],
                "lower_is_better": True}
    found = decide([claim(published, "published"), claim(ordering, "ordering")], source, alpha=0.05)
    assert found[0].verdict == "reproduced" and found[0].parts[0].effect == pytest.approx(np.mean([20.0, 20.4, 19.8]))
    assert found[1].parts[0].effect == pytest.approx(45.0 - np.mean([20.0, 20.4, 19.8]))
    entry = {"id": "best", "source": SOURCE, "statement": "s", "tested_by": ["config/config.yaml"], "test": published}
    assert check_catalogue({"claims": [entry]}, "mine.yaml")[0].test["objective"] == ["sn-a", "sn-b"]


# --- review items of the verdict engine: each fails on the engine before the still-improving work --

def test_runs_that_failed_with_an_error_leave_n_and_are_named(tmp_path: Path) -> None:
    """7 runs out of memory are not 7 failures to learn: no verdict, and the row says why."""
    runs = runs_table({("good", "a"): [("failed", math.nan)] * 7})
    runs["reason"] = "out of memory"
    (verdict,) = decide([claim(LEARNS)], tables(runs, tmp_path), alpha=0.05)
    assert verdict.verdict == "inconclusive"
    assert "7 runs failed: out of memory" in verdict.reason and "7 runs failed" in verdict.parts[0].n


def test_diverged_runs_rank_worst_in_an_ordering(tmp_path: Path) -> None:
    """3 survivors with a good FID and 4 diverged runs do not beat 7 runs that all completed."""
    runs = runs_table({("good", "a"): learned([2.0, 2.1, 1.9]) + [("diverged", math.nan)] * 4,
                       ("bad", "a"): learned([5.0, 5.1, 4.9, 5.2, 5.05, 4.95, 5.0])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict != "reproduced"
    assert order.parts[0].n.startswith("7 vs 7 (4 diverged, ranked worst)")


def test_nan_rows_never_reproduce_an_exact_check(tmp_path: Path) -> None:
    folder = tmp_path / "theory" / "t"
    folder.mkdir(parents=True)
    pd.DataFrame({"x": [1.0, math.nan, math.nan, math.nan], "w": [1.0, 1.0, 1.0, 1.0],
                  "inf": [math.inf] * 4}).to_csv(folder / "x.csv", index=False)
    t = tables(pd.DataFrame(), tmp_path)
    tests = {
        "closed": {"rule": "closed_form", "table": "theory/t/x.csv", "column": "x", "expected": "w", "tolerance": 0.1},
        "bound": {"rule": "table_bound", "table": "theory/t/x.csv", "column": "x", "reduce": "max", "at_most": 2},
        "ratio": {"rule": "ratio", "table": "theory/t/x.csv", "numerator": {"column": "x"}, "denominator": {"column": "w"},
                  "log10_at_most": 1},
        "inf_ratio": {"rule": "ratio", "table": "theory/t/x.csv", "numerator": {"column": "inf"},
                      "denominator": {"column": "inf"}, "log10_at_most": 1},
        "inf_expected": {"rule": "closed_form", "table": "theory/t/x.csv", "column": "w", "expected": "inf", "tolerance": 0},
    }
    verdicts = {v.claim.id: v for v in decide([claim(t_, name) for name, t_ in tests.items()], t, alpha=0.05)}
    for name in ("closed", "bound", "ratio"):
        assert verdicts[name].verdict == "inconclusive" and "3 of 4 selected rows" in verdicts[name].reason
    assert verdicts["inf_ratio"].verdict == "inconclusive" and "undefined" in verdicts["inf_ratio"].reason
    assert verdicts["inf_expected"].verdict == "contradicted"  # a finite value where the truth is infinite


def test_an_equivalence_band_over_the_claimed_side_is_refused() -> None:
    good = {"id": "x", "source": SOURCE, "statement": "s", "tested_by": ["config/config.yaml"],
            "test": {**ORDER, "margin": 0, "equivalence": 0.5}}
    with pytest.raises(ConfigError) as refused:
        check_catalogue({"claims": [good]}, "mine.yaml")
    message = str(refused.value)
    assert "\n" not in message and "claims.0.test.equivalence" in message and "margin" in message
    nested = {**good, "test": {"all_of": [LEARNS, {**ORDER, "margin": 0.2, "equivalence": 0.3}]}}
    with pytest.raises(ConfigError, match=r"claims\.0\.test\.all_of\.1\.equivalence"):
        check_catalogue({"claims": [nested]}, "mine.yaml")
    assert check_catalogue({"claims": [{**good, "test": {**ORDER, "margin": 0.5, "equivalence": 0.5}}]}, "mine.yaml")


def test_a_supported_difference_inside_the_old_band_is_not_contradicted(tmp_path: Path) -> None:
    """With margin 0 and a ±0.5 band, a clear +0.3 difference used to be 'contradicted'."""
    rng = np.random.default_rng(1)
    runs = runs_table({("good", "a"): learned(list(5.0 + 0.01 * rng.normal(size=8))),
                       ("bad", "a"): learned(list(5.3 + 0.01 * rng.normal(size=8)))})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "reproduced"


def test_all_of_contradiction_p_comes_from_the_contradicting_part(tmp_path: Path) -> None:
    """A strongly supported part must not lend its tiny p-value to the contradiction of another."""
    runs = runs_table({("good", "a"): learned([2.0, 2.1, 1.9, 2.2, 2.05, 1.95, 2.0, 2.1, 2.2, 1.8]),
                       ("bad", "a"): [("failed to learn", f) for f in [9.0, 9.5, 8.8, 9.2, 9.9, 9.1, 9.3, 9.4, 9.6, 8.9]],
                       ("weak", "a"): [("learned", 2.0)] + [("failed to learn", 9.0)] * 4})
    both = claim({"all_of": [ORDER, {**LEARNS, "objective": "weak"}]})
    (verdict,) = decide([both], tables(runs, tmp_path), alpha=0.05)
    p_learns_against = stats.binomtest(1, 5, 0.5, alternative="less").pvalue
    assert verdict.p_against == pytest.approx(min(1.0, 2 * p_learns_against))
    assert verdict.verdict == "inconclusive"  # 1/5 cannot contradict at 0.05 (p = 0.19 x 2)


def test_one_over_iteration_does_not_track_quality(tmp_path: Path) -> None:
    """Two series that both merely fall during training (1/iteration vs a noisy falling W1) have no
    partial correlation on iteration: a tracking claim is not reproduced."""
    rng = np.random.default_rng(0)

    def point(seed: int, source: str, variable: str, iteration: int, value: float) -> dict:
        return {"experiment": "e", "dataset": "d", "objective": "good", "arch": "a", "seed": seed,
                "status": "completed", "source": source, "variable": variable, "iteration": iteration, "value": value}

    rows = []
    for seed in range(8):
        for i in range(1, 21):
            rows.append(point(seed, "log", "distance_estimate", 50 * i, 1.0 / (50 * i)))
            rows.append(point(seed, "metrics", "w1", 50 * i, 2.0 / i + 0.05 * rng.normal()))
    runs = runs_table({("good", "a"): learned([1.0] * 8)})
    test = {"rule": "correlation", "experiment": "e", "dataset": "d", "arch": "a", "objective": "good",
            "variable": "distance_estimate", "metric": "w1", "at_least": 0.3}
    (verdict,) = decide([claim(test)], tables(runs, tmp_path, pd.DataFrame(rows)), alpha=0.05)
    assert verdict.parts[0].effect == pytest.approx(0.0, abs=1e-9)
    assert "raw ρ 0.89" in verdict.parts[0].n  # what the old rule scored: it would have passed 0.5
    assert verdict.verdict == "contradicted"


def with_outcomes(cells: dict[tuple[str, str], list[str]]) -> pd.DataFrame:
    rows = []
    for (objective, arch), outcomes in cells.items():
        for seed, outcome in enumerate(outcomes):
            status = "diverged" if outcome == "diverged" else "completed"
            rows.append({"experiment": "e", "dataset": "d", "objective": objective, "arch": arch, "seed": seed,
                         "status": status, "outcome": outcome, "fid": {"learned": 2.0}.get(outcome, 40.0),
                         "iterations": 1000, "iterations_needed": 2400.0 if outcome == "still improving" else math.nan})
    return pd.DataFrame(rows)


FAILS = {**LEARNS, "objective": "bad", "at_most": 0.5}
FAILS.pop("at_least")


def test_still_improving_runs_cannot_make_a_failure(tmp_path: Path) -> None:
    runs = with_outcomes({("good", "a"): ["still improving"] * 6 + ["failed to learn"]})
    (verdict,) = decide([claim(LEARNS)], tables(runs, tmp_path), alpha=0.05)
    assert verdict.verdict == "inconclusive"
    assert "6 of 7 runs are still improving" in verdict.reason and "2,400 more iterations" in verdict.reason
    plateau = with_outcomes({("good", "a"): ["failed to learn"] * 7})
    (verdict,) = decide([claim(LEARNS)], tables(plateau, tmp_path), alpha=0.05)
    assert verdict.verdict == "contradicted"


def test_a_fails_claim_needs_a_positive_control_that_learns(tmp_path: Path) -> None:
    nothing = with_outcomes({("bad", "a"): ["failed to learn"] * 7, ("good", "a"): ["failed to learn"] * 7})
    control = claim({**FAILS, "control": "good"})
    (verdict,) = decide([control], tables(nothing, tmp_path), alpha=0.05)
    assert verdict.verdict == "inconclusive" and "nothing learns on this cell" in verdict.reason
    contrast = with_outcomes({("bad", "a"): ["failed to learn"] * 7, ("good", "a"): ["learned"] * 7})
    (verdict,) = decide([control], tables(contrast, tmp_path), alpha=0.05)
    assert verdict.verdict == "reproduced" and "control good: 7/7 learned" in verdict.parts[0].n
    # the standard GAN still improving: its failure is not established
    improving = with_outcomes({("bad", "a"): ["still improving"] * 7, ("good", "a"): ["learned"] * 7})
    (verdict,) = decide([control], tables(improving, tmp_path), alpha=0.05)
    assert verdict.verdict == "inconclusive" and "still improving" in verdict.reason


def test_a_claim_its_control_blocks_is_untested_and_leaves_the_multiplicity_family(tmp_path: Path) -> None:
    """A claim decided only where its positive control learns was not tested where the control
    fails: it must not dilute the Benjamini-Hochberg correction of the claims that were."""
    runs = with_outcomes({("good", "a"): ["learned"] * 7, ("bad", "a"): ["failed to learn"] * 7,
                          ("good", "b"): ["failed to learn"] * 7, ("bad", "b"): ["failed to learn"] * 7})
    tested = claim(LEARNS, id="tested")
    blocked = claim({**FAILS, "arch": "b", "control": "good"}, id="blocked")
    alone = decide([tested], tables(runs, tmp_path), alpha=0.05)[0]
    together = {v.claim.id: v for v in decide([tested, blocked], tables(runs, tmp_path), alpha=0.05)}
    assert together["blocked"].verdict == "inconclusive" and together["blocked"].p_for is None
    assert together["tested"].q_for == pytest.approx(alone.q_for)
    ordered = claim({**ORDER, "arch": "b", "control": "good"}, id="ordered")
    (verdict,) = decide([ordered], tables(runs, tmp_path), alpha=0.05)
    assert verdict.verdict == "inconclusive" and verdict.p_for is None and verdict.p_against is None


def test_an_ordering_whose_loser_still_improves_is_not_decided(tmp_path: Path) -> None:
    runs = with_outcomes({("good", "a"): ["learned"] * 7, ("bad", "a"): ["still improving"] * 7})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.verdict == "inconclusive" and "budget artifact" in order.reason


def shipped(claim_id: str) -> Claim:
    return next(c for c in load_catalogues([ROOT / "config" / "claims.yaml"]) if c.id == claim_id)


def test_gradient_norms_must_explode_at_01_and_vanish_below(tmp_path: Path) -> None:
    """Figure 1b: clipping at c = 0.1 explodes, at c <= 0.01 vanishes. Norms that all vanish (any
    scale offset passed the old |log10 ratio| >= 2 rule) contradict the claim."""
    folder = tmp_path / "theory" / "gradient-norms"
    folder.mkdir(parents=True)

    def table(scale_01: float) -> None:
        rows = [{"method": method, "layer": layer, "grad_norm": scale * 1.1 ** layer,
                 "log10_grad_norm": math.log10(scale * 1.1 ** layer)}
                for method, scale in (("gp", 1.0), ("clip_0.1", scale_01), ("clip_0.01", 1e-4), ("clip_0.001", 1e-6))
                for layer in range(12)]
        pd.DataFrame(rows).to_csv(folder / "gradient_norms.csv", index=False)

    claim_ = shipped("wgangp-fig1b-gradient-norms")
    table(1e4)  # explodes at 0.1, vanishes below
    assert decide([claim_], tables(pd.DataFrame(), tmp_path), 0.05)[0].verdict == "reproduced"
    table(1e-3)  # vanishes at 0.1 too: the paper says it explodes
    assert decide([claim_], tables(pd.DataFrame(), tmp_path), 0.05)[0].verdict == "contradicted"


def test_parallel_lines_checks_only_what_was_computed() -> None:
    """The js/kl/tv columns are the closed forms themselves: comparing them with their constants tested nothing."""
    columns = {part["column"] for part in shipped("wgan-example1-parallel-lines").parts}
    assert not columns & {"js", "kl", "tv"}
    assert {"w1_gp", "js_discriminator", "w1_gp_dtheta", "js_discriminator_dtheta"} <= columns


def test_figure_6_is_a_contrast_with_a_positive_control() -> None:
    parts = shipped("wgan-fig6-gan-fails-wgan-learns-without-batchnorm").parts
    assert {p["rule"] for p in parts} == {"ordering", "learns"}
    fails = next(p for p in parts if p.get("at_most") is not None)
    assert fails["objective"] == "nsgan" and fails["control"] == "wgan"


def test_a_machine_sensitive_claim_is_at_most_inconclusive_and_says_so(tmp_path: Path) -> None:
    """A verdict that moved between two numerical configurations of the same grid is no finding:
    the same evidence that reproduces the plain claim leaves the marked one inconclusive, named."""
    runs = runs_table({("good", "a"): learned([2.0, 2.1, 1.9, 2.2, 2.05, 1.95]),
                       ("bad", "a"): [("failed to learn", f) for f in [9.0, 9.5, 8.8, 9.2, 9.9, 9.1]]})
    note = "inconclusive with AVX2 kernels (config/README.md)"
    marked = Claim(id="marked", source=SOURCE, statement="s", test=ORDER, tested_by=["config/config.yaml"],
                   machine_sensitive=note)
    plain, sensitive = decide([claim(ORDER, "plain"), marked], tables(runs, tmp_path), alpha=0.05)
    assert plain.verdict == "reproduced"
    assert sensitive.verdict == "inconclusive"
    assert sensitive.reason == f"machine-sensitive: reproduced here, but {note}"
    text = markdown([plain, sensitive], alpha=0.05, title="t")
    assert "| **marked** | **inconclusive** (machine-sensitive) |" in text
    assert "| **plain** | **reproduced** |" in text
