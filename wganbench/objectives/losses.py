"""GAN losses: how critic and generator losses come from critic outputs.

A loss declares what it needs (``fake_batches``: independent generator batches per step,
``critic_outputs``: width of the critic's output) and the trainer supplies it, so the Cramér GAN's
second fake batch and vector critic need no special case in the loop. ``critic_value`` is the
scalar f(x) that penalties differentiate and that the distance estimate averages.

Sign conventions: both losses are minimised. ``distance_estimate`` is the critic's estimate of
the divergence the objective minimises (E[f(real)] - E[f(fake)] for Wasserstein-type losses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, Registry
from .fdivergences import F_DIVERGENCES

LOG2 = math.log(2.0)


@dataclass
class Batch:
    """What one critic or generator step sees: a real batch and the fake batches the loss asked for."""

    real: torch.Tensor
    fakes: list[torch.Tensor] = field(default_factory=list)

    @property
    def fake(self) -> torch.Tensor:
        return self.fakes[0]


class Loss:
    """Base class: a loss on per-sample scalar critic scores. Subclasses override the three
    score functions; losses that need more (Cramér) override ``critic_loss``/``generator_loss``."""

    fake_batches: int = 1
    critic_outputs: int = 1
    # True, in the class body itself: the loss only calls ``critic(x)`` and torch ops, so the seed
    # ensemble may run it per member inside torch.func.vmap (wganbench.steps.why_not_vmapped reads it
    # from the class's own body, so a user's subclass of a built-in must say so itself)
    ensemble_safe: bool = False

    def __init__(self, **params: object) -> None:
        if params:
            raise TypeError(f"{type(self).__name__} takes no parameters, got {sorted(params)}")

    def critic_value(self, critic: nn.Module, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        return critic(x).view(-1)

    def critic_loss(self, critic: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, distance estimate); both scalars."""
        real = self.critic_value(critic, batch.real, batch)
        fake = self.critic_value(critic, batch.fake, batch)
        return self.critic_loss_from_scores(real, fake), self.estimate_from_scores(real, fake).detach()

    def generator_loss(self, critic: nn.Module, batch: Batch) -> torch.Tensor:
        return self.generator_loss_from_scores(self.critic_value(critic, batch.fake, batch))

    # per-score definitions ---------------------------------------------------------------------
    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def estimate_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return real.mean() - fake.mean()


LOSSES: Registry[type[Loss]] = Registry("loss", allow_import_path=True)


class _JSBound(Loss):
    """Logit critic D = sigmoid(v); the estimate is the JS lower bound 1/2 L(D) + log 2 (WGAN fig. 4)."""

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        # -[log D(x) + log(1 - D(G(z)))], stable in logits
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def estimate_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (-F.softplus(-real).mean() - F.softplus(fake).mean()) + LOG2


@LOSSES.register("minimax")
class MinimaxLoss(_JSBound):
    """Goodfellow's saturating generator loss: minimise log(1 - D(G(z)))."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake).mean()


@LOSSES.register("nonsaturating")
class NonSaturatingLoss(_JSBound):
    """The -log D(G(z)) trick."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake).mean()


@LOSSES.register("least_squares")
class LeastSquaresLoss(Loss):
    """LSGAN (Mao et al.), 0-1 coding: critic 1/2 E(D(x)-1)^2 + 1/2 E D(G(z))^2, generator 1/2 E(D(G(z))-1)^2."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake - 1.0) ** 2).mean()


@LOSSES.register("hinge")
class HingeLoss(Loss):
    """Miyato et al. eq. 17: critic E relu(1 - D(x)) + E relu(1 + D(G(z))), generator -E D(G(z))."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


