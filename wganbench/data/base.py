"""What every data set offers the trainer and the evaluator.

Batches are a pure function of (seed, batch index): a resumed run asks for batch ``k`` and gets
exactly the batch an uninterrupted run would have seen, without saving any loader state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np
import torch


def batch_generator(seed: int, stream: int, index: int) -> torch.Generator:
    """An RNG for one (seed, stream, index) triple; independent of every other triple."""
    mixed = np.random.SeedSequence([seed, stream, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(mixed) & 0x7FFF_FFFF_FFFF_FFFF)


@dataclass(frozen=True)
class Reference:
    """Real samples for evaluation, with labels (class or mode index) when the data set has them."""

    samples: torch.Tensor
    labels: torch.Tensor | None


class DataSet(ABC):
    """A data set as seen by training (``batches``) and evaluation (``reference``)."""

    name: str
    kind: str  # "toy" (points in R^2) or "image" (N, C, H, W in [-1, 1])
    channels: int = 2
    image_size: int | None = None
    num_modes: int | None = None  # classes / modes, for mode-coverage metrics

    @abstractmethod
    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        """Training batch number ``index`` of the stream defined by ``seed``."""

    def batches(self, batch_size: int, seed: int, start: int = 0) -> Iterator[torch.Tensor]:
        index = start
        while True:
            yield self.batch(batch_size, seed, index)
            index += 1

    def to(self, device: torch.device) -> DataSet:
        """Keep the training tensors on ``device`` where the set is small and in memory, so a batch
        is an index on the device, not a copy per step. Sets made per batch or read from disk stay."""
        return self

    @abstractmethod
    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        """Real samples from ``split`` ("train" or "test"); ``count`` draws a seeded subset."""

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.kind == "toy":
            return (2,)
        assert self.image_size is not None
        return (self.channels, self.image_size, self.image_size)


def epoch_indices(n: int, batch_size: int, seed: int, index: int) -> torch.Tensor:
    """Indices of batch ``index`` when each epoch is a fresh seeded permutation (last partial batch dropped)."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} is larger than the data set ({n} items)")
    epoch, position = divmod(index, per_epoch)
    return epoch_permutation(n, seed, epoch)[position * batch_size : (position + 1) * batch_size]


@lru_cache(maxsize=4)
def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """One epoch's order, drawn once: a permutation of millions of items (LSUN) costs tens of
    milliseconds, once per epoch instead of once per batch. Callers only slice it."""
    return torch.randperm(n, generator=batch_generator(seed, 1, epoch))


def seeded_subset(n: int, count: int | None, seed: int) -> torch.Tensor:
    """Reproducible choice of ``count`` of ``n`` items (all, in order, when count is None or >= n)."""
    if count is None or count >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=batch_generator(seed, 2, 0))[:count].sort().values
