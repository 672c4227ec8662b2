"""Training measurably learns, judged by the suite's own metrics and outcome thresholds.

A mis-wired objective would still "complete"; these runs must improve on their own iteration 0 and
end on the learned side of the threshold derived from a real and a constant generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wganbench.config import parse_overrides, resolve_cell
from wganbench.evaluate.levels import measure_levels
from wganbench.evaluate.run import evaluate_run
from wganbench.evaluate.settings import resolve_settings
from wganbench.outcomes import outcome, threshold_from_levels
from wganbench.train import train

pytestmark = pytest.mark.slow

WGAN_GP_TOY = {"objectives": {"wgan-gp-toy": {"loss": "wasserstein", "lipschitz": {"gradient_penalty": 0.1},
                                              "optimizer": {"name": "adam", "lr": 1.0e-4, "betas": [0.5, 0.9]},
                                              "n_critic": 5}}}


def run_and_measure(cell: dict, sets: list[str], out: Path, settings: dict, grid: dict | None = None) -> dict:
    cfg = resolve_cell(cell, grid=grid, overrides=parse_overrides(sets))
    assert train(cfg, out, progress=False)["status"] == "completed"
    return evaluate_run(out, settings)


def curve(metrics: dict, name: str) -> list[float]:
    return [point[name]["value"] for point in metrics["curves"]]


# nsgan is not here: on these 128-unit MLPs it collapses onto a streak between modes (W1 1.53 after
# 300 iterations from 1.38, seed 0), which is the claim the scorecard tests, not a wiring fault.
@pytest.mark.parametrize("objective", ["sngan", "wgan-gp-toy"])
def test_toy_objectives_halve_w1(objective: str, tmp_path: Path) -> None:
    settings = resolve_settings({"metrics": ["w1", "modes"], "device": "cpu"})
    cell = {"objective": objective, "arch": "mlp", "dataset": "8gaussians", "seed": 0, "iterations": 300}
    sets = ["mlp_hidden=128", "batch_size=128", "sample_count=512", "log_every=1", "threads=1"]
    metrics = run_and_measure(cell, sets, tmp_path / objective, settings, WGAN_GP_TOY)
    # one generator iteration: the same seed's generator as good as untrained
    start = run_and_measure({**cell, "iterations": 1}, sets, tmp_path / f"{objective}-start", settings, WGAN_GP_TOY)
    assert metrics["w1"]["value"] <= 0.5 * start["w1"]["value"], (metrics["w1"]["value"], start["w1"]["value"])


def test_wgan_gp_toy_settings_reach_most_modes(tmp_path: Path) -> None:
    """A wiring check: training moves samples onto most modes. Counted loosely (one high-quality
    sample a mode, mode_min_share 0); the default count (a fifth of an even share) finds the ring this
    leaves between the modes covering none at 1,000 iterations, which is the scorecard's finding."""
    settings = resolve_settings({"metrics": ["w1", "modes"], "device": "cpu", "mode_min_share": 0})
    cell = {"objective": "wgan-gp-toy", "arch": "mlp", "dataset": "8gaussians", "seed": 0, "iterations": 1000}
    metrics = run_and_measure(cell, ["mlp_hidden=128", "batch_size=128", "sample_count=512", "threads=1"],
                              tmp_path / "run", settings, WGAN_GP_TOY)
    assert metrics["modes_covered"]["value"] >= 5  # 8 Gaussians; the constant generator covers 0


def test_dcgan_digits_learns_and_is_judged_learned(classifier_dir: Path, tmp_path: Path) -> None:
    extractor_dir = classifier_dir
    settings = resolve_settings({"feature_extractor": "wganbench-classifier", "metrics": ["fid", "modes"],
                                 "extractor_dir": str(extractor_dir), "cache_dir": str(tmp_path / "cache"),
                                 "train_extractor": False, "device": "cpu"})
    cell = {"objective": "nsgan", "arch": "dcgan", "dataset": "digits", "seed": 0, "iterations": 600}
    sets = ["image_size=16", "ngf=16", "ndf=16", "batch_size=64", "snapshot_every=100", "sample_count=512",
            "threads=1"]
    metrics = run_and_measure(cell, sets, tmp_path / "run", settings)
    fids = curve(metrics, "fid")
    assert len(fids) == 6
    start = run_and_measure({**cell, "iterations": 1}, [*sets[:4], "sample_count=512", "threads=1"],
                            tmp_path / "start", settings)
    assert metrics["fid"]["value"] <= start["fid"]["value"] / 3
    assert metrics["modes_covered"]["value"] >= 8
    threshold = threshold_from_levels(measure_levels("digits", 16, 512, settings))
    assert threshold is not None and threshold.metric.name == "fid"
    assert outcome("completed", metrics["fid"]["value"], threshold)[0] == "learned"
    assert outcome("completed", start["fid"]["value"], threshold)[0] == "failed to learn"
    json.dumps(metrics)  # metrics.json stays serialisable
