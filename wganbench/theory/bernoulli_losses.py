"""Sample losses d(P_hat_m, Q_theta) between Bernoulli laws, and their expected sample gradients.

Bellemare et al. 2017 (the Cramér-distance paper) ask whether the gradient of a divergence
computed on a minibatch is, on average, the gradient of the divergence itself. For Bernoulli laws
everything is in closed form: the minibatch of m draws from P = Bernoulli(theta*) enters only
through its mean p_hat ~ Binomial(m, theta*) / m, so an expectation over minibatches is a finite
sum over the binomial law. With p = p_hat:

    Wasserstein-1    |p - theta|                                  d/dtheta = sign(theta - p)
    Cramér (l2^2)    (p - theta)^2                                d/dtheta = 2 (theta - p)
    KL(P_hat||Q)     p log(p/theta) + (1-p) log((1-p)/(1-theta))  d/dtheta = (1-p)/(1-theta) - p/theta

(the CDFs of two laws on {0, 1} differ only on [0, 1), by p - theta, which gives the first two).
The Cramér and KL gradients are affine in p, so their sample gradients are unbiased; sign() is
not, which is the Wasserstein bias. The true loss d(P, Q_theta) is the same formula at p = theta*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import xlogy
from scipy.stats import binom

from ..registry import Registry

Array = np.ndarray
Formula = Callable[[Array, Array], Array]  # (p_hat, theta) -> value, broadcasting


@dataclass(frozen=True)
class BernoulliLoss:
    name: str
    label: str  # for figures
    value: Formula  # d(P_hat, Q_theta)
    gradient: Formula  # d/dtheta d(P_hat, Q_theta), derived by hand (the tests check it with autograd)


BERNOULLI_LOSSES: Registry[BernoulliLoss] = Registry("Bernoulli sample loss")
BERNOULLI_LOSSES.add("wasserstein", BernoulliLoss(
    "wasserstein", "Wasserstein-1",
    value=lambda p, t: np.abs(p - t),
    gradient=lambda p, t: np.sign(t - p),  # the subgradient 0 at p == theta, as autograd's abs
))
BERNOULLI_LOSSES.add("cramer", BernoulliLoss(
    "cramer", "Cramér (l2²)",
    value=lambda p, t: (p - t) ** 2,
    gradient=lambda p, t: 2.0 * (t - p),
))
BERNOULLI_LOSSES.add("kl", BernoulliLoss(
    "kl", "KL(P̂‖Q)",
    value=lambda p, t: xlogy(p, p) - xlogy(p, t) + xlogy(1.0 - p, 1.0 - p) - xlogy(1.0 - p, 1.0 - t),
    gradient=lambda p, t: (1.0 - p) / (1.0 - t) - p / t,
))


def sample_mean_law(m: int, theta_star: float) -> tuple[Array, Array]:
    """Support k/m and probabilities of the mean of m Bernoulli(theta*) draws."""
    k = np.arange(m + 1)
    return k / m, binom.pmf(k, m, theta_star)


def expected_sample_gradient(loss: BernoulliLoss, m: int, theta_star: float, theta: Array) -> Array:
    """E over minibatches of d/dtheta d(P_hat_m, Q_theta), exactly (a sum over the binomial law)."""
    support, weights = sample_mean_law(m, theta_star)
    grads = loss.gradient(support[:, None], np.asarray(theta, dtype=float)[None, :])
    return weights @ grads


def sample_gradient_variance(loss: BernoulliLoss, m: int, theta_star: float, theta: Array) -> Array:
    """Var over minibatches of the sample gradient, exactly: the scale of a Monte Carlo error."""
    support, weights = sample_mean_law(m, theta_star)
    grads = loss.gradient(support[:, None], np.asarray(theta, dtype=float)[None, :])
    mean = weights @ grads
    return weights @ (grads - mean) ** 2


def monte_carlo_sample_gradient(loss: BernoulliLoss, m: int, theta_star: float, theta: Array,
                                draws: int, rng: np.random.Generator) -> Array:
    """The same expectation estimated from ``draws`` simulated minibatches (shared by all theta)."""
    p_hat = rng.binomial(m, theta_star, size=draws) / m
    return loss.gradient(p_hat[:, None], np.asarray(theta, dtype=float)[None, :]).mean(axis=0)


def true_gradient(loss: BernoulliLoss, theta_star: float, theta: Array) -> Array:
    """d/dtheta d(P, Q_theta): the population loss is the sample formula at p_hat = theta*."""
    return loss.gradient(np.float64(theta_star), np.asarray(theta, dtype=float))


def expected_gradient_zero(loss: BernoulliLoss, m: int, theta_star: float, low: float, high: float,
                           tol: float = 1e-10) -> float:
    """Where SGD on the sample loss goes: the minimiser over [low, high] of the expected sample loss.

    Each sample loss is convex in theta, so the expected sample gradient is non-decreasing and the
    minimiser is where it changes sign (found by bisection), or an end of the interval if it has
    one sign throughout. For Wasserstein that is a median of p_hat, not theta*.
    """
    def grad(t: float) -> float:
        return float(expected_sample_gradient(loss, m, theta_star, np.array([t]))[0])

    if grad(low) >= 0.0:
        return low
    if grad(high) <= 0.0:
        return high
    while high - low > tol:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if grad(mid) < 0.0 else (low, mid)
    return 0.5 * (low + high)
