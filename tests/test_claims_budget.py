"""Verdict over budget (wganbench/claims/budget.py): the runs table rebuilt as of each snapshot,
and the iteration from which a verdict held, on synthetic curves whose answer is known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from wganbench.claims.budget import draw_over_budget, held_since, runs_as_of, scale_of, verdicts_over_budget
from wganbench.claims.catalogue import Claim
from wganbench.claims.rules import Tables
from wganbench.trend import TrendRule

SOURCE = {"paper": "A 2017", "where": "Fig. 1", "quote": "it works"}
ITERATIONS = list(range(100, 1001, 100))
# FID levels: real 0.25, constant 100 -> threshold 27.5625 on FID (midpoint on root FID)
LEVELS = {"outcome_metric": "fid", "outcome_threshold": 27.5625, "level_real": 0.25, "level_constant": 100.0,
          "diversity_metric": None, "diversity_threshold": math.nan}


def grid(fast: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs, curves = [], []
    for objective, fids in fast.items():
        for seed in range(7):
            final = float(fids[-1]) + 0.01 * seed
            runs.append({"experiment": "e", "dataset": "digits", "objective": objective, "arch": "a", "seed": seed,
                         "image_size": 16, "status": "completed", "iterations": 1000, "fid": final,
                         "outcome": "learned" if final < 27.5625 else "failed to learn", **LEVELS})
            for iteration, value in zip(ITERATIONS, fids):
                curves.append({"experiment": "e", "dataset": "digits", "objective": objective, "arch": "a",
                               "seed": seed, "status": "completed", "source": "metrics", "variable": "fid",
                               "iteration": iteration, "value": float(value) + 0.01 * seed})
    return pd.DataFrame(runs), pd.DataFrame(curves)


LATE = np.array([90, 80, 70, 60, 50, 45, 40, 35, 30, 20.0])  # crosses the threshold at the last snapshot
EARLY = np.array([60, 20, 5, 4, 3, 3, 3, 3, 3, 3.0])  # learned from iteration 200 on


def claim(objective: str) -> Claim:
    return Claim(id=f"{objective}-learns", source=SOURCE, statement="s", tested_by=["config/config.yaml"],
                 test={"rule": "learns", "experiment": "e", "dataset": "digits", "arch": "a", "objective": objective,
                       "at_least": 0.5}, paper_budget={"iterations": 100000, "source": "the paper"})


def test_runs_as_of_an_iteration_reads_the_last_snapshot_and_redecides_the_outcome() -> None:
    runs, curves = grid({"late": LATE})
    at_900 = runs_as_of(runs, curves, 900, TrendRule())
    assert list(at_900["fid"].round(2)) == [round(30.0 + 0.01 * s, 2) for s in range(7)]
    assert set(at_900["outcome"]) == {"still improving"}  # falling steadily, above the threshold
    assert (at_900["iterations"] == 900).all()
    # at 500 the last 40% holds 3 snapshots, too few to tell a plateau from a fall: not a failure
    assert set(runs_as_of(runs, curves, 500, TrendRule())["outcome"]) == {"no plateau yet"}
    at_1000 = runs_as_of(runs, curves, 1000, TrendRule())
    assert set(at_1000["outcome"]) == {"learned"}


def test_a_verdict_that_appears_at_the_last_snapshot_held_only_there(tmp_path: Path) -> None:
    runs, curves = grid({"late": LATE, "early": EARLY})
    tables = Tables(runs, curves, tmp_path, confidence=0.9, resamples=200, seed=0)
    frame = verdicts_over_budget([claim("late"), claim("early")], tables, 0.05, TrendRule())
    late = frame[frame["claim"] == "late-learns"].set_index("iteration")["verdict"]
    assert late[1000] == "reproduced" and (late.drop(1000) != "reproduced").all()
    assert held_since(frame, "late-learns", "reproduced") == 1000
    assert held_since(frame, "early-learns", "reproduced") == 200
    assert held_since(frame, "late-learns", "contradicted") is None
    assert draw_over_budget(frame, tmp_path / "f.png").stat().st_size > 1000


def test_the_scale_says_size_iterations_and_share_of_the_paper() -> None:
    runs, _ = grid({"late": LATE})
    assert scale_of(claim("late"), runs) == "16 px digits, 1,000 it; 1.0% of the paper's 100,000 (the paper)"


def test_a_verdict_that_appeared_in_the_last_snapshots_is_not_settled(tmp_path: Path) -> None:
    from wganbench.claims.budget import settle
    from wganbench.claims.verdicts import decide

    runs, curves = grid({"late": LATE, "early": EARLY})
    tables = Tables(runs, curves, tmp_path, confidence=0.9, resamples=200, seed=0)
    claims = [claim("late"), claim("early")]
    verdicts = decide(claims, tables, 0.05)
    assert [v.verdict for v in verdicts] == ["reproduced", "reproduced"]
    settle(verdicts, verdicts_over_budget(claims, tables, 0.05, TrendRule()), runs, window=0.4)
    late, early = verdicts
    assert late.verdict == "inconclusive" and "not settled" in late.reason and "iteration 1,000 of 1,000" in late.reason
    assert early.verdict == "reproduced" and early.held_since == 200
    assert early.scale.startswith("16 px digits, 1,000 it")


def test_review_fixes_over_budget(tmp_path: Path) -> None:
    """A run that diverged before its first snapshot stays in every rebuilt table (as diverged once it
    has), and a metric without a snapshot yet is NaN, never the run's final value."""
    runs, curves = grid({"early": EARLY})
    runs = pd.concat([runs, runs.iloc[:1].assign(seed=99, status="diverged", iterations=50, fid=math.nan,
                                                 outcome="diverged")], ignore_index=True)
    runs["kid"] = 1.0  # a final metric the snapshots never measured
    at_500 = runs_as_of(runs, curves, 500, TrendRule())
    assert len(at_500) == 8 and at_500.set_index("seed").loc[99, "outcome"] == "diverged"
    assert at_500["kid"].isna().all()


