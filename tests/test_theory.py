"""All five theory experiments, run once each through ``EXPERIMENTS`` with their default
settings (what the workflow runs): files, columns, figure labels, the qualitative claims of the
trained experiments, and byte-for-byte determinism.

The exact mathematics is tested in test_theory_bernoulli.py and test_theory_gaussians.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wganbench.registry import ConfigError
from wganbench.theory import EXPERIMENTS
from wganbench.theory.output import single_thread

pytestmark = pytest.mark.slow  # trains small critics: ~10 s of CPU per experiment

MODULES = {"bernoulli": "bernoulli", "parallel-lines": "parallel_lines",
           "critic-vs-discriminator": "critic_vs_discriminator", "divergences": "divergences",
           "f-divergences": "f_divergences"}
TABLES = {
    "bernoulli": {
        "bernoulli_gradients.csv": ["loss", "sample_size", "theta_star", "theta", "expected_sample_gradient",
                                    "expected_sample_gradient_mc", "true_gradient"],
        "bernoulli_sgd.csv": ["loss", "sample_size", "theta_star", "seed", "step", "theta"],
        "bernoulli_final.csv": ["loss", "sample_size", "theta_star", "seed", "final_theta",
                                "distance_to_theta_star", "expected_gradient_zero"],
    },
    "parallel-lines": {"parallel_lines.csv": [
        "theta", "tv", "kl", "js", "w1", "w1_gp", "w1_gp_dtheta", "w1_clip_raw", "w1_clip_raw_dtheta",
        "w1_clip_lipschitz", "w1_clip_normalised", "w1_clip_normalised_dtheta", "js_discriminator",
        "js_discriminator_dtheta"]},
    "critic-vs-discriminator": {"critic_vs_discriminator.csv": [
        "x", "real_density", "fake_density", "discriminator_optimal", "discriminator", "discriminator_gradient",
        "critic_clip", "critic_clip_gradient", "critic_gp", "critic_gp_gradient"]},
    "divergences": {"divergences.csv": ["mu", "std", "divergence", "value", "closed_form", "numerical",
                                        "abs_difference"]},
    "f-divergences": {"f_divergences.csv": ["divergence", "meaning", "p_mean", "p_std", "q_mean", "q_std",
                                            "estimate", "standard_error", "truth", "relative_error",
                                            "bound_at_optimum"]},
}
FIGURES = {"bernoulli": "bernoulli", "parallel-lines": "parallel_lines",
           "critic-vs-discriminator": "critic_vs_discriminator", "divergences": "divergences",
           "f-divergences": "f_divergences"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """As the experiments' ``run`` does: tiny networks, shared cores (and no OpenMP contention)."""
    with single_thread():
        yield


@pytest.fixture(scope="module")
def runs(theory_output) -> dict[str, tuple[Path, list[Path], dict]]:
    """name -> (out dir, files returned, figure labels captured on the way to disk)."""
    return {name: theory_output(name) for name in MODULES}


def table(runs, name: str, file: str) -> pd.DataFrame:
    return pd.read_csv(runs[name][0] / file)


