"""Image data sets: scikit-learn's digits (ships with the package, works offline) and
torchvision sets read from a data root on a cluster. Images are float tensors in [-1, 1]."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import ConfigError
from .base import DataSet, Reference, batch_generator, epoch_indices, seeded_subset

SPLIT_SEED = 0  # fixes the digits train/test split once for everybody
TEST_FRACTION = 0.2


class InMemoryImages(DataSet):
    """Images held in memory as one tensor per split, with optional labels."""

    kind = "image"

    def __init__(self, name: str, splits: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
                 num_modes: int | None) -> None:
        self.name = name
        self.splits = splits
        train = splits["train"][0]
        self.channels, self.image_size = train.shape[1], train.shape[2]
        self.num_modes = num_modes

    def to(self, device: torch.device) -> InMemoryImages:
        images, labels = self.splits["train"]
        self.splits = {**self.splits, "train": (images.to(device), labels)}
        return self

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        images = self.splits["train"][0]
        return images[epoch_indices(len(images), batch_size, seed, index)]

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        images, labels = self.splits[split]
        chosen = seeded_subset(len(images), count, seed)
        return Reference(images[chosen], None if labels is None else labels[chosen])


def _digits_splits(image_size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = (images.clamp(0.0, 1.0) * 2.0 - 1.0).contiguous()
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = torch.as_tensor(np.random.default_rng(SPLIT_SEED).permutation(len(images)))
    n_test = math.ceil(TEST_FRACTION * len(images))  # 360 of 1,797
    test, train = order[:n_test], order[n_test:]
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


def digits(image_size: int = 32, **_: object) -> InMemoryImages:
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled bilinearly; 80/20 fixed split."""
    return InMemoryImages("digits", _digits_splits(image_size), num_modes=10)


class StackedDigits(DataSet):
    """Three digits stacked as RGB channels: 1,000 modes (Stacked-MNIST built from data that ships).

    Each split holds a fixed list of digit triples; images are assembled per batch, so the
    data set costs three indices per item rather than a 3-channel image.
    """

    name = "stacked-digits"
    kind = "image"
    channels = 3
    num_modes = 1000
    ITEMS = {"train": 50_000, "test": 10_000}

    def __init__(self, image_size: int = 32) -> None:
        self.image_size = image_size
        self.digits = _digits_splits(image_size)
        self.triples = {}
        for stream, (split, count) in enumerate(self.ITEMS.items()):
            n = len(self.digits[split][0])
            g = batch_generator(SPLIT_SEED, 20 + stream, 0)
            self.triples[split] = torch.randint(n, (count, 3), generator=g)

    def _assemble(self, split: str, triples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.digits[split]
        stacked = images[triples].squeeze(2)  # (B, 3, 1, H, W) -> (B, 3, H, W)
        modes = (labels[triples] * torch.tensor([100, 10, 1])).sum(dim=1)
        return stacked, modes

    def to(self, device: torch.device) -> StackedDigits:
        images, labels = self.digits["train"]
        self.digits = {**self.digits, "train": (images.to(device), labels)}
        return self

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        triples = self.triples["train"]
        return self._assemble("train", triples[epoch_indices(len(triples), batch_size, seed, index)])[0]

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        triples = self.triples[split]
        return Reference(*self._assemble(split, triples[seeded_subset(len(triples), count, seed)]))


def stacked_digits(image_size: int = 32, **_: object) -> StackedDigits:
    return StackedDigits(image_size)


class TorchvisionImages(DataSet):
    """A torchvision data set read from ``data_root``: resize + centre crop as the WGAN code does.

    Batches are loaded item by item through a DataLoader whose batch sampler is the same
    seeded epoch permutation as the in-memory sets, so runs stay resumable and reproducible.
    """

    kind = "image"

    def __init__(self, name: str, make: Callable[[str, object], torch.utils.data.Dataset],
                 root: Path, image_size: int, channels: int, num_modes: int | None,
                 workers: int = 4) -> None:
        import torchvision.transforms as T

        self.name, self.image_size, self.channels, self.num_modes = name, image_size, channels, num_modes
        self.workers = workers
        norm = [0.5] * channels
        self.transform = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(),
                                    T.Normalize(norm, norm)])
        self._make, self._root, self._cache = make, root, {}

    def split(self, split: str) -> torch.utils.data.Dataset:
        if split not in self._cache:
            self._cache[split] = self.raw_split(split, self.transform)
        return self._cache[split]

    def raw_split(self, split: str, transform: object) -> torch.utils.data.Dataset:
        """The split read with another transform (the uint8 cache's, which stops before ToTensor)."""
        return self._make(str(self._root), split, transform)

    def _load(self, dataset: torch.utils.data.Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices.tolist()),
                                             batch_size=256, num_workers=self.workers)
        images, labels = zip(*loader)
        return torch.cat(images), torch.cat([torch.as_tensor(lab) for lab in labels])

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        dataset = self.split("train")
        return self._load(dataset, epoch_indices(len(dataset), batch_size, seed, index))[0]

    def batches(self, batch_size: int, seed: int, start: int = 0):
        dataset = self.split("train")

        class Sampler(torch.utils.data.Sampler):
            def __iter__(self):
                index = start
                while True:
                    yield epoch_indices(len(dataset), batch_size, seed, index).tolist()
                    index += 1

        loader = torch.utils.data.DataLoader(dataset, batch_sampler=Sampler(), num_workers=self.workers,
                                             persistent_workers=self.workers > 0)
        for images, _ in loader:
            yield images

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        dataset = self.split(split)
        images, labels = self._load(dataset, seeded_subset(len(dataset), count, seed))
        return Reference(images, labels if self.num_modes else None)