def test_learned_runs_that_miss_a_success_bound_while_improving_are_unknowns(tmp_path: Path) -> None:
    """8 Gaussians: 6 of 8 modes is 'learned' (above the midpoint), but a claim that all 8 are covered
    cannot be contradicted while those runs still improve."""
    from wganbench.claims.verdicts import decide

    runs = pd.DataFrame([{"experiment": "e", "dataset": "d", "arch": "a", "objective": "gp", "seed": s,
                          "status": "completed", "outcome": "learned", "modes_covered": 6.0,
                          "trend": "still improving"} for s in range(7)])
    spec = {"rule": "learns", "experiment": "e", "dataset": "d", "arch": "a", "objective": "gp",
            "success": {"metric": "modes_covered", "at_least": 8}, "at_least": 0.5}
    one = Claim(id="c", source=SOURCE, statement="s", tested_by=["config/config.yaml"], test=spec)
    (verdict,) = decide([one], Tables(runs, pd.DataFrame(), tmp_path, 0.9, 200, 0), 0.05)
    assert verdict.verdict == "inconclusive" and "still improving" in verdict.reason
    (verdict,) = decide([one], Tables(runs.assign(trend="plateau"), pd.DataFrame(), tmp_path, 0.9, 200, 0), 0.05)
    assert verdict.verdict == "contradicted"


def settled(claims: list[Claim], runs: pd.DataFrame, curves: pd.DataFrame, tmp_path: Path) -> list:
    from wganbench.claims.budget import settle
    from wganbench.claims.verdicts import decide

    tables = Tables(runs, curves, tmp_path, confidence=0.9, resamples=200, seed=0)
    verdicts = decide(claims, tables, 0.05)
    settle(verdicts, verdicts_over_budget(claims, tables, 0.05, TrendRule()), runs, window=0.4)
    return verdicts


def test_one_seed_dipping_at_one_late_snapshot_does_not_unsettle_a_verdict(tmp_path: Path) -> None:
    """7 of 7 learned from iteration 200; at 900 one seed's FID spikes above the threshold: 6 of 7
    is not significant at that snapshot, but the share stayed above the claimed half. The verdict
    is settled (it held since 200); significance is judged once, on the final evaluation. Denser
    snapshots must not make a verdict harder to settle."""
    runs, curves = grid({"early": EARLY})
    spike = (curves["seed"] == 3) & (curves["iteration"] == 900)
    curves.loc[spike, "value"] = 40.0
    (verdict,) = settled([claim("early")], runs, curves, tmp_path)
    assert verdict.verdict == "reproduced" and verdict.held_since == 200, verdict.reason


def test_an_effect_that_changes_side_late_is_still_not_settled(tmp_path: Path) -> None:
    """Learned by every seed from 200 to 600, then all but two seeds fall back above the threshold
    until 900: the claimed side returned only at the end, so the verdict may not survive a longer run."""
    runs, curves = grid({"early": EARLY})
    relapse = (curves["seed"] >= 2) & curves["iteration"].between(700, 900)
    curves.loc[relapse, "value"] = 50.0
    (verdict,) = settled([claim("early")], runs, curves, tmp_path)
    assert verdict.verdict == "inconclusive" and "not settled" in verdict.reason
    assert verdict.held_since == 1000


def test_a_claim_is_settled_over_its_own_cells_snapshots(tmp_path: Path) -> None:
    """A grid whose toy experiment runs 5,000 iterations and whose digits cells stop at 1,000: a
    digits verdict that appeared at 700 held over 30% of its own budget, not over 94% of 5,000."""
    late = np.array([90, 80, 70, 60, 50, 40, 20, 5, 4, 3.0])  # learned from 700
    runs, curves = grid({"mid": late})
    toy_curves = curves.assign(experiment="toy", iteration=curves["iteration"] * 5)
    toy_runs = runs.assign(experiment="toy", iterations=5000)
    runs, curves = pd.concat([runs, toy_runs], ignore_index=True), pd.concat([curves, toy_curves], ignore_index=True)
    tables = Tables(runs, curves, tmp_path, confidence=0.9, resamples=200, seed=0)
    frame = verdicts_over_budget([claim("mid")], tables, 0.05, TrendRule())
    assert frame["iteration"].max() == 1000  # no rows past the claim's own runs
    (verdict,) = settled([claim("mid")], runs, curves, tmp_path)
    assert verdict.verdict == "inconclusive" and "iteration 700 of 1,000" in verdict.reason


def test_each_snapshot_is_decided_with_the_grids_resamples(tmp_path: Path, monkeypatch) -> None:
    """The last snapshot must give the scorecard's verdict on the same values: a smaller resample count
    raises the p-value floor, and a five-part claim on the 16-trial study read contradicted in the
    scorecard but inconclusive at its last snapshot when snapshots used 500 resamples."""
    import wganbench.claims.budget as budget

    runs, curves = grid({"late": LATE, "early": EARLY})
    seen: list[int] = []
    real_decide = budget.decide

    def spy(claims, tables, alpha):
        seen.append(tables.resamples)
        return real_decide(claims, tables, alpha)

    monkeypatch.setattr(budget, "decide", spy)
    tables = Tables(runs, curves, tmp_path, confidence=0.9, resamples=3000, seed=0)
    verdicts_over_budget([claim("late")], tables, 0.05, TrendRule())
    assert seen and set(seen) == {3000}
