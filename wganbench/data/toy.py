"""Toy 2-D data sets, generated as the WGAN-GP toy code does (igul222/improved_wgan_training, gan_toy.py)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import DataSet, Reference, batch_generator, epoch_indices

DATA_SEED = 1234  # fixes the finite data sets (25gaussians) and the evaluation references


class GaussianMixture(DataSet):
    """Equal-weight isotropic Gaussians; ``scale`` divides every point as in gan_toy.py."""

    kind = "toy"

    def __init__(self, name: str, centres: np.ndarray, std: float, scale: float) -> None:
        self.name = name
        self.centres = torch.as_tensor(centres / scale, dtype=torch.float32)
        self.std = std / scale
        self.num_modes = len(centres)

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        modes = torch.randint(self.num_modes, (count,), generator=generator)
        noise = torch.randn(count, 2, generator=generator) * self.std
        return self.centres[modes] + noise, modes

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        return self.sample(batch_size, batch_generator(seed, 0, index))[0]

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        stream = {"train": 10, "test": 11}[split]
        samples, modes = self.sample(count or 10_000, batch_generator(DATA_SEED + seed, stream, 0))
        return Reference(samples, modes)


class FixedGaussianGrid(GaussianMixture):
    """25 Gaussians: gan_toy.py draws one fixed set of 100,000 points and iterates over it."""

    def __init__(self) -> None:
        grid = np.array([(2.0 * x, 2.0 * y) for x in range(-2, 3) for y in range(-2, 3)])
        super().__init__("25gaussians", grid, std=0.05, scale=2.828)
        per_mode = 100_000 // self.num_modes
        modes = torch.arange(self.num_modes).repeat_interleave(per_mode)
        noise = torch.randn(len(modes), 2, generator=batch_generator(DATA_SEED, 3, 0)) * self.std
        self.points = self.centres[modes] + noise
        self.modes = modes

    def to(self, device: torch.device) -> FixedGaussianGrid:
        self.points = self.points.to(device)
        return self

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        return self.points[epoch_indices(len(self.points), batch_size, seed, index)]


class SwissRoll(DataSet):
    """scikit-learn's Swiss roll, noise 0.25, columns 0 and 2, divided by 7.5; fresh every batch."""

    name = "swissroll"
    kind = "toy"
    num_modes = None
    std = 0.25 / 7.5

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        from sklearn.datasets import make_swiss_roll  # lazy: sklearn costs seconds to import

        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        points = make_swiss_roll(n_samples=count, noise=0.25, random_state=seed)[0][:, [0, 2]]
        return torch.as_tensor(points / 7.5, dtype=torch.float32)

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        return self.sample(batch_size, batch_generator(seed, 0, index))

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        stream = {"train": 10, "test": 11}[split]
        return Reference(self.sample(count or 10_000, batch_generator(DATA_SEED + seed, stream, 0)), None)


def eight_gaussians() -> GaussianMixture:
    r = 1.0 / math.sqrt(2.0)
    unit = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)])
    return GaussianMixture("8gaussians", 2.0 * unit, std=0.02, scale=1.414)


__all__ = ["GaussianMixture", "FixedGaussianGrid", "SwissRoll", "eight_gaussians"]
