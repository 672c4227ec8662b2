"""Every built-in objective, resolved from builtin.yaml as a run resolves it, behaves as its paper says.

Literal pins catch a changed number; these catch a mis-wired objective: a critic step must tell real
from fake apart, a generator step must pull fakes towards the real data, only the minimax loss may
lose its generator gradient on a saturated discriminator (Goodfellow et al. 2014, §3), and each
Lipschitz method must actually constrain the critic it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from torch.nn.utils.parametrize import is_parametrized

from wganbench.config import builtin_objectives, resolve_cell
from wganbench.objectives import Batch, Objective, build_objective, build_optimizer
from wganbench.objectives.lipschitz import (DraganPenalty, GradientPenalty, LeCamRegulariser, R1Penalty, R2Penalty,
                                            SpectralNorm, WeightClipping)
from wganbench.train import build_models


@dataclass(frozen=True)
class Expected:
    """What the objective's paper says it does."""

    saturates: bool | None  # generator gradient vanishes on a saturated D; None: no scalar score (Cramér)
    constraint: tuple[type, ...]  # the Lipschitz methods and regularisers that must act on the critic
    schedule: tuple[int, int, int]  # critic steps before generator iterations 0, 25 and 500


SN, GP, CLIP, R1, R2, DRAGAN, LECAM = (SpectralNorm, GradientPenalty, WeightClipping, R1Penalty, R2Penalty,
                                        DraganPenalty, LeCamRegulariser)
EXPECTED = {
    "gan": Expected(True, (), (1, 1, 1)),  # Goodfellow et al. 2014, the minimax game
    "nsgan": Expected(False, (), (1, 1, 1)),  # ibid., -log D generator
    "lsgan": Expected(False, (), (1, 1, 1)),  # Mao et al. 2017
    "hinge": Expected(False, (SN,), (1, 1, 1)),  # Miyato et al. 2018, eq. 17
    "wgan": Expected(False, (CLIP,), (100, 5, 100)),  # Arjovsky et al. 2017, alg. 1 + the official warm-up
    "wgan-gp": Expected(False, (GP,), (5, 5, 5)),  # Gulrajani et al. 2017, alg. 1
    "sngan": Expected(False, (SN,), (1, 1, 1)),  # Miyato et al. 2018, setting C
    "cramer": Expected(None, (GP,), (5, 5, 5)),  # Bellemare et al. 2017, alg. 1
    "f-kl": Expected(False, (), (1, 1, 1)),  # Nowozin et al. 2016, table 6
    "f-rkl": Expected(False, (), (1, 1, 1)),
    "f-pearson": Expected(False, (), (1, 1, 1)),
    "f-hellinger": Expected(False, (), (1, 1, 1)),
    "f-js": Expected(False, (), (1, 1, 1)),
    "r1-gan": Expected(False, (R1,), (1, 1, 1)),  # Mescheder et al. 2018
    "rpgan-r1r2": Expected(False, (R1, R2), (1, 1, 1)),  # Huang et al. 2024 (R3GAN)
    "ragan": Expected(False, (), (1, 1, 1)),  # Jolicoeur-Martineau 2019
    "wgan-lp": Expected(False, (GP,), (5, 5, 5)),  # Petzka et al. 2018
    "dragan": Expected(False, (DRAGAN,), (1, 1, 1)),  # Kodali et al. 2017
    "lecam-gan": Expected(False, (SN, LECAM), (1, 1, 1)),  # Tseng et al. 2021
    "mmd-gan": Expected(None, (GP,), (5, 5, 5)),  # Binkowski et al. 2018
}
REAL_CENTRE, FAKE_CENTRE = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])


def resolved(name: str) -> dict:
    """The run config of ``name`` on 8 Gaussians, narrowed so a step costs milliseconds."""
    return resolve_cell({"objective": name, "dataset": "8gaussians", "arch": "mlp", "iterations": 1,
                         "mlp_hidden": 32, "batch_size": 128})


def cloud(centre: torch.Tensor, seed: int, count: int = 128) -> torch.Tensor:
    return centre + 0.1 * torch.randn(count, 2, generator=torch.Generator().manual_seed(seed))


