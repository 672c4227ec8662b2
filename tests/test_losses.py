"""Losses, f-divergence conjugates and Lipschitz methods against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from torch import nn

from wganbench.objectives import Batch, build_lipschitz, build_loss
from wganbench.objectives.fdivergences import F_DIVERGENCES
from wganbench.objectives.losses import LOSSES, Loss
from wganbench.registry import ConfigError

REAL = torch.tensor([0.5, -1.0])
FAKE = torch.tensor([2.0, 0.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def close(a: torch.Tensor, b: float) -> None:
    assert float(a.detach()) == pytest.approx(b, rel=1e-6, abs=1e-7)


def test_minimax_and_nonsaturating_match_log_sigmoid_definitions() -> None:
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    critic = -(np.mean([math.log(sig(v)) for v in REAL.tolist()]) + np.mean([math.log(1 - sig(v)) for v in FAKE.tolist()]))
    for name in ("minimax", "nonsaturating"):
        close(build_loss(name).critic_loss_from_scores(REAL, FAKE), critic)
    close(build_loss("minimax").generator_loss_from_scores(FAKE), np.mean([math.log(1 - sig(v)) for v in FAKE.tolist()]))
    close(build_loss("nonsaturating").generator_loss_from_scores(FAKE), -np.mean([math.log(sig(v)) for v in FAKE.tolist()]))
    # the estimate is the JS lower bound 1/2 L + log 2: exactly 0 for an uninformative critic
    close(build_loss("nonsaturating").estimate_from_scores(torch.zeros(3), torch.zeros(3)), 0.0)


def test_least_squares_hinge_wasserstein_by_hand() -> None:
    close(build_loss("least_squares").critic_loss_from_scores(REAL, FAKE), 0.5 * (0.25 + 4.0) / 2 + 0.5 * (4.0 + 0.0) / 2)
    close(build_loss("least_squares").generator_loss_from_scores(FAKE), 0.5 * (1.0 + 1.0) / 2)
    close(build_loss("hinge").critic_loss_from_scores(REAL, FAKE), (0.5 + 2.0) / 2 + (3.0 + 1.0) / 2)
    close(build_loss("hinge").generator_loss_from_scores(FAKE), -1.0)
    close(build_loss("wasserstein").critic_loss_from_scores(REAL, FAKE), 1.0 - (-0.25))
    close(build_loss("wasserstein").generator_loss_from_scores(FAKE), -1.0)
    close(build_loss("wasserstein").estimate_from_scores(REAL, FAKE), -1.25)


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "pearson", "hellinger", "js"])
def test_f_gan_loss_is_the_variational_bound(name: str) -> None:
    div = F_DIVERGENCES.get(name)
    loss = build_loss({"f_divergence": name})
    bound = div.activation(REAL).mean() - div.conjugate(div.activation(FAKE)).mean()
    close(loss.critic_loss_from_scores(REAL, FAKE), -float(bound))
    close(loss.generator_loss_from_scores(FAKE), -float(div.activation(FAKE).mean()))
    saddle = build_loss({"f_divergence": name, "generator": "saddle"})
    close(saddle.generator_loss_from_scores(FAKE), -float(div.conjugate(div.activation(FAKE)).mean()))


@pytest.mark.parametrize("name", F_DIVERGENCES.names())
def test_conjugate_is_the_fenchel_dual_of_f(name: str) -> None:
    """f*(t) = sup_u (u t - f(u)), checked numerically at points of dom f* reached by g_f."""
    div = F_DIVERGENCES.get(name)
    f = lambda u: float(div.f(torch.tensor(u, dtype=torch.float64)))  # noqa: E731
    for v in (-1.5, -0.3, 0.0, 0.4, 1.2):
        t = float(div.activation(torch.tensor(v, dtype=torch.float64)))
        result = minimize_scalar(lambda log_u: -(math.exp(log_u) * t - f(math.exp(log_u))),
                                 bounds=(-25.0, 12.0), method="bounded", options={"xatol": 1e-10})
        sup = -result.fun
        conj = float(div.conjugate(torch.tensor(t, dtype=torch.float64)))
        assert conj == pytest.approx(sup, abs=2e-5), (name, v)
        fused = float(div.conjugate_of_activation(torch.tensor(v, dtype=torch.float64)))
        assert fused == pytest.approx(conj, abs=1e-9), (name, v)


def test_cramer_losses_by_hand() -> None:
    class Identity(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    real, fake, fake2 = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    loss = build_loss({"name": "cramer", "features": 2})
    assert loss.fake_batches == 2 and loss.critic_outputs == 2
    batch = Batch(real, [fake, fake2])
    # f(x) = |h(x) - h(x'g)| - |h(x)|: f(real) = |(3,3)| - 5, f(fake) = 1 - 0
    surrogate = (math.sqrt(18.0) - 5.0) - 1.0
    critic_loss, estimate = loss.critic_loss(Identity(), batch)
    close(critic_loss, -surrogate)
    close(estimate, surrogate)
    # |real - fake| + |real - fake2| - |fake - fake2| = 5 + sqrt(18) - 1
    close(loss.generator_loss(Identity(), batch), 5.0 + math.sqrt(18.0) - 1.0)


def test_gradient_penalty_of_a_linear_critic_is_exact() -> None:
    critic = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    (gp,) = build_lipschitz({"gradient_penalty": 10})
    batch = Batch(torch.randn(5, 3), [torch.randn(5, 3)])
    penalty = gp.penalty(build_loss("wasserstein"), critic, batch, torch.Generator().manual_seed(0))
    close(penalty, 10.0 * (2.0 - 1.0) ** 2)
    (one_sided,) = build_lipschitz({"gradient_penalty": {"weight": 10, "one_sided": True, "center": 3.0}})
    close(one_sided.penalty(build_loss("wasserstein"), critic, batch, torch.Generator()), 0.0)


def test_clipping_and_spectral_norm_constrain_the_critic() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    (clip,) = build_lipschitz({"clip": 0.01})
    clip.after_critic_step(critic)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in critic.parameters())

    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(16, 16))
    (sn,) = build_lipschitz("spectral_norm")
    critic = sn.prepare(critic)
    for _ in range(50):  # power iteration advances once per training-mode forward
        critic(torch.randn(2, 16))
    sigma = torch.linalg.matrix_norm(critic[0].weight.detach(), ord=2)
    assert float(sigma) == pytest.approx(1.0, abs=1e-3)


def test_user_loss_by_import_path_and_bad_names() -> None:
    loss = build_loss("wganbench.objectives.losses:HingeLoss")
    assert isinstance(loss, Loss)
    with pytest.raises(ConfigError, match="unknown loss 'nope'.*wasserstein"):
        build_loss("nope")
    with pytest.raises(ConfigError, match="cannot import module"):
        build_loss("no_such_module_xyz:Loss")
    with pytest.raises(ConfigError, match="unknown f-divergence"):
        build_loss({"f_divergence": "renyi"})
    assert "cramer" in LOSSES.names()


def test_wgan_warmup_schedule() -> None:
    from wganbench.objectives import Objective

    objective = Objective(build_loss("wasserstein"), [], 5, {"first": 25, "every": 500, "steps": 100})
    steps = [objective.critic_steps(i) for i in range(1001)]
    assert steps[:25] == [100] * 25 and steps[25] == 5 and steps[500] == 100 and steps[1000] == 100
    assert sum(s == 100 for s in steps) == 27
    assert Objective(build_loss("wasserstein"), [], 5, None).critic_steps(0) == 5


def identity_critic(x: torch.Tensor) -> torch.Tensor:
    return x


def test_relativistic_losses_by_hand() -> None:
    """RpGAN pairs each real score with a fake one; RaGAN compares each score with the other side's
    mean (Jolicoeur-Martineau 2019). Generator losses read the real batch as well."""
    sp = softplus
    batch = Batch(REAL, [FAKE])
    pairing = build_loss("relativistic_pairing")
    close(pairing.critic_loss_from_scores(REAL, FAKE), (sp(-(0.5 - 2.0)) + sp(-(-1.0 - 0.0))) / 2)
    close(pairing.generator_loss(identity_critic, batch), (sp(-(2.0 - 0.5)) + sp(-(0.0 + 1.0))) / 2)
    average = build_loss("relativistic_average")
    real_mean, fake_mean = -0.25, 1.0
    critic = np.mean([sp(-(r - fake_mean)) for r in (0.5, -1.0)]) + np.mean([sp(f - real_mean) for f in (2.0, 0.0)])
    generator = np.mean([sp(-(f - real_mean)) for f in (2.0, 0.0)]) + np.mean([sp(r - fake_mean) for r in (0.5, -1.0)])
    close(average.critic_loss_from_scores(REAL, FAKE), critic)
    close(average.generator_loss(identity_critic, batch), generator)
    # the generator wants its fakes scored above the reals: its loss falls as they rise
    for loss in (pairing, average):
        low = loss.generator_loss(identity_critic, Batch(REAL, [FAKE - 1]))
        high = loss.generator_loss(identity_critic, Batch(REAL, [FAKE + 1]))
        assert float(high) < float(low)


@pytest.mark.parametrize("name, on", [("r1", "real"), ("r2", "fake")])
def test_zero_centred_penalties_are_gamma_half_the_squared_gradient_norm(name: str, on: str) -> None:
    """Mescheder et al. 2018: R1 = gamma/2 E_real ||grad D||^2, R2 the same on generated samples.
    With D(x) = x_0^2 the gradient is (2 x_0, 0), so the penalty is gamma/2 * mean(4 x_0^2)."""
    (method,) = build_lipschitz({name: 3.0})
    real, fake = torch.tensor([[1.0, 5.0], [2.0, -1.0]]), torch.tensor([[3.0, 0.0], [0.5, 2.0]])
    square = lambda x: x[:, 0] ** 2  # noqa: E731
    found = method.penalty(build_loss("nonsaturating"), square, Batch(real, [fake]), torch.Generator())
    x0 = (real if on == "real" else fake)[:, 0]
    close(found, 1.5 * float((4 * x0**2).mean()))
    assert method.ensemble_safe and method.critic_norm == "none" and method.draw(real, torch.Generator()) is None
