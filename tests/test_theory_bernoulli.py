"""The Bernoulli gradient-bias experiment: hand-derived expectations, autograd, Monte Carlo, SGD."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from wganbench.theory.bernoulli import BernoulliConfig, sgd_table
from wganbench.theory.bernoulli_losses import (
    BERNOULLI_LOSSES,
    expected_gradient_zero,
    expected_sample_gradient,
    sample_gradient_variance,
    true_gradient,
)

CFG = BernoulliConfig()
THETA = (np.arange(200) + 0.5) / 200

# The same losses written independently in torch, for autograd.
TORCH_LOSSES = {
    "wasserstein": lambda p, t: (p - t).abs(),
    "cramer": lambda p, t: (p - t) ** 2,
    "kl": lambda p, t: torch.xlogy(p, p) - torch.xlogy(p, t) + torch.xlogy(1 - p, 1 - p) - torch.xlogy(1 - p, 1 - t),
}


@pytest.mark.parametrize("name", sorted(TORCH_LOSSES))
def test_hand_gradients_match_autograd(name: str) -> None:
    loss = BERNOULLI_LOSSES.get(name)
    p = torch.tensor([0.0, 0.0, 0.2, 0.5, 0.5, 0.7, 1.0, 1.0, 1 / 3], dtype=torch.float64)
    t = torch.tensor([0.1, 0.9, 0.6, 0.3, 0.8, 0.65, 0.05, 0.99, 0.25], dtype=torch.float64, requires_grad=True)
    value = TORCH_LOSSES[name](p, t)
    (grad,) = torch.autograd.grad(value.sum(), t)
    np.testing.assert_allclose(loss.value(p.numpy(), t.detach().numpy()), value.detach().numpy(),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss.gradient(p.numpy(), t.detach().numpy()), grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("theta_star", [0.6, 0.9, 0.3])
def test_wasserstein_m1_expected_gradient_is_one_minus_two_theta_star_everywhere(theta_star: float) -> None:
    got = expected_sample_gradient(BERNOULLI_LOSSES.get("wasserstein"), 1, theta_star, THETA)
    np.testing.assert_allclose(got, 1.0 - 2.0 * theta_star, atol=1e-12)


def test_wasserstein_m2_expected_gradient_by_hand() -> None:
    # p_hat in {0, 1/2, 1}: E sign(theta - p_hat) = P(p_hat < theta) - P(p_hat > theta)
    ts = 0.6
    got = expected_sample_gradient(BERNOULLI_LOSSES.get("wasserstein"), 2, ts, THETA)
    want = np.where(THETA < 0.5, (1 - ts) ** 2 - (1 - (1 - ts) ** 2), (1 - ts**2) - ts**2)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[THETA < 0.5][0] == pytest.approx(-0.68) and got[THETA > 0.5][0] == pytest.approx(0.28)


@pytest.mark.parametrize("name", ["cramer", "kl"])
@pytest.mark.parametrize("m", [1, 2, 5, 100])
def test_cramer_and_kl_sample_gradients_are_unbiased(name: str, m: int) -> None:
    loss = BERNOULLI_LOSSES.get(name)
    for ts in (0.6, 0.9):
        np.testing.assert_allclose(expected_sample_gradient(loss, m, ts, THETA), true_gradient(loss, ts, THETA),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(true_gradient(BERNOULLI_LOSSES.get("cramer"), 0.6, THETA), 2 * (THETA - 0.6))


def test_wasserstein_sample_gradient_is_biased() -> None:
    loss = BERNOULLI_LOSSES.get("wasserstein")
    theta = np.array([0.7])
    assert true_gradient(loss, 0.6, theta)[0] == 1.0  # theta above theta*: the true loss says go down
    assert expected_sample_gradient(loss, 1, 0.6, theta)[0] == pytest.approx(-0.2)  # samples say go up


# Medians of Binomial(m, theta*) / m (clipped to [eps, 1 - eps]), derived by hand.
WASSERSTEIN_ZEROS = {(0.6, 1): 0.99, (0.6, 2): 0.5, (0.6, 5): 0.6, (0.6, 10): 0.6, (0.6, 100): 0.6,
                     (0.9, 1): 0.99, (0.9, 2): 0.99, (0.9, 5): 0.99, (0.9, 10): 0.9, (0.9, 100): 0.9}


@pytest.mark.parametrize(("theta_star", "m"), sorted(WASSERSTEIN_ZEROS))
def test_expected_gradient_zero(theta_star: float, m: int) -> None:
    zero = expected_gradient_zero(BERNOULLI_LOSSES.get("wasserstein"), m, theta_star, 0.01, 0.99)
    assert zero == pytest.approx(WASSERSTEIN_ZEROS[theta_star, m], abs=1e-8)
    for name in ("cramer", "kl"):
        assert expected_gradient_zero(BERNOULLI_LOSSES.get(name), m, theta_star, 0.01, 0.99) == pytest.approx(
            theta_star, abs=1e-8)


@pytest.fixture(scope="module")
def gradients(theory_output) -> pd.DataFrame:
    """The table the experiment wrote at its default settings (run once per test session)."""
    out, _, _ = theory_output("bernoulli")
    return pd.read_csv(out / "bernoulli_gradients.csv")


def test_gradients_table_columns_and_grid(gradients) -> None:
    assert list(gradients.columns) == ["loss", "sample_size", "theta_star", "theta", "expected_sample_gradient",
                                       "expected_sample_gradient_mc", "true_gradient"]
    assert len(gradients) == len(CFG.losses) * len(CFG.sample_sizes) * len(CFG.theta_stars) * CFG.grid_points
    assert gradients["theta"].between(0, 1, inclusive="neither").all()


def test_monte_carlo_agrees_with_exact_expectation(gradients) -> None:
    """Within 5 exact standard errors at every grid point (and for m = 1 Wasserstein, by hand)."""
    for (name, m, ts), part in gradients.groupby(["loss", "sample_size", "theta_star"]):
        theta = part["theta"].to_numpy()
        se = np.sqrt(sample_gradient_variance(BERNOULLI_LOSSES.get(name), m, ts, theta) / CFG.mc_draws)
        error = np.abs(part["expected_sample_gradient_mc"] - part["expected_sample_gradient"]).to_numpy()
        assert (error <= 5 * se + 1e-12).all(), (name, m, ts, float((error / (se + 1e-300)).max()))
    w1 = gradients[(gradients["loss"] == "wasserstein") & (gradients["sample_size"] == 1)]
    np.testing.assert_allclose(w1["expected_sample_gradient_mc"], 1 - 2 * w1["theta_star"], atol=0.05)


@pytest.fixture(scope="module")
def final_theta(theory_output) -> pd.Series:
    out, _, _ = theory_output("bernoulli")
    sgd = pd.read_csv(out / "bernoulli_sgd.csv")
    assert list(sgd.columns) == ["loss", "sample_size", "theta_star", "seed", "step", "theta"]
    last = sgd[sgd["step"] == CFG.steps]
    assert len(last) == len(CFG.losses) * len(CFG.sample_sizes) * len(CFG.theta_stars) * CFG.seeds
    return last.groupby(["loss", "theta_star", "sample_size"])["theta"].mean()


def test_wasserstein_sgd_ends_at_the_zero_of_its_expected_sample_gradient(final_theta) -> None:
    for (ts, m), zero in WASSERSTEIN_ZEROS.items():
        assert final_theta["wasserstein", ts, m] == pytest.approx(zero, abs=0.01), (ts, m)


@pytest.mark.parametrize(("theta_star", "m"), [(0.6, 1), (0.6, 2), (0.9, 1), (0.9, 2), (0.9, 5)])
def test_wasserstein_sgd_ends_away_from_theta_star_for_small_m(final_theta, theta_star: float, m: int) -> None:
    assert abs(final_theta["wasserstein", theta_star, m] - theta_star) > 0.08


@pytest.mark.parametrize("name", ["cramer", "kl"])
def test_cramer_and_kl_sgd_end_at_theta_star(final_theta, name: str) -> None:
    for ts in CFG.theta_stars:
        for m in CFG.sample_sizes:
            assert final_theta[name, ts, m] == pytest.approx(ts, abs=0.02), (name, ts, m)


def test_sgd_is_deterministic_given_the_seed() -> None:
    small = BernoulliConfig(sample_sizes=(1, 2), seeds=2, steps=300)
    first, again, other = sgd_table(small, 0), sgd_table(small, 0), sgd_table(small, 1)
    assert first.equals(again)
    assert not first["theta"].equals(other["theta"])
