"""The regularisers and losses that the other GAN benchmarks lack (DRAGAN, LeCam, instance noise,
MMD GAN) against hand computations, and the built-in objectives composed from them: each trains,
resumes bit-identically, and runs in an ensemble (vmapped, or one after another where its class
says why not)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import log_without_wall_time, samples

from wganbench.config import parse_overrides, resolve_cell
from wganbench.objectives import Batch, build_lipschitz, build_loss
from wganbench.objectives.losses import unbiased_mmd2
from wganbench.train import train, train_seeds

NEW = ["r1-gan", "rpgan-r1r2", "ragan", "wgan-lp", "dragan", "lecam-gan", "mmd-gan"]
NOT_VMAPPED = {"lecam-gan": "LeCamRegulariser"}  # run state: members train one after another
REAL = torch.tensor([[1.0, 5.0], [2.0, -1.0], [0.0, 3.0]])
FAKE = torch.tensor([[3.0, 0.0], [0.5, 2.0], [-1.0, 1.0]])
NS = build_loss("nonsaturating")


def value(t: torch.Tensor) -> float:
    return float(t.detach())


def first_coordinate_squared(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0] ** 2


def test_dragan_penalises_the_gradient_norm_around_perturbed_real_samples() -> None:
    """x~ = x + std(x) (u - 1/2) with the run's uniform numbers; D(x) = x_0^2 has gradient (2 x~_0, 0),
    so the penalty is weight * mean((sqrt(1e-4 + 4 x~_0^2) - 1)^2)."""
    (method,) = build_lipschitz({"dragan": 10})
    found = method.penalty(NS, first_coordinate_squared, Batch(REAL, [FAKE]), torch.Generator().manual_seed(5))
    u = torch.rand(REAL.shape, generator=torch.Generator().manual_seed(5)).double()
    real = REAL.double()
    std = math.sqrt(float(((real - real.mean()) ** 2).mean()))  # over the whole batch, population variance
    x0 = (real + std * (u - 0.5))[:, 0]
    expected = 10 * float((((1e-4 + 4 * x0**2).sqrt() - 1) ** 2).mean())
    assert value(found) == pytest.approx(expected, rel=1e-5)
    # a critic of unit slope everywhere costs almost nothing; clip keeps x~ in the data range
    unit = lambda x: x @ torch.tensor([0.6, 0.8])  # noqa: E731
    assert value(method.penalty(NS, unit, Batch(REAL, [FAKE]), torch.Generator())) == pytest.approx(
        10 * (math.sqrt(1.0001) - 1) ** 2, rel=1e-2)  # float32 near 1
    (clipped,) = build_lipschitz({"dragan": {"weight": 1, "clip": [-0.3, 0.3]}})
    at_bound = clipped.penalty(NS, first_coordinate_squared, Batch(REAL, [FAKE]), torch.Generator().manual_seed(5))
    x0 = (real + std * (u - 0.5)).clamp(-0.3, 0.3)[:, 0]
    assert value(at_bound) == pytest.approx(float((((1e-4 + 4 * x0**2).sqrt() - 1) ** 2).mean()), rel=1e-5)


def test_lecam_pulls_scores_towards_the_other_sides_moving_average() -> None:
    """Tseng et al. eq. 3 with the identity critic on 1-D samples: the averages are the batch means
    before ``start`` steps, then move by (1 - decay); the penalty uses the updated averages."""
    (method,) = build_lipschitz({"lecam": {"weight": 2.0, "decay": 0.9, "start": 1}})
    identity = lambda x: x.view(-1)  # noqa: E731
    real1, fake1 = torch.tensor([[1.0], [3.0]]), torch.tensor([[-1.0], [0.0]])
    first = method.penalty(NS, identity, Batch(real1, [fake1]), torch.Generator())
    a_real, a_fake = 2.0, -0.5  # the first step sets them
    expected = 2.0 * (np.mean([max(0, r - a_fake) ** 2 for r in (1, 3)]) + np.mean([max(0, a_real - f) ** 2 for f in (-1, 0)]))
    assert value(first) == pytest.approx(expected)
    real2, fake2 = torch.tensor([[0.0], [0.5]]), torch.tensor([[2.5], [4.0]])
    second = method.penalty(NS, identity, Batch(real2, [fake2]), torch.Generator())
    a_real, a_fake = 0.9 * 2.0 + 0.1 * 0.25, 0.9 * -0.5 + 0.1 * 3.25
    expected = 2.0 * (np.mean([max(0, r - a_fake) ** 2 for r in (0, 0.5)]) + np.mean([max(0, a_real - f) ** 2 for f in (2.5, 4)]))
    assert value(second) == pytest.approx(expected)
    state = method.state_dict()
    assert state == {"steps": 2, "real_average": pytest.approx(a_real), "fake_average": pytest.approx(a_fake)}
    (fresh,) = build_lipschitz({"lecam": {"weight": 2.0, "decay": 0.9, "start": 1}})
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state and not fresh.ensemble_safe


def test_instance_noise_adds_linearly_decaying_gaussian_noise_to_both_sides() -> None:
    (method,) = build_lipschitz({"instance_noise": {"sigma": 0.4, "anneal": 100}})
    assert [method.sigma_at(i) for i in (0, 50, 100, 200)] == pytest.approx([0.4, 0.2, 0.0, 0.0])
    fake = FAKE.clone().requires_grad_(True)
    noisy = method.perturb(Batch(REAL, [fake]), torch.Generator().manual_seed(3), 50)
    draws = torch.Generator().manual_seed(3)
    assert torch.equal(noisy.real, REAL + 0.2 * torch.randn(REAL.shape, generator=draws))
    assert torch.allclose(noisy.fake, FAKE + 0.2 * torch.randn(FAKE.shape, generator=draws))
    noisy.fake.sum().backward()  # the generator still learns through the noise
    assert torch.equal(fake.grad, torch.ones_like(FAKE))
    unchanged = Batch(REAL, [FAKE])
    assert method.perturb(unchanged, torch.Generator(), 100) is unchanged and not method.ensemble_safe


def rq_kernel(a: np.ndarray, b: np.ndarray) -> float:
    squared = float(((a - b) ** 2).sum())
    return sum((1 + squared / (2 * alpha)) ** -alpha for alpha in (0.2, 0.5, 1, 2, 5))


def test_mmd_loss_is_the_unbiased_mmd2_of_the_critic_features() -> None:
    """Binkowski et al. 2018 with the identity critic: an explicit double loop over pairs, the
    diagonal left out of the within-set means; the witness is E_r k - E_g k at each point."""
    loss = build_loss({"name": "mmd", "features": 2})
    x, y = REAL.double().numpy(), FAKE.double().numpy()
    m, n = len(x), len(y)
    xx = sum(rq_kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(rq_kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(rq_kernel(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    identity = lambda t: t  # noqa: E731
    batch = Batch(REAL.double(), [FAKE.double()])
    critic_loss, estimate = loss.critic_loss(identity, batch)
    assert float(estimate) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert float(critic_loss) == -float(estimate)
    assert float(loss.generator_loss(identity, batch)) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    witness = loss.critic_value(identity, batch.real[:1], batch)
    expected = np.mean([rq_kernel(x[0], x[j]) for j in range(m)]) - np.mean([rq_kernel(x[0], y[j]) for j in range(n)])
    assert float(witness) == pytest.approx(expected, rel=1e-10)
    # the generator's gradient (autograd through the Gram matrices) against finite differences
    fake = FAKE.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: loss.generator_loss(identity, Batch(REAL.double(), [f])), (fake,))
    rbf = build_loss({"name": "mmd", "kernel": "rbf", "scales": [1.0]})
    k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / 2)  # noqa: E731
    off = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)  # X against itself: the
    same = unbiased_mmd2(*(rbf.gram(REAL, REAL),) * 3)  # unbiased estimate is below 0 by the diagonal
    assert float(same) == pytest.approx(2 * off / (m * (m - 1)) - 2 * (off + m) / m**2, rel=1e-5)
    assert float(rbf.gram(REAL[:1], FAKE[:1])) == pytest.approx(k(x[0], y[0]))


SMALL = ["log_every=1", "checkpoint_every=4", "mlp_hidden=32", "ngf=8", "ndf=8", "batch_size=16",
         "sample_count=32", "threads=1", "image_size=16"]


def small_cell(objective: str, iterations: int, dataset: str = "8gaussians", arch: str = "mlp",
               sets: tuple[str, ...] = ()) -> dict:
    return resolve_cell({"objective": objective, "arch": arch, "dataset": dataset, "iterations": iterations},
                        overrides=parse_overrides([*SMALL, *sets]))


@pytest.mark.parametrize("objective", NEW)
def test_a_resumed_run_is_bit_identical(tmp_path: Path, objective: str) -> None:
    """Stopped after its checkpoint at 4 and extended to 8, against 8 in one go (LeCam's averages
    travel in the checkpoint; without them the resumed penalty differs)."""
    train(small_cell(objective, 8), tmp_path / "whole")
    train(small_cell(objective, 4), tmp_path / "resumed")
    assert train(small_cell(objective, 8), tmp_path / "resumed")["status"] == "completed"
    assert json.loads((tmp_path / "resumed" / "provenance.json").read_text())["resumed_from_iteration"] == 4
    assert log_without_wall_time(tmp_path / "whole" / "log.csv") == log_without_wall_time(tmp_path / "resumed" / "log.csv")
    assert np.array_equal(samples(tmp_path / "whole"), samples(tmp_path / "resumed"))


@pytest.mark.parametrize("objective", NEW)
def test_ensemble_members_equal_their_single_runs(tmp_path: Path, objective: str) -> None:
    cfg = small_cell(objective, 3, "digits", "dcgan", ("ensemble_method=vmap",))
    statuses = train_seeds(cfg, [0, 1], str(tmp_path / "ensemble" / "seed{seed}"))
    assert [s["status"] for s in statuses] == ["completed", "completed"]
    record = json.loads((tmp_path / "ensemble" / "seed1" / "provenance.json").read_text())["ensemble"]
    if objective in NOT_VMAPPED:
        assert record["method"] == "sequential" and NOT_VMAPPED[objective] in record["reason"]
    else:
        assert record["method"] == "vmap", record
    for seed in (0, 1):
        train({**cfg, "seed": seed}, tmp_path / "single" / f"seed{seed}")
        np.testing.assert_allclose(samples(tmp_path / "ensemble" / f"seed{seed}"),
                                   samples(tmp_path / "single" / f"seed{seed}"), rtol=1e-4, atol=1e-5)


def test_instance_noise_trains_one_after_another_and_resumes(tmp_path: Path) -> None:
    grid = {"objectives": {"ns-noise": {"loss": "nonsaturating", "lipschitz": {"instance_noise": {"sigma": 0.5, "anneal": 6}},
                                        "optimizer": {"name": "adam", "lr": 2.0e-4, "betas": [0.5, 0.999]}, "n_critic": 1}}}
    cell = lambda n: resolve_cell({"objective": "ns-noise", "arch": "mlp", "dataset": "8gaussians",  # noqa: E731
                                   "iterations": n}, grid, overrides=parse_overrides(SMALL))
    train(cell(8), tmp_path / "whole")
    train(cell(4), tmp_path / "resumed")
    train(cell(8), tmp_path / "resumed")
    assert log_without_wall_time(tmp_path / "whole" / "log.csv") == log_without_wall_time(tmp_path / "resumed" / "log.csv")
    quiet = {"objectives": {"ns-noise": {**grid["objectives"]["ns-noise"], "lipschitz": None}}}
    train(resolve_cell({"objective": "ns-noise", "arch": "mlp", "dataset": "8gaussians", "iterations": 8}, quiet,
                       overrides=parse_overrides(SMALL)), tmp_path / "quiet")
    noisy_rows, quiet_rows = (log_without_wall_time(tmp_path / name / "log.csv") for name in ("whole", "quiet"))
    assert noisy_rows[1] != quiet_rows[1]  # the critic saw noisy samples
    statuses = train_seeds({**cell(3), "ensemble_method": "vmap"}, [0, 1], str(tmp_path / "ens" / "seed{seed}"))
    record = json.loads((tmp_path / "ens" / "seed0" / "provenance.json").read_text())["ensemble"]
    assert [s["status"] for s in statuses] == ["completed"] * 2 and "InstanceNoise" in record["reason"]
