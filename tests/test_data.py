"""Data sets: the WGAN-GP toy generators' facts, digits splits, stacked modes, determinism."""

from __future__ import annotations


import pytest
import torch

from wganbench.data import load_dataset
from wganbench.registry import ConfigError


def test_eight_gaussians_geometry() -> None:
    data = load_dataset("8gaussians")
    radii = data.centres.norm(dim=1)
    assert torch.allclose(radii, torch.full((8,), 2.0 / 1.414))
    batch = data.batch(4096, seed=0, index=0)
    nearest = torch.cdist(batch, data.centres).min(dim=1).values
    assert float(nearest.max()) < 6 * 0.02 / 1.414
    assert data.std == pytest.approx(0.02 / 1.414)


def test_twenty_five_gaussians_is_a_fixed_set_of_100k_points() -> None:
    data = load_dataset("25gaussians")
    assert data.points.shape == (100_000, 2) and data.num_modes == 25
    assert float(data.centres.abs().max()) == pytest.approx(4.0 / 2.828)


def test_batches_are_a_pure_function_of_seed_and_index() -> None:
    for name in ("8gaussians", "25gaussians", "swissroll", "digits", "stacked-digits"):
        data = load_dataset(name, image_size=16)
        assert torch.equal(data.batch(32, 3, 5), data.batch(32, 3, 5))
        assert not torch.equal(data.batch(32, 3, 5), data.batch(32, 3, 6))
        assert not torch.equal(data.batch(32, 3, 5), data.batch(32, 4, 5))


def test_digits_and_stacked_digits() -> None:
    digits = load_dataset("digits", image_size=16)
    assert digits.splits["train"][0].shape == (1437, 1, 16, 16)
    assert digits.splits["test"][0].shape == (360, 1, 16, 16)
    assert float(digits.splits["train"][0].min()) == -1.0 and float(digits.splits["train"][0].max()) == 1.0
    stacked = load_dataset("stacked-digits", image_size=16)
    reference = stacked.reference("test")
    assert reference.samples.shape == (10_000, 3, 16, 16)
    assert len(reference.labels.unique()) > 950  # nearly all 1,000 channel combinations occur
    hundreds = reference.labels // 100
    first_channel = digits.splits["test"][1][stacked.triples["test"][:, 0]]
    assert torch.equal(hundreds, first_channel)


def test_missing_data_root_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"data_root.*/no/such/dir.*cifar10.*download=True"):
        load_dataset("cifar10", data_root="/no/such/dir")
    with pytest.raises(ConfigError, match="needs a data root"):
        load_dataset("mnist")