@LOSSES.register("wasserstein")
class WassersteinLoss(Loss):
    """Critic maximises E f(x) - E f(G(z)); generator minimises -E f(G(z))."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


@LOSSES.register("f_divergence")
class FDivergenceLoss(Loss):
    """f-GAN (Nowozin et al.): critic maximises E_P[g_f(V)] - E_Q[f*(g_f(V))], a lower bound on D_f.

    ``generator: alternative`` (f-GAN section 3.2, used in their experiments) maximises
    E_Q[g_f(V(G(z)))]; ``generator: saddle`` minimises the bound itself.
    """

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def __init__(self, divergence: str, generator: str = "alternative") -> None:
        self.divergence = F_DIVERGENCES.get(divergence, key="loss.f_divergence")
        if generator not in ("alternative", "saddle"):
            raise ValueError(f"generator must be 'alternative' or 'saddle', got {generator!r}")
        self.generator = generator

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return -self.estimate_from_scores(real, fake)

    def estimate_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        div = self.divergence
        return div.activation(real).mean() - div.conjugate_of_activation(fake).mean()

    def generator_loss_from_scores(self, fake: torch.Tensor) -> torch.Tensor:
        if self.generator == "alternative":
            return -self.divergence.activation(fake).mean()
        return -self.divergence.conjugate_of_activation(fake).mean()


@LOSSES.register("relativistic_pairing")
class RelativisticPairingLoss(Loss):
    """RpGAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024): each real sample is paired with a
    fake one. Critic: E softplus(-(D(x) - D(G(z)))); generator: the mirror image,
    E softplus(-(D(G(z)) - D(x))). The generator's loss reads the real batch too."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(real - fake)).mean()

    def generator_loss(self, critic: nn.Module, batch: Batch) -> torch.Tensor:
        real = self.critic_value(critic, batch.real, batch).detach()
        return F.softplus(-(self.critic_value(critic, batch.fake, batch) - real)).mean()


