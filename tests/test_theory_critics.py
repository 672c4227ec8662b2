"""The critic trainer of the theory experiments: independent members, exact per-member gradients,
seeded streams."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wganbench.objectives import Batch, build_loss
from wganbench.theory.critics import CRITICS, MemberMLP, torch_generator, train_critic
from wganbench.theory.output import single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """As the experiments' ``run`` does: tiny networks, shared cores (and no OpenMP contention)."""
    with single_thread():
        yield


def member_forward(net: MemberMLP, k: int, x: torch.Tensor) -> torch.Tensor:
    """Member k by hand: affine, LeakyReLU(0.2), ..., affine."""
    h = x
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        h = h @ w[k] + b[k, 0]
        if i < len(net.weights) - 1:
            h = torch.nn.functional.leaky_relu(h, 0.2)
    return h


def test_members_are_independent_mlps() -> None:
    net = MemberMLP(3, 2, 8, 2, torch_generator(0, "test"))
    x = torch.randn(3 * 5, 2, generator=torch.Generator().manual_seed(1))
    out = net(x).view(3, 5)
    for k in range(3):
        torch.testing.assert_close(out[k], member_forward(net, k, x[5 * k:5 * (k + 1)]).view(-1))
    # member 0's rows do not touch member 1's parameters
    net(x)[:5].sum().backward()
    assert all(p.grad[1:].abs().max() == 0 and p.grad[0].abs().max() > 0 for p in net.weights)


@pytest.mark.parametrize("loss_spec", ["wasserstein", "minimax", {"f_divergence": "pearson"}])
def test_scaled_joint_objective_gives_each_member_its_own_gradient(loss_spec) -> None:
    """The trainer backpropagates members x (mean over all rows): member k must get exactly the
    gradient of its own objective on its own rows, as if it trained alone."""
    loss = build_loss(loss_spec)
    g = torch.Generator().manual_seed(2)
    members, n = 3, 7
    joint = MemberMLP(members, 1, 6, 2, torch_generator(0, "joint"))
    real, fake = torch.randn(members * n, 1, generator=g), 1 + torch.randn(members * n, 1, generator=g)
    objective, _ = loss.critic_loss(joint, Batch(real=real, fakes=[fake]))
    (objective * members).backward()
    for k in range(members):
        alone = MemberMLP(1, 1, 6, 2, torch_generator(0, "alone"))
        with torch.no_grad():
            for mine, theirs in zip(alone.parameters(), joint.parameters()):
                mine.copy_(theirs[k:k + 1])
        rows = slice(k * n, (k + 1) * n)
        loss.critic_loss(alone, Batch(real=real[rows], fakes=[fake[rows]]))[0].backward()
        for mine, theirs in zip(alone.parameters(), joint.parameters()):
            torch.testing.assert_close(mine.grad[0], theirs.grad[k], rtol=1e-5, atol=1e-7)


def test_torch_generator_streams() -> None:
    draw = lambda *tags: torch.rand(4, generator=torch_generator(*tags))  # noqa: E731
    torch.testing.assert_close(draw(0, "a", 3), draw(0, "a", 3), rtol=0, atol=0)
    assert not torch.equal(draw(0, "a", 3), draw(1, "a", 3))
    assert not torch.equal(draw(0, "a", 3), draw(0, "b", 3))


def test_weight_clipping_is_applied_and_training_is_deterministic() -> None:
    spec = dataclasses.replace(CRITICS.get("critic_clip"), steps=30, batch_size=32, hidden=8)
    real = lambda n, g: 1 + torch.randn(2 * n, 1, generator=g)  # noqa: E731
    fake = lambda n, g: torch.randn(2 * n, 1, generator=g)  # noqa: E731
    first = train_critic(spec, real, fake, 1, torch_generator(0, "clip"), members=2)
    again = train_critic(spec, real, fake, 1, torch_generator(0, "clip"), members=2)
    assert max(p.abs().max().item() for p in first.net.parameters()) <= 0.01
    for a, b in zip(first.net.parameters(), again.net.parameters()):
        assert torch.equal(a, b)
    x = torch.linspace(-3, 4, 2 * 50).view(-1, 1)
    assert first.estimates(x, x).shape == (2,)
