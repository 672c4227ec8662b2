"""Deterministic training of the offline classifier.

Same data, seed and settings give bit-identical weights on a given machine: all randomness comes
from one seeded ``torch.Generator``, deterministic algorithms are switched on, and training runs on
one CPU thread (thread count changes the order of float sums, and the CPUs here are shared).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .network import ConvClassifier


@dataclass(frozen=True)
class TrainingSettings:
    """What training does; recorded in the extractor file so its numbers can be traced."""

    seed: int = 0
    epochs: int = 15
    batch_size: int = 64
    max_lr: float = 3e-3  # one-cycle schedule peak (Adam)
    max_shift: float = 1 / 16  # random translation, as a fraction of the image side
    max_rotation: float = 0.15  # radians
    max_scale: float = 0.1  # relative zoom


@contextlib.contextmanager
def deterministic_cpu() -> Iterator[None]:
    """Deterministic algorithms and one thread for the duration, then the caller's state again."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def augment(images: torch.Tensor, settings: TrainingSettings, generator: torch.Generator) -> torch.Tensor:
    """Small random shifts, rotations and zooms: the hand-written variation a generator also makes."""
    n = len(images)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle, scale = uniform(n) * settings.max_rotation, 1 + uniform(n) * settings.max_scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = scale * angle.cos(), -scale * angle.sin()
    theta[:, 1, 0], theta[:, 1, 1] = scale * angle.sin(), scale * angle.cos()
    theta[:, :, 2] = uniform(n, 2) * settings.max_shift * 2  # grid coordinates span 2 per side
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # shift to [0, 2] so that the zero padding of grid_sample is the background (-1)
    return F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, resolution: int,
                     settings: TrainingSettings | None = None) -> tuple[ConvClassifier, float]:
    """A ConvClassifier fitted to (images in [-1, 1], labels); returns it and the seconds it took."""
    settings = settings or TrainingSettings()
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(settings.seed)
    with deterministic_cpu():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)  # layer initialisation draws from the global RNG
            net = ConvClassifier(images.shape[1], num_classes, resolution)
        steps_per_epoch = math.ceil(len(images) / settings.batch_size)
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.max_lr / 25)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.max_lr,
                                                       total_steps=settings.epochs * steps_per_epoch)
        net.train()
        for _ in range(settings.epochs):
            order = torch.randperm(len(images), generator=generator)
            for batch in order.split(settings.batch_size):
                _, logits = net(augment(images[batch], settings, generator))
                loss = F.cross_entropy(logits, labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        net.eval()
        net.calibrate(images)
    return net, time.perf_counter() - start


@torch.no_grad()
def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predictions == labels).float().mean())
