"""The Dirac-GAN (Mescheder et al. 2018) through wganbench's own losses and penalties: the Jacobian
at the equilibrium against their closed forms and against finite differences, and which training
methods reach the equilibrium."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wganbench.theory.dirac_gan import OBJECTIVES, DiracConfig, Game, eigen_table, run

F_PRIME = 0.5  # f(t) = -log(1 + exp(-t)): f'(0) = 1/2, f''(0) = -1/4


def by_hand(name: str) -> list[complex]:
    """The paper's eigenvalues, written out per objective (sorted as the table sorts them)."""
    r1 = lambda gamma: [complex(-gamma / 2 - math.sqrt(gamma**2 / 4 - F_PRIME**2)),  # noqa: E731
                        complex(-gamma / 2 + math.sqrt(gamma**2 / 4 - F_PRIME**2))]
    sigma = 1.0  # instance noise: f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2)
    noise = [complex(-sigma**2 / 4, -math.sqrt(F_PRIME**2 - sigma**4 / 16)),
             complex(-sigma**2 / 4, math.sqrt(F_PRIME**2 - sigma**4 / 16))]
    return {"gan": [-0.5j, 0.5j], "nsgan": [-0.5j, 0.5j], "rpgan": [-0.5j, 0.5j], "wgan": [-1j, 1j],
            "hinge": [-1j, 1j], "lsgan": [0j, 0j], "r1": r1(2.0), "r2": r1(2.0), "rpgan-r1r2": r1(2.0),
            "instance-noise": noise}[name]


@pytest.fixture(scope="module")
def eigen() -> pd.DataFrame:
    return eigen_table(DiracConfig()).set_index("objective")


@pytest.mark.parametrize("name", [n for n, o in OBJECTIVES.items() if o.closed_form is not None])
def test_eigenvalues_match_the_closed_forms_within_1e_6(eigen: pd.DataFrame, name: str) -> None:
    row = eigen.loc[name]
    found = [complex(row["eig1_real"], row["eig1_imag"]), complex(row["eig2_real"], row["eig2_imag"])]
    assert np.abs(np.array(found) - np.array(by_hand(name))).max() < 1e-6
    assert row["eigen_error"] < 1e-6
    assert row["locally_convergent"] == (name in ("r1", "r2", "rpgan-r1r2", "instance-noise"))


@pytest.mark.parametrize("name", ["nsgan", "wgan", "lsgan", "r1", "rpgan-r1r2", "instance-noise"])
def test_autograd_jacobian_equals_central_differences_of_the_field(name: str) -> None:
    game = Game(OBJECTIVES[name])
    zero = torch.zeros(2, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(game.field, zero.clone().requires_grad_(True)).numpy()
    h = 1e-5
    columns = []
    for k in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = h
        plus = game.field(step.clone().requires_grad_(True)).detach().numpy()
        minus = game.field((-step).clone().requires_grad_(True)).detach().numpy()
        columns.append((plus - minus) / (2 * h))
    np.testing.assert_allclose(jacobian, np.stack(columns, axis=1), atol=1e-7)


def test_which_methods_reach_the_equilibrium_and_the_files(tmp_path: Path) -> None:
    """Mescheder et al.: the unregularised GAN and WGAN circle or spiral out under both simultaneous
    and alternating descent; R1 and instance noise converge (R2's Dirac field is R1's: its
    eigenvalues are checked above)."""
    cfg = DiracConfig(objectives=("nsgan", "wgan", "wgan-gp", "r1", "instance-noise"))
    files = run(tmp_path, config=cfg)
    assert {p.name for p in files} == {"dirac_eigenvalues.csv", "dirac_trajectories.csv", "dirac_paths.csv",
                                       "dirac_gan.png", "dirac_gan.pdf", "dirac_convergence.png",
                                       "dirac_convergence.pdf"}
    runs = pd.read_csv(tmp_path / "dirac_trajectories.csv")
    assert len(runs) == 5 * 4 and set(runs["critic_steps"]) == {1, 5}
    converged = runs.groupby("objective")["converged"].agg(["min", "max"])
    for name in ("nsgan", "wgan", "wgan-gp"):
        assert not converged.loc[name, "max"], runs[runs["objective"] == name]
    for name in ("r1", "instance-noise"):
        assert converged.loc[name, "min"], runs[runs["objective"] == name]
    paths = pd.read_csv(tmp_path / "dirac_paths.csv")
    assert (paths.groupby(["objective", "scheme", "critic_steps"]).size() == 501).all()
    first = paths[paths["iteration"] == 0]
    assert (first["theta"] == 1.0).all() and (first["psi"] == 1.0).all()
    eigen = pd.read_csv(tmp_path / "dirac_eigenvalues.csv").set_index("objective")
    assert not eigen.loc["wgan-gp", "has_closed_form"] and "not stationary" in eigen.loc["wgan-gp", "reason"]
    assert not eigen.loc["cramer", "has_dirac_form"] and not eigen.loc["mmd-gan", "has_dirac_form"]


def test_wgan_clipping_holds_the_critic_in_its_box() -> None:
    game = Game(OBJECTIVES["wgan"])
    path = game.trajectory("alternating", 5, DiracConfig(iterations=50))
    assert np.abs(path[1:, 1]).max() <= 1.0 + 1e-12 and np.isclose(np.abs(path[1:, 1]).max(), 1.0)
