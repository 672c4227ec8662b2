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
from wganbench.objectives.lipschitz import GradientPenalty, SpectralNorm, WeightClipping
from wganbench.train import build_models


@dataclass(frozen=True)
class Expected:
    """What the objective's paper says it does."""

    saturates: bool | None  # generator gradient vanishes on a saturated D; None: no scalar score (Cramér)
    constraint: type | None  # the Lipschitz method that must act on the critic
    schedule: tuple[int, int, int]  # critic steps before generator iterations 0, 25 and 500


SN, GP, CLIP = SpectralNorm, GradientPenalty, WeightClipping
EXPECTED = {
    "gan": Expected(True, None, (1, 1, 1)),  # Goodfellow et al. 2014, the minimax game
    "nsgan": Expected(False, None, (1, 1, 1)),  # ibid., -log D generator
    "lsgan": Expected(False, None, (1, 1, 1)),  # Mao et al. 2017
    "hinge": Expected(False, SN, (1, 1, 1)),  # Miyato et al. 2018, eq. 17
    "wgan": Expected(False, CLIP, (100, 5, 100)),  # Arjovsky et al. 2017, alg. 1 + the official warm-up
    "wgan-gp": Expected(False, GP, (5, 5, 5)),  # Gulrajani et al. 2017, alg. 1
    "sngan": Expected(False, SN, (1, 1, 1)),  # Miyato et al. 2018, setting C
    "cramer": Expected(None, GP, (5, 5, 5)),  # Bellemare et al. 2017, alg. 1
    "f-kl": Expected(False, None, (1, 1, 1)),  # Nowozin et al. 2016, table 6
    "f-rkl": Expected(False, None, (1, 1, 1)),
    "f-pearson": Expected(False, None, (1, 1, 1)),
    "f-hellinger": Expected(False, None, (1, 1, 1)),
    "f-js": Expected(False, None, (1, 1, 1)),
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
    """At fake score -10 (D(G(z)) = sigmoid(-10): the discriminator is sure the sample is fake)."""
    loss = build_objective(resolved(name)).loss
    if EXPECTED[name].saturates is None:
        with pytest.raises(NotImplementedError):
            loss.generator_loss_from_scores(torch.zeros(1))
        return
    slopes = []
    for value in (-10.0, 0.0):
        score = torch.tensor([value], requires_grad=True)
        loss.generator_loss_from_scores(score).backward()
        slopes.append(float(score.grad))
    assert all(slope < 0 for slope in slopes), f"{name}: the generator must want higher fake scores, {slopes}"
    saturated = abs(slopes[0]) < 1e-3
    assert saturated == EXPECTED[name].saturates, f"{name}: slope {slopes[0]:.3g} at a saturated D"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lipschitz_method_constrains_the_critic(name: str) -> None:
    cfg, objective, critic, _ = trained_critic(name, steps=5)
    kinds = [type(method) for method in objective.lipschitz]
    expected = EXPECTED[name].constraint
    assert kinds == ([expected] if expected else []), kinds
    probe = torch.randn(256, 2, generator=torch.Generator().manual_seed(9)).requires_grad_(True)
    if expected is CLIP:
        c = objective.lipschitz[0].c
        largest = max(float(p.detach().abs().max()) for p in critic.parameters())
        assert largest == pytest.approx(c), "clipping must bind after critic steps from the default init"
    elif expected is SN:
        critic.train()
        for _ in range(30):  # power iteration converges over forward passes, as over training steps
            critic(probe.detach())
        critic.eval()
        (grad,) = torch.autograd.grad(critic(probe).sum(), probe)
        assert float(grad.norm(dim=1).max()) <= 1.0 + 1e-3  # product of unit spectral norms bounds it
    elif expected is GP:
        method = objective.lipschitz[0]
        assert method.weight == cfg["lipschitz"]["gradient_penalty"]
        # a critic whose gradient norm is the same everywhere: penalty weight * (norm - 1)^2.
        # (Cramer's f(x) = |h(x) - h(x')| - |h(x)| has no such critic; its penalty acts on the same f.)
        direction = torch.tensor([0.6, 0.8])
        batch = Batch(cloud(REAL_CENTRE, 1), [cloud(FAKE_CENTRE, 2)])
        score = build_objective(resolved("wgan")).loss  # scalar scores: f is the critic itself
        for slope, excess in ((1.0, 0.0), (3.0, 2.0), (0.5, -0.5)):
            linear = lambda x, s=slope: (x @ direction) * s  # noqa: E731
            found = method.penalty(score, linear, batch, torch.Generator().manual_seed(0))
            assert float(found) == pytest.approx(method.weight * excess**2, rel=1e-5, abs=1e-9)
    else:
        assert not any(is_parametrized(module) for module in critic.modules())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_critic_schedule(name: str) -> None:
    objective = build_objective(resolved(name))
    assert tuple(objective.critic_steps(i) for i in (0, 25, 500)) == EXPECTED[name].schedule
