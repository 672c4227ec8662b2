"""The verdict engine always answers: for any runs and curves table (effects from none to huge, 1 to
1,000 seeds, NaN and inf metrics, every run diverged or failed, cells missing), every claim of the
shipped catalogue gets one of the four verdicts, with finite seeds-needed estimates under the cap,
and `wganbench claims` writes the scorecard. Hypothesis generates the tables; its deadline bounds the
time of one example, so a seeds-needed loop that never returns (C(2n, n) for n in the millions) or
an overflow fails here instead of in the last job of a 30-minute grid."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from wganbench.claims.catalogue import load_catalogues
from wganbench.claims.rules import MAX_SEEDS, Tables, min_rank_p
from wganbench.claims.verdicts import decide

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = load_catalogues([ROOT / "config" / "claims.yaml"])
VERDICTS = {"reproduced", "contradicted", "inconclusive", "not run here"}
STATUSES = ["completed", "diverged", "failed"]
OUTCOME_OF = {"diverged": "diverged", "failed": "failed"}


def sampled_cells() -> list[tuple[str, str, str, str]]:
    """(experiment, data set, arch, objective) of every sampled part of the catalogue (and its control)."""
    cells = set()
    for claim in CLAIMS:
        for part in claim.parts:
            if "experiment" not in part:
                continue
            names = [part.get(k) for k in ("objective", "better", "worse", "control") if part.get(k)]
            for name in names:
                for objective in (name if isinstance(name, list) else [name]):
                    cells.add((part["experiment"], part["dataset"], part["arch"], objective))
    return sorted(cells)


CELLS = sampled_cells()
METRIC_VALUES = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan), st.just(math.inf),
                          st.just(-math.inf), st.floats(0, 10))


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A runs table over a random subset of the catalogue's cells, and their curves."""
    chosen = draw(st.lists(st.sampled_from(CELLS), unique=True, max_size=len(CELLS)))
    runs, curves = [], []
    for experiment, dataset, arch, objective in chosen:
        many = draw(st.booleans()) and draw(st.integers(0, 9)) == 0  # now and then a huge cell
        seeds = draw(st.integers(1, 1000)) if many else draw(st.integers(1, 9))
        centre = draw(st.floats(-100, 100))
        spread = draw(st.one_of(st.just(0.0), st.floats(1e-9, 1e3)))
        mode = draw(st.sampled_from(["normal", "all diverged", "all failed", "mixed", "weird"]))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        for seed in range(seeds):
            status = {"all diverged": "diverged", "all failed": "failed"}.get(
                mode, STATUSES[int(rng.integers(0, 3))] if mode == "mixed" else "completed")
            value = draw(METRIC_VALUES) if mode == "weird" and seed < 4 else centre + spread * rng.normal()
            outcome = OUTCOME_OF.get(status) or str(rng.choice(["learned", "failed to learn", "still improving"]))
            runs.append({"experiment": experiment, "dataset": dataset, "arch": arch, "objective": objective,
                         "seed": seed, "status": status, "reason": "out of memory" if status == "failed" else None,
                         "outcome": outcome, "iterations": 1000,
                         "iterations_needed": float(rng.integers(0, 10 ** 6)) if outcome == "still improving" else math.nan,
                         **{m: value if status == "completed" else math.nan
                            for m in ("fid", "w1", "modes_covered", "mode_kl")}})
            if seeds <= 20 and status == "completed":
                for iteration in range(50, 1001, 50):
                    trend = draw(st.sampled_from([1.0, -1.0, 0.0])) if iteration == 50 else None
                    level = value + (trend or 0.0) * 1000.0 / iteration
                    for source, variable, v in (("log", "distance_estimate", level + rng.normal()),
                                                ("metrics", "w1", level), ("metrics", "fid", level)):
                        curves.append({"experiment": experiment, "dataset": dataset, "arch": arch,
                                       "objective": objective, "seed": seed, "status": status, "source": source,
                                       "variable": variable, "iteration": iteration, "value": v})
    columns = ["experiment", "dataset", "objective", "arch", "seed", "status", "source", "variable", "iteration", "value"]
    return pd.DataFrame(runs), pd.DataFrame(curves, columns=columns)


@settings(max_examples=40, deadline=timedelta(seconds=30), suppress_health_check=[HealthCheck.too_slow,
                                                                                  HealthCheck.data_too_large])
@given(tables())
def test_every_claim_gets_one_of_four_verdicts(tmp_path_factory, generated) -> None:
    runs, curves = generated
    folder = tmp_path_factory.mktemp("results")
    verdicts = decide(CLAIMS, Tables(runs, curves, folder, confidence=0.9, resamples=200, seed=0), alpha=0.05)
    assert len(verdicts) == len(CLAIMS)
    for verdict in verdicts:
        assert verdict.verdict in VERDICTS, verdict
        if verdict.seeds_needed is not None:
            assert 2 <= verdict.seeds_needed <= MAX_SEEDS
        if verdict.verdict == "reproduced":
            assert all(p.decision == "reproduced" for p in verdict.parts)


@settings(max_examples=60, deadline=timedelta(seconds=5))
@given(st.integers(1, 10 ** 7), st.integers(1, 10 ** 7))
def test_the_rank_test_floor_is_finite_for_any_seed_count(n: int, m: int) -> None:
    p = min_rank_p(n, m)
    assert 0.0 <= p <= 1.0
    if n + m <= 60:
        assert math.isclose(p, 1 / math.comb(n + m, n), rel_tol=1e-9)


@settings(max_examples=30, deadline=timedelta(seconds=20))
@given(st.floats(0.0, 1e-3), st.integers(3, 40))
def test_a_tiny_effect_answers_with_the_cap(effect: float, seeds: int) -> None:
    """The default grid's crash: an effect so small that the seeds needed run into the millions."""
    rng = np.random.default_rng(seeds)
    rows = []
    for objective, shift in (("wgan", 0.0), ("nsgan", effect)):
        for seed in range(seeds):
            rows.append({"experiment": "architectures", "dataset": "digits", "arch": "mlp", "objective": objective,
                         "seed": seed, "status": "completed", "outcome": "learned",
                         "modes_covered": 8 + shift + rng.normal(), "mode_kl": 0.1 + rng.normal(), "fid": 2.0})
    claim = next(c for c in CLAIMS if c.id == "wgan-fig7-gan-collapses-mlp")
    (verdict,) = decide([claim], Tables(pd.DataFrame(rows), pd.DataFrame(), Path("."), 0.9, 200, 0), alpha=0.05)
    assert verdict.verdict in VERDICTS
    if verdict.verdict == "inconclusive" and verdict.seeds_needed is not None:
        assert verdict.seeds_needed <= MAX_SEEDS
