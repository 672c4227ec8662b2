"""f-divergences as f-GAN uses them (Nowozin, Cseke, Tomioka 2016, tables 1 and 2).

Each entry gives the generator f, the output activation g_f (mapping the critic's raw output V
to the domain of the conjugate) and the Fenchel conjugate f*. ``conjugate_of_activation(v)``
is f*(g_f(v)) written in a fused, overflow-free form: the training losses use it, the tests check
it against the unfused composition and f* against sup_u (u t - f(u)).

D_f(P||Q) = E_Q[f(p/q)]. Note that with these generators D_f for ``js`` is 2 * JS (the 1/2
weighted Jensen-Shannon divergence) and D_f for ``hellinger`` is the integral of (sqrt p - sqrt q)^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry

Fn = Callable[[torch.Tensor], torch.Tensor]
LOG2 = math.log(2.0)


@dataclass(frozen=True)
class FDivergence:
    name: str
    f: Fn  # generator f(u), u = p/q > 0
    activation: Fn  # g_f(v): raw critic output -> dom f*
    conjugate: Fn  # f*(t) on dom f*
    conjugate_of_activation: Fn  # f*(g_f(v)), fused for numerical stability
    domain: str  # dom f*, for documentation and error messages


F_DIVERGENCES: Registry[FDivergence] = Registry("f-divergence")


def _add(div: FDivergence) -> None:
    F_DIVERGENCES.add(div.name, div)


_add(FDivergence(
    name="kl",
    f=lambda u: u * torch.log(u),
    activation=lambda v: v,
    conjugate=lambda t: torch.exp(t - 1.0),
    conjugate_of_activation=lambda v: torch.exp(v - 1.0),
    domain="R",
))
_add(FDivergence(
    name="reverse_kl",
    f=lambda u: -torch.log(u),
    activation=lambda v: -torch.exp(-v),
    conjugate=lambda t: -1.0 - torch.log(-t),
    conjugate_of_activation=lambda v: v - 1.0,
    domain="t < 0",
))
_add(FDivergence(
    name="pearson",
    f=lambda u: (u - 1.0) ** 2,
    activation=lambda v: v,
    conjugate=lambda t: 0.25 * t**2 + t,
    conjugate_of_activation=lambda v: 0.25 * v**2 + v,
    domain="R",
))
_add(FDivergence(
    name="hellinger",
    f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
    activation=lambda v: 1.0 - torch.exp(-v),
    conjugate=lambda t: t / (1.0 - t),
    conjugate_of_activation=lambda v: torch.expm1(v),
    domain="t < 1",
))
_add(FDivergence(
    name="js",
    f=lambda u: -(u + 1.0) * torch.log((1.0 + u) / 2.0) + u * torch.log(u),
    activation=lambda v: LOG2 - F.softplus(-v),
    conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
    conjugate_of_activation=lambda v: F.softplus(v) - LOG2,
    domain="t < log 2",
))
_add(FDivergence(
    name="gan",
    f=lambda u: u * torch.log(u) - (u + 1.0) * torch.log(u + 1.0),
    activation=lambda v: -F.softplus(-v),
    conjugate=lambda t: -torch.log(1.0 - torch.exp(t)),
    conjugate_of_activation=lambda v: F.softplus(v),
    domain="t < 0",
))
_add(FDivergence(
    name="total_variation",
    f=lambda u: 0.5 * torch.abs(u - 1.0),
    activation=lambda v: 0.5 * torch.tanh(v),
    conjugate=lambda t: t,
    conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
    domain="|t| <= 1/2",
))