@LOSSES.register("relativistic_average")
class RelativisticAverageLoss(Loss):
    """RaGAN (Jolicoeur-Martineau 2019, eq. for RaSGAN): each score against the other side's mean.
    Critic: E_r softplus(-(D(x) - E D(G(z)))) + E_f softplus(D(G(z)) - E D(x)); generator: the same
    with real and fake swapped."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    @staticmethod
    def _both(better: torch.Tensor, worse: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(better - worse.mean())).mean() + F.softplus(worse - better.mean()).mean()

    def critic_loss_from_scores(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self._both(real, fake)

    def generator_loss(self, critic: nn.Module, batch: Batch) -> torch.Tensor:
        real = self.critic_value(critic, batch.real, batch).detach()
        return self._both(self.critic_value(critic, batch.fake, batch), real)


@LOSSES.register("cramer")
class CramerLoss(Loss):
    """Cramér GAN (Bellemare et al. 2017, algorithm 1), with h the critic network's vector output.

    f(x) = ||h(x) - h(x'_g)|| - ||h(x)||, using the second fake batch x'_g.
    Critic minimises -(f(x_r) - f(x_g)) (+ the gradient penalty on f, applied by the Lipschitz
    method through ``critic_value``); the generator minimises the energy distance
    ||h(x_r) - h(x_g)|| + ||h(x_r) - h(x'_g)|| - ||h(x_g) - h(x'_g)||.
    """

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    fake_batches = 2

    def __init__(self, features: int = 256) -> None:
        self.critic_outputs = int(features)

    def critic_value(self, critic: nn.Module, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        h_x = critic(x)
        h_ref = critic(batch.fakes[1])
        return cramer_f(h_x, h_ref)

    def critic_loss(self, critic: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        h_real, h_fake, h_fake2 = critic(batch.real), critic(batch.fakes[0]), critic(batch.fakes[1])
        surrogate = (cramer_f(h_real, h_fake2) - cramer_f(h_fake, h_fake2)).mean()
        return -surrogate, surrogate.detach()

    def generator_loss(self, critic: nn.Module, batch: Batch) -> torch.Tensor:
        h_real, h_fake, h_fake2 = critic(batch.real), critic(batch.fakes[0]), critic(batch.fakes[1])
        return cramer_energy(h_real, h_fake, h_fake2)


def cramer_f(h_x: torch.Tensor, h_ref: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(h_x - h_ref, dim=1) - torch.linalg.vector_norm(h_x, dim=1)


def cramer_energy(h_real: torch.Tensor, h_fake: torch.Tensor, h_fake2: torch.Tensor) -> torch.Tensor:
    norm = lambda a, b: torch.linalg.vector_norm(a - b, dim=1)  # noqa: E731
    return (norm(h_real, h_fake) + norm(h_real, h_fake2) - norm(h_fake, h_fake2)).mean()


@LOSSES.register("mmd")
class MMDLoss(Loss):
    """MMD GAN (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of MMD^2
    between critic features h of real and generated batches, under a mixture of rational-quadratic
    kernels k(a, b) = sum_alpha (1 + ||a - b||^2 / (2 alpha))^(-alpha), alpha in {0.2, 0.5, 1, 2, 5}
    (their "rq*" kernel), or of Gaussian RBF kernels exp(-||a - b||^2 / (2 s^2)) with ``kernel: rbf``
    and ``scales`` s. The critic maximises it, the generator minimises it; a gradient penalty (their
    weight 1) acts on the witness function f(x) = E_r k(h(x), h(x_r)) - E_g k(h(x), h(x_g)).
    16 output features, as their CIFAR-10 critic."""

    ensemble_safe = True  # only calls critic(x) and torch ops: runs per member inside vmap

    def __init__(self, features: int = 16, kernel: str = "rational_quadratic",
                 scales: list[float] | None = None) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
        self.critic_outputs, self.kernel = int(features), kernel
        self.scales = [float(s) for s in (scales or DEFAULT_SCALES[kernel])]

    def gram(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        squared = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * a @ b.T).clamp(min=0.0)
        return KERNELS[self.kernel](squared, self.scales)

    def mmd2(self, h_real: torch.Tensor, h_fake: torch.Tensor) -> torch.Tensor:
        return unbiased_mmd2(self.gram(h_real, h_real), self.gram(h_fake, h_fake), self.gram(h_real, h_fake))

    def critic_value(self, critic: nn.Module, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        h_x = critic(x)
        return self.gram(h_x, critic(batch.real)).mean(dim=1) - self.gram(h_x, critic(batch.fake)).mean(dim=1)

    def critic_loss(self, critic: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        mmd2 = self.mmd2(critic(batch.real), critic(batch.fake))
        return -mmd2, mmd2.detach()

    def generator_loss(self, critic: nn.Module, batch: Batch) -> torch.Tensor:
        return self.mmd2(critic(batch.real), critic(batch.fake))


def rational_quadratic(squared: torch.Tensor, alphas: list[float]) -> torch.Tensor:
    return sum((1.0 + squared / (2.0 * alpha)).pow(-alpha) for alpha in alphas)


def gaussian_rbf(squared: torch.Tensor, scales: list[float]) -> torch.Tensor:
    return sum(torch.exp(-squared / (2.0 * scale**2)) for scale in scales)


KERNELS = {"rational_quadratic": rational_quadratic, "rbf": gaussian_rbf}
DEFAULT_SCALES = {"rational_quadratic": [0.2, 0.5, 1.0, 2.0, 5.0], "rbf": [1.0, 2.0, 4.0, 8.0, 16.0]}


def unbiased_mmd2(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> torch.Tensor:
    """Gretton et al. 2012's unbiased MMD^2: the within-set means leave out the diagonal."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2.0 * k_xy.mean()


def build_loss(spec: str | dict) -> Loss:
    """``"wasserstein"``, ``{"f_divergence": "kl"}`` or ``{"name": ..., **params}`` -> a Loss."""
    if isinstance(spec, str):
        name, params = spec, {}
    else:
        params = dict(spec)
        if "f_divergence" in params:
            name, params["divergence"] = "f_divergence", params.pop("f_divergence")
        else:
            name = params.pop("name")
    cls = LOSSES.get(name, key="loss")
    try:
        loss = cls(**params)
    except TypeError as exc:
        raise ConfigError(f"config key 'loss': bad parameters for loss {name!r}: {exc}") from None
    if not isinstance(loss, Loss):
        raise ConfigError(f"config key 'loss': {name!r} does not build a wganbench.objectives.Loss")
    return loss
