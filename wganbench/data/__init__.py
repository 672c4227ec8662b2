"""Data sets by name: ``load_dataset(name, image_size=..., data_root=...)``."""

from __future__ import annotations

from typing import Callable

from ..inventory import is_points
from ..registry import Registry
from .base import DataSet, Reference, batch_generator
from .images import TORCHVISION_SETS, digits, stacked_digits
from .toy import FixedGaussianGrid, SwissRoll, eight_gaussians

DATASETS: Registry[Callable[..., DataSet]] = Registry("dataset")
DATASETS.add("8gaussians", lambda **_: eight_gaussians())
DATASETS.add("25gaussians", lambda **_: FixedGaussianGrid())
DATASETS.add("swissroll", lambda **_: SwissRoll())
DATASETS.add("digits", digits)
DATASETS.add("stacked-digits", stacked_digits)
for _name, _factory in TORCHVISION_SETS.items():
    DATASETS.add(_name, _factory)

def is_toy(name: str) -> bool:
    """2-D point sets (wganbench.inventory's kind ``points``)."""
    return is_points(name)


def load_dataset(name: str, **options: object) -> DataSet:
    """Build data set ``name``; options are image_size, data_root, workers (ignored where unused)."""
    return DATASETS.get(name, key="dataset")(**options)


__all__ = ["DATASETS", "DataSet", "Reference", "batch_generator", "is_toy", "load_dataset"]