def critic_steps(cfg: dict, objective: Objective, critic: torch.nn.Module, steps: int) -> list[float]:
    """The objective's own critic update on fixed real and fake clouds; its estimate before each step."""
    optimizer = build_optimizer(cfg["optimizer"], critic.parameters())
    rng = torch.Generator().manual_seed(0)
    batch = Batch(cloud(REAL_CENTRE, 1), [cloud(FAKE_CENTRE, 2 + k) for k in range(objective.loss.fake_batches)])
    estimates = []
    for _ in range(steps):
        loss, estimate = objective.loss.critic_loss(critic, batch)
        estimates.append(float(estimate))
        for method in objective.lipschitz:
            penalty = method.penalty(objective.loss, critic, batch, rng)
            loss = loss + (penalty if penalty is not None else 0.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for method in objective.lipschitz:
            method.after_critic_step(critic)
    return [*estimates, float(objective.loss.critic_loss(critic, batch)[1])]


def trained_critic(name: str, steps: int = 20) -> tuple[dict, Objective, torch.nn.Module, list[float]]:
    cfg = resolved(name)
    objective = build_objective(cfg)
    _, critic = build_models(cfg, (2,), objective, torch.device("cpu"))
    return cfg, objective, critic, critic_steps(cfg, objective, critic, steps)


def test_every_builtin_objective_has_expected_behaviour() -> None:
    assert set(EXPECTED) == set(builtin_objectives()), "a new built-in objective needs its row in EXPECTED"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_critic_steps_raise_the_critics_estimate(name: str) -> None:
    """The critic's own distance estimate between separated clouds grows under its own updates
    (from the first step on: clipping first shrinks the default init into its box)."""
    *_, estimates = trained_critic(name)
    print(name, [f"{e:.3g}" for e in estimates[::5]])
    estimates = estimates[1:]
    assert estimates[-1] > estimates[0], estimates
    assert sum(b > a for a, b in zip(estimates, estimates[1:])) >= 0.7 * (len(estimates) - 1), estimates


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generator_gradient_pulls_fakes_towards_the_real_data(name: str) -> None:
    """Along the axis that separates the clouds. (Across it the direction is free: a gradient
    penalty is met by a unit gradient in any direction, so WGAN-GP's critic still leans across
    after 100 steps; cosine 0.35 here, against 0.89-0.997 for the others.)"""
    _, objective, critic, _ = trained_critic(name, steps=100)
    critic.requires_grad_(False)
    fakes = [cloud(FAKE_CENTRE, 2 + k).requires_grad_(True) for k in range(objective.loss.fake_batches)]
    objective.loss.generator_loss(critic, Batch(cloud(REAL_CENTRE, 1), fakes)).backward()
    descent = -fakes[0].grad.mean(0)
    towards_real = REAL_CENTRE - FAKE_CENTRE
    cosine = float(descent @ towards_real / (descent.norm() * towards_real.norm()))
    print(name, "cosine of the generator's descent direction with the way to the data:", round(cosine, 3))
    assert cosine > 0.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_only_the_minimax_generator_loses_its_gradient_on_a_saturated_discriminator(name: str) -> None:
    """At fake score -10 (D(G(z)) = sigmoid(-10): the discriminator is sure the sample is fake),
    with real scores 0 (relativistic losses compare the two). The critic is the identity on 1-D
    samples, so a sample's score is the sample. Cramér and MMD GAN have vector critics, no score."""
    loss = build_objective(resolved(name)).loss
    if EXPECTED[name].saturates is None:
        assert loss.critic_outputs > 1
        with pytest.raises(NotImplementedError):
            loss.generator_loss_from_scores(torch.zeros(1))
        return
    identity = lambda x: x.view(-1)  # noqa: E731
    slopes = []
    for value in (-10.0, 0.0):
        score = torch.tensor([[value]], requires_grad=True)
        loss.generator_loss(identity, Batch(torch.zeros(1, 1), [score])).backward()
        slopes.append(float(score.grad))
    assert all(slope < 0 for slope in slopes), f"{name}: the generator must want higher fake scores, {slopes}"
    saturated = abs(slopes[0]) < 1e-3
    assert saturated == EXPECTED[name].saturates, f"{name}: slope {slopes[0]:.3g} at a saturated D"


SLOPES = (1.0, 3.0, 0.5)


def linear_critics() -> list[tuple[float, object]]:
    """Critics whose gradient is the same everywhere, |slope| in norm, so a penalty is known in closed form."""
    direction = torch.tensor([0.6, 0.8])
    return [(slope, lambda x, s=slope: (x @ direction) * s) for slope in SLOPES]


def penalties_on_linear_critics(method: object) -> list[float]:
    batch = Batch(cloud(REAL_CENTRE, 1), [cloud(FAKE_CENTRE, 2)])
    score = build_objective(resolved("wgan")).loss  # scalar scores: f is the critic itself
    return [float(method.penalty(score, critic, batch, torch.Generator().manual_seed(0)))
            for _, critic in linear_critics()]


def check_clipping(method: WeightClipping, cfg: dict, critic: torch.nn.Module) -> None:
    largest = max(float(p.detach().abs().max()) for p in critic.parameters())
    assert largest == pytest.approx(method.c), "clipping must bind after critic steps from the default init"


def check_spectral_norm(method: SpectralNorm, cfg: dict, critic: torch.nn.Module) -> None:
    probe = torch.randn(256, 2, generator=torch.Generator().manual_seed(9)).requires_grad_(True)
    critic.train()
    for _ in range(30):  # power iteration converges over forward passes, as over training steps
        critic(probe.detach())
    critic.eval()
    (grad,) = torch.autograd.grad(critic(probe).sum(), probe)
    assert float(grad.norm(dim=1).max()) <= 1.0 + 1e-3  # product of unit spectral norms bounds it


def check_gradient_penalty(method: GradientPenalty, cfg: dict, critic: torch.nn.Module) -> None:
    """weight * (|slope| - 1)^2, or only above 1 when one-sided (WGAN-LP). (Cramer's and MMD's f
    have no such critic; their penalty acts on the same f.)"""
    spec = cfg["lipschitz"]["gradient_penalty"]
    assert method.weight == (spec["weight"] if isinstance(spec, dict) else spec)
    excess = [max(s - 1, 0.0) if method.one_sided else s - 1 for s in SLOPES]
    assert penalties_on_linear_critics(method) == pytest.approx([method.weight * e**2 for e in excess], rel=1e-5, abs=1e-9)


def check_zero_centred(method: R1Penalty, cfg: dict, critic: torch.nn.Module) -> None:
    """gamma/2 |slope|^2 whatever the side: no free unit-norm gradient, unlike WGAN-GP."""
    assert penalties_on_linear_critics(method) == pytest.approx([method.weight / 2 * s**2 for s in SLOPES], rel=1e-5)


def check_dragan(method: DraganPenalty, cfg: dict, critic: torch.nn.Module) -> None:
    expected = [method.weight * ((1e-4 + s**2) ** 0.5 - 1) ** 2 for s in SLOPES]
    assert penalties_on_linear_critics(method) == pytest.approx(expected, rel=1e-4, abs=1e-9)


def check_lecam(method: LeCamRegulariser, cfg: dict, critic: torch.nn.Module) -> None:
    """After the critic's steps the averages sit apart (real above fake), and the penalty pulls the
    scores back towards each other: it is positive and rises with a steeper critic."""
    assert method.steps > 0 and method.real_average > method.fake_average
    assert penalties_on_linear_critics(method)[1] > 0


CHECKS = {WeightClipping: check_clipping, SpectralNorm: check_spectral_norm, GradientPenalty: check_gradient_penalty,
          R1Penalty: check_zero_centred, R2Penalty: check_zero_centred, DraganPenalty: check_dragan,
          LeCamRegulariser: check_lecam}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lipschitz_method_constrains_the_critic(name: str) -> None:
    cfg, objective, critic, _ = trained_critic(name, steps=5)
    kinds = tuple(type(method) for method in objective.lipschitz)
    assert kinds == EXPECTED[name].constraint, kinds
    for method in objective.lipschitz:
        CHECKS[type(method)](method, cfg, critic)
    if SN not in kinds:
        assert not any(is_parametrized(module) for module in critic.modules())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_critic_schedule(name: str) -> None:
    objective = build_objective(resolved(name))
    assert tuple(objective.critic_steps(i) for i in (0, 25, 500)) == EXPECTED[name].schedule
