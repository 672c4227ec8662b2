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


def test_two_seeds_are_too_few_and_say_how_many_would_do(tmp_path: Path) -> None:
    runs = runs_table({("good", "a"): learned([2.0, 2.2]), ("bad", "a"): learned([9.0, 9.4])})
    (order,) = decide([claim(ORDER)], tables(runs, tmp_path), alpha=0.05)
    assert order.parts[0].decision == "reproduced"  # the interval alone would say so ...
    assert order.verdict == "inconclusive"  # ... but 2 vs 2 cannot reach p < 0.05 (min 1/6)
    assert "too few seeds" in order.reason
    # complete separation gives p = 1 / C(2n, n): 0.05 at n = 3 (not below α), 1/70 at n = 4
    assert order.seeds_needed == 4 and "~4 seeds" in order.reason


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
    assert order.verdict == "inconclusive" and "cells missing" in order.reason and "diverged" in order.reason
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

    # the critic's estimate falls with W1 in every run (a monotone map of it): rho = 1 per run
    curves = pd.DataFrame([point(seed, source, variable, 10 * i, value)
                           for seed in range(6) for i in range(10)
                           for source, variable, value in [("log", "distance_estimate", 2.0 / (i + 1) ** 2),
                                                           ("metrics", "w1", 1.0 / (i + 1) + 0.001 * seed)]])
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
    assert "| **order**: s | A 2017, Fig. 1 | **reproduced** |" in text
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