def _torchvision(name: str, channels: int, num_modes: int | None,
                 make: Callable[[str, str, object], torch.utils.data.Dataset], how_to_get: str):
    def factory(image_size: int = 64, data_root: str | None = None, workers: int = 4,
                data_cache: str | None = None, **_: object):
        if not data_root:
            raise ConfigError(f"config key 'data_root': data set {name!r} needs a data root; {how_to_get}")
        root = Path(data_root).expanduser()
        if not root.exists():
            raise ConfigError(f"config key 'data_root': {root} does not exist for data set {name!r}; {how_to_get}")
        if data_cache:  # the decoded uint8 copy (wganbench.data.cache): same batches, no PIL per image
            from .cache import CachedImages, cache_folder
            return CachedImages(cache_folder(data_cache, name, image_size), name, image_size)
        return TorchvisionImages(name, make, root, image_size, channels, num_modes, workers)

    return factory


def _mnist(root: str, split: str, transform: object):
    from torchvision.datasets import MNIST
    return MNIST(root, train=split == "train", transform=transform, download=False)


def _cifar10(root: str, split: str, transform: object):
    from torchvision.datasets import CIFAR10
    return CIFAR10(root, train=split == "train", transform=transform, download=False)


def _lsun_bedroom(root: str, split: str, transform: object):
    from torchvision.datasets import LSUN

    # torchvision writes the list of LMDB keys to "_cache_<root letters>" in the working directory:
    # keep it beside the data, or in wganbench's cache folder when the data root is read-only
    with working_directory(lsun_cache_dir(Path(root))):
        return LSUN(str(Path(root).resolve()), classes=["bedroom_train" if split == "train" else "bedroom_val"],
                    transform=transform)


def lsun_cache_dir(root: Path) -> Path:
    """Where torchvision's LSUN key list is kept: the data root if writable, else
    $XDG_CACHE_HOME/wganbench/lsun (~/.cache/...), so a read-only working directory works."""
    if os.access(root, os.W_OK):
        return root
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wganbench" / "lsun"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class ImagesOnly(torch.utils.data.Dataset):
    """A data set's images with a placeholder label: the default collate refuses the ``None``
    targets torchvision returns when asked for none (CelebA with ``target_type=[]``)."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.dataset[index][0], -1


def _celeba(root: str, split: str, transform: object):
    from torchvision.datasets import CelebA
    return ImagesOnly(CelebA(root, split="train" if split == "train" else "test", target_type=[],
                             transform=transform, download=False))


def _image_folder(root: str, split: str, transform: object):
    from torchvision.datasets import ImageFolder
    sub = Path(root) / split
    return ImageFolder(str(sub if sub.is_dir() else root), transform=transform)


TORCHVISION_SETS = {
    "mnist": _torchvision("mnist", 1, 10, _mnist,
                          "fetch it once with torchvision.datasets.MNIST(root, download=True)"),
    "cifar10": _torchvision("cifar10", 3, 10, _cifar10,
                            "fetch it once with torchvision.datasets.CIFAR10(root, download=True)"),
    "lsun-bedroom": _torchvision("lsun-bedroom", 3, None, _lsun_bedroom,
                                 "download bedroom_train_lmdb and bedroom_val_lmdb with the LSUN tools "
                                 "(github.com/fyu/lsun) into the root"),
    "celeba": _torchvision("celeba", 3, None, _celeba,
                           "place img_align_celeba/ and its five annotation files (list_eval_partition.txt, "
                           "identity_CelebA.txt, list_attr_celeba.txt, list_bbox_celeba.txt, "
                           "list_landmarks_align_celeba.txt) under <root>/celeba"),
    "image-folder": _torchvision("image-folder", 3, None, _image_folder,
                                 "point it at a folder of class sub-folders (optionally train/ and test/)"),
}
