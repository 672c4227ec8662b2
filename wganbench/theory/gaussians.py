"""Divergences between two 1-D Gaussians: closed forms where they exist, quadrature for all.

Shared by the `divergences` experiment (mean shift) and the `f-divergences` experiment (the
ground truth that variational estimates are compared with). Every numerical value integrates
over a finite window of ``WINDOW`` standard deviations around both means, where the integrands'
tails are far below double precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, stats
from scipy.special import ndtr

WINDOW = 12.0  # integrate over [min mean - 12 sd, max mean + 12 sd]
QUAD = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 500}
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Gaussian:
    mean: float
    std: float

    # Written out rather than scipy.stats.norm: quad calls these one float at a time, and the
    # frozen-distribution machinery costs ~50 µs a call.
    def logpdf(self, x: np.ndarray | float) -> np.ndarray | float:
        z = (x - self.mean) / self.std
        return -0.5 * z * z - math.log(self.std) - _HALF_LOG_2PI

    def cdf(self, x: np.ndarray | float) -> np.ndarray | float:
        return ndtr((x - self.mean) / self.std)


def window(p: Gaussian, q: Gaussian) -> tuple[float, float]:
    return (min(p.mean - WINDOW * p.std, q.mean - WINDOW * q.std),
            max(p.mean + WINDOW * p.std, q.mean + WINDOW * q.std))


def quad(fn, p: Gaussian, q: Gaussian) -> float:
    """∫ fn(x) dx over the window, with the means as break points for the adaptive rule."""
    low, high = window(p, q)
    value, _ = integrate.quad(fn, low, high, points=sorted({p.mean, q.mean}), **QUAD)
    return float(value)


# --- closed forms --------------------------------------------------------------------------------

def kl_closed(p: Gaussian, q: Gaussian) -> float:
    """KL(P||Q) = log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2."""
    return math.log(q.std / p.std) + (p.std**2 + (p.mean - q.mean) ** 2) / (2.0 * q.std**2) - 0.5


def w1_closed(p: Gaussian, q: Gaussian) -> float:
    """|m_p - m_q| when the standard deviations are equal (a pure shift); no closed form otherwise."""
    if p.std != q.std:
        raise ValueError("W1 between Gaussians has a closed form here only for equal standard deviations")
    return abs(p.mean - q.mean)


def cramer_closed(p: Gaussian, q: Gaussian) -> float:
    """∫ (F_P - F_Q)^2 dx for equal standard deviations s and shift d = |m_p - m_q|.

    In 1-D, l2^2 = E|X - Y| - E|X - X'| / 2 - E|Y - Y'| / 2 (half the energy distance). Here
    X - Y ~ N(±d, 2 s^2), so E|X - Y| = (2 s / √π) exp(-d^2 / (4 s^2)) + d (2 Φ(d / (s √2)) - 1)
    and E|X - X'| = E|Y - Y'| = 2 s / √π.
    """
    if p.std != q.std:
        raise ValueError("the Cramér closed form here assumes equal standard deviations")
    s, d = p.std, abs(p.mean - q.mean)
    return (2.0 * s / math.sqrt(math.pi)) * math.expm1(-(d**2) / (4.0 * s**2)) + d * (
        2.0 * float(ndtr(d / (s * math.sqrt(2.0)))) - 1.0)


# --- numerical -----------------------------------------------------------------------------------

def kl_numerical(p: Gaussian, q: Gaussian) -> float:
    """∫ p (log p - log q)."""
    return quad(lambda x: math.exp(p.logpdf(x)) * (p.logpdf(x) - q.logpdf(x)), p, q)


def js_numerical(p: Gaussian, q: Gaussian) -> float:
    """½ KL(P||M) + ½ KL(Q||M), M = (P + Q) / 2, with log m = logaddexp(log p, log q) - log 2."""
    def integrand(x: float) -> float:
        lp, lq = p.logpdf(x), q.logpdf(x)
        lm = float(np.logaddexp(lp, lq)) - math.log(2.0)
        return 0.5 * (math.exp(lp) * (lp - lm) + math.exp(lq) * (lq - lm))

    return quad(integrand, p, q)


def cramer_numerical(p: Gaussian, q: Gaussian) -> float:
    """∫ (F_P - F_Q)^2."""
    return quad(lambda x: (p.cdf(x) - q.cdf(x)) ** 2, p, q)


def w1_numerical(p: Gaussian, q: Gaussian, points: int = 20001) -> float:
    """W1 through scipy on a grid: the grid is the *support* (values) and the densities are the
    *weights*. (Passing density values as if they were samples, wasserstein_distance(p(x), q(x)),
    is a common mistake: it compares the distributions of density values, not of x.)"""
    x = np.linspace(*window(p, q), points)
    return float(stats.wasserstein_distance(x, x, np.exp(p.logpdf(x)), np.exp(q.logpdf(x))))


def f_divergence_numerical(f, p: Gaussian, q: Gaussian) -> float:
    """D_f(P||Q) = ∫ q f(p / q), with ``f`` a torch function (wganbench's f-divergence table)."""
    def integrand(x: float) -> float:
        lp, lq = p.logpdf(x), q.logpdf(x)
        ratio = torch.tensor(math.exp(lp - lq), dtype=torch.float64)
        return math.exp(lq) * float(f(ratio))

    return quad(integrand, p, q)