def test_registry() -> None:
    # the other two: tests/test_theory_gradient_norms.py, tests/test_theory_dirac_gan.py
    assert EXPERIMENTS.names() == sorted([*MODULES, "gradient-norms", "dirac-gan"])
    with pytest.raises(ConfigError, match="unknown theory experiment 'nope'"):
        EXPERIMENTS.get("nope")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_columns(runs, name: str) -> None:
    out, files, _ = runs[name]
    expected = {out / f for f in TABLES[name]} | {out / f"{FIGURES[name]}.{ext}" for ext in ("png", "pdf")}
    assert set(files) == expected
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in expected)  # no temp files left
    for file, columns in TABLES[name].items():
        frame = pd.read_csv(out / file)
        assert list(frame.columns) == columns and len(frame) > 0
    assert (out / f"{FIGURES[name]}.png").read_bytes().startswith(b"\x89PNG")
    assert (out / f"{FIGURES[name]}.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_figures_have_a_title_and_labelled_axes(runs, name: str) -> None:
    labels = runs[name][2]
    assert labels["suptitle"]
    assert labels["axes"]
    for title, xlabel, ylabel in labels["axes"]:
        assert title and xlabel and ylabel, (title, xlabel, ylabel)


def test_caption_for_every_experiment() -> None:
    captions = Path(__file__).resolve().parents[1] / "workflow" / "report" / "theory"
    for name in MODULES:
        assert len((captions / f"{name}.rst").read_text().split()) > 50


# --- parallel lines ------------------------------------------------------------------------------

def test_parallel_lines_closed_forms(runs) -> None:
    frame = table(runs, "parallel-lines", "parallel_lines.csv")
    theta, off = frame["theta"], frame["theta"] != 0
    assert (theta < 0).any() and (theta > 0).any() and (~off).any()
    np.testing.assert_allclose(frame["w1"], theta.abs(), atol=1e-12)
    np.testing.assert_allclose(frame["js"], np.where(off, math.log(2.0), 0.0), atol=1e-12)
    np.testing.assert_allclose(frame["tv"], np.where(off, 1.0, 0.0), atol=1e-12)
    assert np.isinf(frame.loc[off, "kl"]).all() and (frame.loc[~off, "kl"] == 0).all()


def test_parallel_lines_trained_estimates(runs) -> None:
    frame = table(runs, "parallel-lines", "parallel_lines.csv")
    moved = frame[frame["theta"] != 0]
    sign, size = np.sign(moved["theta"]), moved["theta"].abs()
    # the WGAN-GP critic estimates |theta| (a few per cent high: soft penalty) with gradient sign(theta)
    np.testing.assert_allclose(moved["w1_gp"], size, rtol=0.1)
    np.testing.assert_allclose(moved["w1_gp_dtheta"], sign, atol=0.15)
    # the clipped critic: W1 times a small unknown constant; divided by its Lipschitz constant, about W1
    assert (moved["w1_clip_raw"] > 0).all() and (moved["w1_clip_raw"] < 0.01 * size).all()
    assert (moved["w1_clip_raw_dtheta"] * sign > 0).all()
    # (f / L is 1-Lipschitz, so up to sampling noise this is a lower bound on W1)
    ratio = moved["w1_clip_normalised"] / size
    assert ((ratio > 0.6) & (ratio < 1.05)).all(), ratio.tolist()
    # the discriminator: about log 2 off 0, about 0 at 0
    assert (moved["js_discriminator"] > 0.6).all() and (moved["js_discriminator"] <= math.log(2.0)).all()
    assert abs(frame.loc[frame["theta"] == 0, "js_discriminator"].item()) < 0.01
    # ... and, once the lines are apart, it passes (almost) no gradient while W1 passes about 1
    far = moved[moved["theta"].abs() >= 0.5]
    assert (far["js_discriminator_dtheta"].abs() < 0.05 * far["w1_gp_dtheta"].abs()).all()


# --- critic vs discriminator --------------------------------------------------------------------

def test_optimal_discriminator_closed_form(runs) -> None:
    frame = table(runs, "critic-vs-discriminator", "critic_vs_discriminator.csv")
    # N(2, 0.5^2) vs N(-2, 0.5^2): log p - log q = 16 x
    np.testing.assert_allclose(frame["discriminator_optimal"], 1 / (1 + np.exp(-16 * frame["x"])), rtol=1e-9)


def test_discriminator_gradient_vanishes_far_from_the_data_but_the_critics_do_not(runs) -> None:
    frame = table(runs, "critic-vs-discriminator", "critic_vs_discriminator.csv")
    far = (frame["x"] <= -4.5) | (frame["x"] >= 4.5)  # >= 5 standard deviations beyond the modes
    assert far.sum() >= 40
    grad = {name: frame[f"{name}_gradient"].abs() for name in ("discriminator", "critic_clip", "critic_gp")}
    # raw: D's slope far out is many orders of magnitude below the GP critic's (both in natural units)
    assert grad["discriminator"][far].max() < 1e-4 * grad["critic_gp"][far].min()
    # ... and far below even the weight-clipped critic's, whose whole scale is ~1e-4
    assert grad["discriminator"][far].max() < 1e-2 * grad["critic_clip"][far].min()
    # scale-free: far-out slope relative to the model's own steepest slope
    relative = {name: g[far] / g.max() for name, g in grad.items()}
    assert relative["discriminator"].max() < 1e-4
    assert relative["critic_clip"].min() > 0.05 and relative["critic_gp"].min() > 0.05
    # where the fake samples are, the discriminator is saturated too
    at_fake_mode = frame["x"].sub(-2.0).abs().idxmin()
    assert grad["discriminator"][at_fake_mode] < 1e-2 * grad["critic_gp"][at_fake_mode]
    # and on the data (within 2 sd of a mode) it is the optimal discriminator, 0 or 1
    on_data = (frame["x"].sub(2.0).abs() <= 1.0) | (frame["x"].add(2.0).abs() <= 1.0)
    assert (frame["discriminator"] - frame["discriminator_optimal"])[on_data].abs().max() < 0.05


# --- f-divergences ------------------------------------------------------------------------------

def test_f_divergence_estimates_match_quadrature(runs) -> None:
    frame = table(runs, "f-divergences", "f_divergences.csv").set_index("divergence")
    assert list(frame.index) == ["kl", "reverse_kl", "pearson", "hellinger", "js"]
    assert (frame["relative_error"].abs() < 0.1).all(), frame["relative_error"].to_dict()
    np.testing.assert_allclose(frame["relative_error"], (frame["estimate"] - frame["truth"]) / frame["truth"])
    np.testing.assert_allclose(frame["bound_at_optimum"], frame["truth"], atol=1e-8)
    assert frame.loc["pearson", "truth"] == pytest.approx(math.exp(0.25) - 1, abs=1e-9)


# --- determinism --------------------------------------------------------------------------------

def test_outputs_are_byte_identical(tmp_path: Path) -> None:
    """Tables and figures (PNG and PDF, no time stamps) repeat byte for byte."""
    from wganbench.theory.divergences import DivergencesConfig
    from wganbench.theory.divergences import run as run_divergences

    small = DivergencesConfig(mus=(0.0, 1.0, 2.0))
    first, again = run_divergences(tmp_path / "a", config=small), run_divergences(tmp_path / "b", config=small)
    assert [p.name for p in first] == ["divergences.csv", "divergences.png", "divergences.pdf"]
    for a, b in zip(first, again):
        assert a.read_bytes() == b.read_bytes(), a.name


SMALL = {  # module: (config class, settings small enough for a determinism check)
    "parallel_lines": ("ParallelLinesConfig", {"thetas": (-0.5, 0.0, 0.5), "steps": 20, "eval_samples": 256}),
    "critic_vs_discriminator": ("CriticVsDiscriminatorConfig", {"steps": 20, "grid": (-6.0, 6.0, 25)}),
    "f_divergences": ("FDivergencesConfig", {"divergences": ("kl", "js"), "eval_samples": 256}),
}


@pytest.mark.parametrize("module_name", sorted(SMALL))
def test_trained_tables_are_deterministic_given_the_seed(module_name: str) -> None:
    module = importlib.import_module(f"wganbench.theory.{module_name}")
    config_name, settings = SMALL[module_name]
    cfg = getattr(module, config_name)(**settings)
    if module_name == "f_divergences":
        cfg = dataclasses.replace(cfg, critic=dataclasses.replace(cfg.critic, steps=20))

    def make(seed: int) -> pd.DataFrame:
        result = module.table(cfg, seed)
        return result[0] if isinstance(result, tuple) else result  # f-divergences also returns the critics

    first = make(3)
    pd.testing.assert_frame_equal(first, make(3), check_exact=True)
    assert not first.equals(make(4))
