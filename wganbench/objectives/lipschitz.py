"""Lipschitz methods and regularisers of the critic: weight clipping, gradient penalties (WGAN-GP,
WGAN-LP, R1/R2, DRAGAN), spectral normalisation, LeCam, instance noise.

A method may wrap the critic once (``prepare``), add a penalty to each critic loss (``penalty``),
act after each critic optimiser step (``after_critic_step``), and say which normalisation the
critic may use (``critic_norm``: gradient penalties are per-sample, so batch norm is out).

A penalty's random numbers are drawn by ``draw`` from the run's generator and then used by
``penalty_from``: the seed ensemble (wganbench/steps.py) draws them per member outside
``torch.func.vmap`` (no RNG inside it) and computes the penalty inside it. ``ensemble_safe``
declares that a method works that way; a user's method that does not say so makes an ensemble
train its members one after another.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from ..registry import ConfigError, Registry
from .losses import Batch, Loss


class LipschitzMethod:
    critic_norm: str | None = None  # None: no constraint on the critic's normalisation
    ensemble_safe: bool = False  # True: draw/penalty_from/after_critic_step work per ensemble member

    def prepare(self, critic: nn.Module) -> nn.Module:
        return critic

    def draw(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor | None:
        """The random numbers one penalty needs, from the run's generator (None: none needed)."""
        return None

    def penalty_from(self, loss: Loss, critic: nn.Module, batch: Batch, drawn: torch.Tensor | None,
                     functional: bool = False) -> torch.Tensor | None:
        """The penalty given ``draw``'s numbers; ``functional``: called inside torch.func.vmap."""
        return None

    def penalty(self, loss: Loss, critic: nn.Module, batch: Batch, rng: torch.Generator) -> torch.Tensor | None:
        return self.penalty_from(loss, critic, batch, self.draw(batch.real, rng))

    def after_critic_step(self, critic: nn.Module) -> None:
        pass

    def perturb(self, batch: Batch, rng: torch.Generator, iteration: int) -> Batch:
        """The batch the critic sees in both steps (instance noise changes it; others keep it)."""
        return batch

    def state_dict(self) -> dict:
        """State that lives across steps (LeCam's moving averages); saved in the checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


LIPSCHITZ: Registry[type[LipschitzMethod]] = Registry("Lipschitz method", allow_import_path=True)


@LIPSCHITZ.register("clip")
class WeightClipping(LipschitzMethod):
    """Clamp every critic parameter to [-c, c] after each critic step (WGAN algorithm 1).

    Choice recorded: algorithm 1 of Arjovsky et al. 2017 clips after the step; the official code
    (martinarjovsky/WassersteinGAN, main.py) clamps before each step instead; the
    two differ only in whether the generator sees weights one RMSProp step outside the box.
    """

    ensemble_safe = True

    def __init__(self, c: float = 0.01) -> None:
        self.c = float(c)

    def after_critic_step(self, critic: nn.Module) -> None:
        with torch.no_grad():
            for parameter in critic.parameters():
                parameter.clamp_(-self.c, self.c)


@LIPSCHITZ.register("gradient_penalty")
class GradientPenalty(LipschitzMethod):
    """WGAN-GP: weight * E[(||grad_x f(x_hat)|| - center)^2] on x_hat = eps x + (1 - eps) x_fake,
    one eps ~ U[0, 1] per sample; ``one_sided`` penalises only norms above ``center``."""

    critic_norm = "layer"
    ensemble_safe = True

    def __init__(self, weight: float = 10.0, center: float = 1.0, one_sided: bool = False) -> None:
        self.weight, self.center, self.one_sided = float(weight), float(center), bool(one_sided)

    def draw(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=rng).to(real.device)

    def penalty_from(self, loss: Loss, critic: nn.Module, batch: Batch, drawn: torch.Tensor | None,
                     functional: bool = False) -> torch.Tensor:
        real, fake, eps = batch.real, batch.fake.detach(), drawn
        grad = input_gradient(loss, critic, batch, eps * real + (1.0 - eps) * fake, functional)
        excess = grad.flatten(1).norm(dim=1) - self.center
        if self.one_sided:
            excess = excess.clamp(min=0.0)
        return self.weight * (excess**2).mean()


def input_gradient(loss: Loss, critic: nn.Module, batch: Batch, x: torch.Tensor, functional: bool) -> torch.Tensor:
    """d(sum of the critic's values at x)/dx, kept in the graph so a penalty on it trains the critic.
    ``functional``: inside torch.func.vmap, where torch.autograd.grad does not work; func.vjp does,
    and outer autograd differentiates through it (create_graph is implied)."""
    if functional:
        values, pullback = torch.func.vjp(lambda inputs: loss.critic_value(critic, inputs, batch), x)
        (grad,) = pullback(torch.ones_like(values))
        return grad
    x = x.requires_grad_(True)
    (grad,) = torch.autograd.grad(loss.critic_value(critic, x, batch).sum(), x, create_graph=True)
    return grad


class ZeroCentredPenalty(LipschitzMethod):
    """Mescheder et al. 2018's R1 (on real samples) and R2 (on generated ones): weight/2 E||grad_x f(x)||^2,
    with ``weight`` their gamma. No random numbers. The critic has no normalisation, as in their
    networks (and R3GAN's): batch norm would mix samples into each one's gradient."""

    critic_norm = "none"
    ensemble_safe = True
    on = "real"

    def __init__(self, weight: float = 10.0) -> None:
        self.weight = float(weight)

    def penalty_from(self, loss: Loss, critic: nn.Module, batch: Batch, drawn: torch.Tensor | None,
                     functional: bool = False) -> torch.Tensor:
        x = (batch.real if self.on == "real" else batch.fake).detach()
        grad = input_gradient(loss, critic, batch, x, functional)
        return 0.5 * self.weight * grad.flatten(1).pow(2).sum(dim=1).mean()


@LIPSCHITZ.register("r1")
class R1Penalty(ZeroCentredPenalty):
    ensemble_safe = True
    on = "real"


@LIPSCHITZ.register("r2")
class R2Penalty(ZeroCentredPenalty):
    ensemble_safe = True
    on = "fake"


@LIPSCHITZ.register("dragan")
class DraganPenalty(LipschitzMethod):
    """DRAGAN (Kodali et al. 2017): weight * E[(||grad_x f(x~)|| - 1)^2] around the real data, at
    x~ = x + std(x) (u - 1/2) with one u ~ U[0, 1) per number and std over the whole batch; the norm
    is sqrt(1e-4 + ||grad||^2). Perturbation, norm and weight 10 as compare_gan's dragan_penalty
    (google/compare_gan, gans/penalty_lib.py), which also clips x~ to its data range [0, 1]: here
    ``clip`` is [low, high] or null (none: the toy data sets are unbounded)."""

    critic_norm = "layer"  # a per-sample penalty, as WGAN-GP's
    ensemble_safe = True

    def __init__(self, weight: float = 10.0, clip: list[float] | None = None) -> None:
        self.weight = float(weight)
        self.clip = None if clip is None else (float(clip[0]), float(clip[1]))

    def draw(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return torch.rand(real.shape, generator=rng).to(real.device)

    def penalty_from(self, loss: Loss, critic: nn.Module, batch: Batch, drawn: torch.Tensor | None,
                     functional: bool = False) -> torch.Tensor:
        real = batch.real.detach()
        noisy = real + real.var(correction=0).sqrt() * (drawn - 0.5)
        if self.clip is not None:
            noisy = noisy.clamp(*self.clip)
        grad = input_gradient(loss, critic, batch, noisy, functional)
        slopes = (1e-4 + grad.flatten(1).pow(2).sum(dim=1)).sqrt()
        return self.weight * ((slopes - 1.0) ** 2).mean()


@LIPSCHITZ.register("lecam")
class LeCamRegulariser(LipschitzMethod):
    """LeCam (Tseng et al. 2021, eq. 3 as google/lecam-gan's lecam_reg):
    weight * (E relu(D(x) - a_fake)^2 + E relu(a_real - D(G(z)))^2), a_real and a_fake moving
    averages (decay 0.99) of the batch means of D(x) and D(G(z)). Before ``start`` critic steps the
    averages equal the latest means (lecam-gan's ema_start); each step updates them first, then
    uses them. Weight 0.3: lecam-gan's CIFAR-10 script (--LC 0.3).

    Not ``ensemble_safe``: the averages are run state, kept per run in its checkpoint (so a resumed
    run is bit-identical), which a vmapped ensemble step has no place for; its members train one
    after another."""

    def __init__(self, weight: float = 0.3, decay: float = 0.99, start: int = 1000) -> None:
        self.weight, self.decay, self.start = float(weight), float(decay), int(start)
        self.steps, self.real_average, self.fake_average = 0, 0.0, 0.0

    def penalty_from(self, loss: Loss, critic: nn.Module, batch: Batch, drawn: torch.Tensor | None,
                     functional: bool = False) -> torch.Tensor:
        real = loss.critic_value(critic, batch.real, batch)
        fake = loss.critic_value(critic, batch.fake.detach(), batch)
        decay = self.decay if self.steps >= self.start else 0.0
        self.real_average = decay * self.real_average + (1.0 - decay) * float(real.detach().mean())
        self.fake_average = decay * self.fake_average + (1.0 - decay) * float(fake.detach().mean())
        self.steps += 1
        return self.weight * (F.relu(real - self.fake_average).pow(2).mean()
                              + F.relu(self.real_average - fake).pow(2).mean())

    def state_dict(self) -> dict:
        return {"steps": self.steps, "real_average": self.real_average, "fake_average": self.fake_average}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.real_average, self.fake_average = state["steps"], state["real_average"], state["fake_average"]


@LIPSCHITZ.register("instance_noise")
class InstanceNoise(LipschitzMethod):
    """Instance noise (Sonderby et al. 2017; Arjovsky & Bottou 2017): the critic sees real and
    generated samples plus N(0, sigma^2) noise, in its own steps and the generator's, with sigma
    decayed linearly from ``sigma`` to 0 over ``anneal`` generator iterations. Mescheder et al.
    2018 prove it makes the Dirac-GAN locally convergent (wganbench theory dirac-gan).

    Not ``ensemble_safe``: the noise is drawn in the step, from the run's generator, which a
    vmapped step cannot; its members train one after another."""

    def __init__(self, sigma: float = 0.1, anneal: int = 10000) -> None:
        self.sigma, self.anneal = float(sigma), int(anneal)

    def sigma_at(self, iteration: int) -> float:
        return self.sigma * max(0.0, 1.0 - iteration / self.anneal) if self.anneal else self.sigma

    def perturb(self, batch: Batch, rng: torch.Generator, iteration: int) -> Batch:
        sigma = self.sigma_at(iteration)
        if sigma == 0.0:
            return batch
        noisy = lambda x: x + sigma * torch.randn(x.shape, generator=rng).to(x.device)  # noqa: E731
        return Batch(noisy(batch.real), [noisy(fake) for fake in batch.fakes])


@LIPSCHITZ.register("spectral_norm")
class SpectralNorm(LipschitzMethod):
    """Miyato et al.: every critic conv/linear weight divided by its largest singular value,
    estimated with ``power_iterations`` rounds of power iteration that persist across steps."""

    critic_norm = "none"
    ensemble_safe = True

    def __init__(self, power_iterations: int = 1) -> None:
        self.power_iterations = int(power_iterations)

    def prepare(self, critic: nn.Module) -> nn.Module:
        for module in list(critic.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear)):  # dim 0, as torch's spectral_norm for these
                parametrize.register_parametrization(
                    module, "weight", InPlaceSpectralNorm(module.weight, self.power_iterations, dim=0))
        return critic


class InPlaceSpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization (same buffers, same numbers, same state_dict) whose
    power iteration writes u and v with ``copy_`` instead of ``out=``: vmap has no rule for ``out=``,
    and ``copy_`` into a stacked buffer updates every ensemble member's own vectors."""

    @torch.autograd.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))


def build_lipschitz(spec: None | str | dict) -> list[LipschitzMethod]:
    """``None``, ``"spectral_norm"``, ``{"clip": 0.01}``, ``{"gradient_penalty": {"weight": 10}}``,
    or several keys at once -> the list of methods."""
    if spec is None:
        return []
    items = {spec: {}}.items() if isinstance(spec, str) else spec.items()
    methods = []
    for name, params in items:
        cls = LIPSCHITZ.get(name, key="lipschitz")
        if params is True or params is None:
            params = {}
        try:
            methods.append(cls(**params) if isinstance(params, dict) else cls(params))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config key 'lipschitz.{name}': bad parameters {params!r}: {exc}") from None
    return methods


def critic_norm_for(methods: list[LipschitzMethod]) -> str | None:
    """The normalisation the Lipschitz methods require of the critic, if any."""
    required = {m.critic_norm for m in methods if m.critic_norm is not None}
    if len(required) > 1:
        return "none"
    return required.pop() if required else None
