"""Toy 2-D metrics: W1 is POT's exact W1, a shift by v costs |v|, and the VEEGAN mode counts."""

from __future__ import annotations

import json

import numpy as np
import ot
import pytest

from wganbench.data import load_dataset
from wganbench.evaluate import evaluate_run, values
from wganbench.evaluate.toy import mode_stats, wasserstein1
from wganbench.registry import ConfigError
from wganbench.rundir import RunDir


def make_run(path, dataset: str, samples: np.ndarray, iteration: int = 100) -> RunDir:
    run = RunDir(path)
    run.write_config({"dataset": dataset, "image_size": None, "data_root": None, "seed": 0,
                      "objective": "wgan", "arch": "mlp", "iterations": iteration})
    run.write_samples(samples.astype(np.float32), iteration)
    run.write_status("completed", iteration)
    return run


def test_w1_is_pots_exact_w1() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.uniform(-1, 1, size=(200, 2))  # unequal sizes too
    expected = ot.emd2(ot.unif(300), ot.unif(200), ot.dist(x, y, metric="euclidean"), numItermax=10**7)
    distance, warning = wasserstein1(x, y)
    assert distance == pytest.approx(expected, rel=1e-12) and warning is None


def test_w1_of_a_shifted_cloud_is_the_shift_length() -> None:
    rng = np.random.default_rng(1)
    x, shift = rng.normal(size=(1000, 2)), np.array([3.0, 4.0])
    assert wasserstein1(x, x + shift)[0] == pytest.approx(5.0, abs=1e-9)  # same points moved: exactly |v|
    y = rng.normal(size=(1000, 2)) + shift  # fresh points: |v| up to sampling error (~n^-1/2)
    assert abs(wasserstein1(x, y)[0] - 5.0) < 0.15


def test_mode_counts_follow_the_unrolled_gan_protocol() -> None:
    data = load_dataset("8gaussians")
    real = data.reference("test", 2000).samples.numpy()
    stats = mode_stats(real, data.centres.numpy(), data.std)
    # a 2-D Gaussian puts 1 - exp(-9/2) = 98.9% of its mass within 3 standard deviations
    assert stats.modes_covered == 8 and stats.high_quality_share == pytest.approx(0.989, abs=0.01)
    collapsed = np.repeat(data.centres.numpy()[:1], 500, axis=0) + 0.5 * data.std
    assert mode_stats(collapsed, data.centres.numpy(), data.std).modes_covered == 1
    far = real + 10 * data.std  # every point misses its mode
    assert mode_stats(far, data.centres.numpy(), data.std).high_quality_share == 0.0
    assert mode_stats(far, data.centres.numpy(), data.std).modes_covered == 0


def test_evaluate_run_w1_matches_pot_on_the_same_points(tmp_path) -> None:
    data = load_dataset("25gaussians")
    samples = data.batch(400, seed=3, index=0).numpy()
    run = make_run(tmp_path / "run", "25gaussians", samples)
    metrics = evaluate_run(run.path, {"w1_points": 400, "curves": False})
    reference = data.reference("test", 400, seed=0).samples.double().numpy()
    expected = ot.emd2(ot.unif(400), ot.unif(400), ot.dist(samples.astype(np.float64), reference, metric="euclidean"),
                       numItermax=10**7)
    assert metrics["w1"]["value"] == pytest.approx(expected, rel=1e-12)
    assert metrics["w1"]["protocol"]["points"] == 400 and metrics["w1"]["protocol"]["library"] == "POT"
    assert values(metrics)["modes_covered"] == 25 and values(metrics)["high_quality_share"] > 0.97
    assert json.loads(run.metrics.read_text())["w1"]["value"] == metrics["w1"]["value"]


@pytest.mark.parametrize(("k", "density", "coverage"), [(1, 0.5, 0.5), (2, 0.5, 1.0)])
def test_density_and_coverage_by_hand(k: int, density: float, coverage: float) -> None:
    """Real points 0, 1, 3, 6 on a line, generated 0.5, 10, 20, 30. k = 1: radii 1, 1, 2, 3; 0.5 lies
    in the first two balls, the others in none: density 2 / (1 * 4), coverage 2/4. k = 2: radii
    3, 2, 3, 5; 0.5 lies in the first three, 10 in the last: density 4 / (2 * 4), coverage 1."""
    from wganbench.evaluate.density_coverage import density_coverage

    line = lambda *xs: np.array([[x, 0.0] for x in xs])  # noqa: E731
    assert density_coverage(line(0, 1, 3, 6), line(0.5, 10, 20, 30), k) == pytest.approx(
        {"density": density, "coverage": coverage})


