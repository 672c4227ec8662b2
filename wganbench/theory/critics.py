"""Train critics (or discriminators) between two samplers with wganbench's own objective parts.

The theory experiments estimate distances by training small MLP critics, and they do it with the
same loss classes, Lipschitz methods and optimiser factories as ``wganbench train`` (built from
the same config vocabulary), so an estimate that matches its closed form checks the training
losses too. The critic step mirrors the training loop's: loss, plus each Lipschitz penalty, one
optimiser step, then each method's after-step hook (weight clipping).

Several independent critics (one per value of a parameter) train at once as the members of one
``MemberMLP``: a batch is ``members`` blocks of rows, block k is member k's, and member k sees only
its own rows. Every loss and penalty is a mean over rows, so the batch objective is the mean of the
members' objectives; it is scaled back by ``members`` so each member gets exactly the gradient it
would get alone. With element-wise optimisers (Adam, RMSProp) and element-wise clipping, each
member then trains as it would on its own, and a whole sweep costs one training's Python overhead.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..objectives import Batch, Loss, build_lipschitz, build_loss, build_optimizer
from ..registry import Registry

# (rows per member, generator) -> samples, ``members`` blocks of that many rows
Sampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class CriticSpec:
    """One critic objective, in the config vocabulary of wganbench's objectives."""

    label: str
    loss: str | dict
    lipschitz: dict | None = None
    optimizer: dict = field(default_factory=lambda: {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.9)})
    steps: int = 1000
    batch_size: int = 256  # rows per member and step
    hidden: int = 64
    depth: int = 2


CRITICS: Registry[CriticSpec] = Registry("theory critic")
# Weight clipping at the WGAN paper's c = 0.01 with RMSProp as in the paper, at a larger rate than
# its 5e-5 so that the weights reach the clipping box within a few hundred steps.
CRITICS.add("critic_clip", CriticSpec("WGAN critic (weight clipping 0.01)", "wasserstein", {"clip": 0.01},
                                      {"name": "rmsprop", "lr": 1e-3}))
# WGAN-GP's λ = 10 with Adam(β1 = 0.5, β2 = 0.9) (Gulrajani et al. 2017, §4 and app. E; β1 of gan_toy.py).
CRITICS.add("critic_gp", CriticSpec("WGAN-GP critic (λ = 10)", "wasserstein", {"gradient_penalty": {"weight": 10.0}}))
# The minimax GAN discriminator D = sigmoid(v); the loss's estimate is the JS lower bound.
CRITICS.add("discriminator", CriticSpec("GAN discriminator", "minimax", None,
                                        {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.999)}))


def torch_generator(seed: int, *tags: int | str) -> torch.Generator:
    """A CPU generator for one use of randomness: the run seed plus tags naming the use, mixed by
    numpy's SeedSequence, so different uses never share a stream and adding one moves no other."""
    words = [seed] + [zlib.crc32(t.encode()) if isinstance(t, str) else t for t in tags]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class MemberMLP(nn.Module):
    """``members`` independent MLPs (``depth`` hidden layers of ``hidden``) run as one.

    Rows [k n, (k + 1) n) of the input go to member k. LeakyReLU(0.2) as in DCGAN critics: with
    plain ReLU a small gradient-penalty critic sometimes dies (every unit off, zero gradient, no
    way back), which would turn a bad initialisation into a wrong table entry. Piecewise linear
    either way, so far from the data a critic's output is linear in x. Initialised as torch's
    ``nn.Linear`` (uniform in ±1/sqrt(fan_in)) but from ``generator``, not the global RNG.
    """

    def __init__(self, members: int, in_features: int, hidden: int, depth: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.members = members
        widths = [in_features] + [hidden] * depth + [1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            for params, shape in ((self.weights, (members, fan_in, fan_out)), (self.biases, (members, 1, fan_out))):
                params.append(nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(self.members, -1, x.shape[-1])
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if i < last:
                h = F.leaky_relu(h, 0.2)
        return h.reshape(-1, 1)


@dataclass
class Critic:
    """Trained critic members with the loss that trained them."""

    net: MemberMLP
    loss: Loss

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The loss's per-row critic value (the raw output V; D = sigmoid(V) for the GAN loss)."""
        return self.loss.critic_value(self.net, x, Batch(real=x, fakes=[x])).view(-1)

    def estimates(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Each member's distance estimate on its rows of ``real`` and ``fake``, shape (members,).

        Differentiable in the samples (``Loss.critic_loss`` detaches the estimate it logs)."""
        k = self.net.members
        real_scores, fake_scores = self.scores(real).view(k, -1), self.scores(fake).view(k, -1)
        return torch.stack([self.loss.estimate_from_scores(r, f) for r, f in zip(real_scores, fake_scores)])


def train_critic(spec: CriticSpec, real: Sampler, fake: Sampler, in_features: int,
                 generator: torch.Generator, members: int = 1) -> Critic:
    """Maximise the spec's objective between ``real`` and ``fake``, fresh batches every step."""
    loss = build_loss(spec.loss)
    methods = build_lipschitz(spec.lipschitz)
    net: nn.Module = MemberMLP(members, in_features, spec.hidden, spec.depth, generator)
    for method in methods:
        net = method.prepare(net)
    optimizer = build_optimizer(spec.optimizer, net.parameters())
    for _ in range(spec.steps):
        batch = Batch(real=real(spec.batch_size, generator), fakes=[fake(spec.batch_size, generator)])
        objective, _ = loss.critic_loss(net, batch)
        for method in methods:
            penalty = method.penalty(loss, net, batch, generator)
            if penalty is not None:
                objective = objective + penalty
        optimizer.zero_grad(set_to_none=True)
        (objective * members).backward()  # the sum of the members' objectives: see the module doc
        optimizer.step()
        for method in methods:
            method.after_critic_step(net)
    net.requires_grad_(False)
    return Critic(net, loss)


def values_and_input_gradients(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """fn(x) per row and d fn / dx per row (fn must act on each row independently)."""
    x = x.detach().clone().requires_grad_(True)
    values = fn(x)
    (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad.detach()