def test_density_and_coverage_start_no_worker_pool(monkeypatch) -> None:
    """prdc asks scikit-learn for n_jobs=8; the job has one core, so the distances must be computed
    in its own thread (a joblib pool per call cost 6x the time). A pool would go through
    joblib.Parallel, which fails here; the values equal prdc's own call."""
    import joblib
    import prdc

    from wganbench.evaluate.density_coverage import density_coverage

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(64, 2)), rng.normal(size=(64, 2))
    expected = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)

    def no_pool(*args, **kwargs):
        raise AssertionError("a joblib worker pool was started")

    monkeypatch.setattr(joblib.Parallel, "__call__", no_pool)
    assert density_coverage(real, fake, 3) == {"density": expected["density"], "coverage": expected["coverage"]}


def test_toy_density_and_coverage_of_real_and_collapsed_samples(tmp_path) -> None:
    data = load_dataset("8gaussians")
    real_like = make_run(tmp_path / "real", "8gaussians", data.batch(500, seed=5, index=0).numpy())
    one_mode = data.batch(4000, seed=5, index=1).numpy()
    one_mode = one_mode[np.argsort(np.linalg.norm(one_mode - one_mode[0], axis=1))[:500]]  # the nearest mode
    collapsed = make_run(tmp_path / "collapsed", "8gaussians", one_mode)
    settings = {"w1_points": 500, "curves": False, "metrics": ["density_coverage"]}
    good, bad = (values(evaluate_run(run.path, settings)) for run in (real_like, collapsed))
    assert good["coverage"] > 0.9 and 0.8 < good["density"] < 1.2
    assert bad["coverage"] < 0.2 and bad["density"] > 0.5  # realistic samples, one mode of eight
    protocol = evaluate_run(real_like.path, settings)["coverage"]["protocol"]
    assert protocol["library"] == "prdc" and protocol["nearest_k"] == 5 and protocol["points"] == 500


def test_same_inputs_give_the_same_numbers_and_subsets_are_seeded(tmp_path) -> None:
    samples = np.random.default_rng(2).normal(size=(900, 2))
    run = make_run(tmp_path / "run", "8gaussians", samples)
    settings = {"w1_points": 300, "generated_count": 600, "curves": False}
    evaluate_run(run.path, settings)
    first = run.metrics.read_text()
    evaluate_run(run.path, settings)
    assert run.metrics.read_text() == first
    other = evaluate_run(run.path, {**settings, "subset_seed": 1})
    assert other["w1"]["value"] != json.loads(first)["w1"]["value"]


def test_data_without_modes_reports_why(tmp_path) -> None:
    run = make_run(tmp_path / "run", "swissroll", load_dataset("swissroll").batch(300, 0, 0).numpy())
    metrics = evaluate_run(run.path, {"w1_points": 300})
    assert metrics["w1"]["available"] is True
    assert metrics["modes_covered"] == {"value": None, "available": False,
                                        "reason": "data set 'swissroll' is not a mixture of modes"}


def test_curves_come_from_the_snapshot_batches(tmp_path) -> None:
    data = load_dataset("8gaussians")
    run = make_run(tmp_path / "run", "8gaussians", data.batch(300, 0, 0).numpy(), iteration=300)
    for iteration, spread in ((200, 0.3), (100, 1.0)):
        run.write_samples(np.random.default_rng(iteration).normal(scale=spread, size=(300, 2)).astype(np.float32),
                          iteration, run.snapshot_path(iteration))
    run.write_samples(np.full((300, 2), np.nan, np.float32), 250, run.snapshot_path(250))
    metrics = evaluate_run(run.path, {"w1_points": 300})
    assert [point["iteration"] for point in metrics["curves"]] == [100, 200, 250]
    assert metrics["curves"][2]["w1"]["available"] is False and "not finite" in metrics["curves"][2]["w1"]["reason"]
    assert metrics["w1"]["value"] < metrics["curves"][0]["w1"]["value"]
    assert evaluate_run(run.path, {"w1_points": 300, "curves": False}).get("curves") is None


def test_missing_or_misshapen_samples(tmp_path) -> None:
    run = make_run(tmp_path / "run", "8gaussians", np.zeros((10, 2)))
    run.samples.unlink()
    run.write_status("diverged", 3, "critic output beyond the bound")
    metrics = evaluate_run(run.path, {"curves": False})
    assert metrics["w1"]["available"] is False and "no sample file samples.npz" in metrics["w1"]["reason"]
    assert "critic output beyond the bound" in metrics["w1"]["reason"]
    run.write_samples(np.zeros((10, 3), np.float32), 3)
    with pytest.raises(ConfigError, match=r"needs \(N, 2\)"):
        evaluate_run(run.path)
