"""A torchvision data set decoded once into uint8 arrays at one image size, and read from them.

Why: training reads a real data set through PIL (decode, resize, crop) item by item, a few
thousand images per second on a CPU core, while a GPU step of the DCGAN pair at n_critic 5
consumes tens of thousands (benchmarks/README.md). The cache holds each split as an (N, C, S, S)
uint8 ``.npy`` file, memory-mapped; a batch is one fancy index and one conversion, with the same
order (the seeded epoch permutation) and the same float values as the torchvision reader, bit for
bit: ``ToTensor`` then ``Normalize(0.5, 0.5)`` on the same uint8 pixels.

Build it with `wganbench data-cache` (or the workflow's `data_cache` rule); a run uses it when its
cell's ``data_cache`` names the folder holding ``<dataset>-<size>px/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ..registry import ConfigError
from ..rundir import atomic_write, atomic_write_text
from .base import DataSet, Reference, epoch_indices, seeded_subset

FORMAT = "wganbench-image-cache/1"
SPLITS = ("train", "test")


def cache_folder(cache_root: str | Path, dataset: str, image_size: int) -> Path:
    return Path(cache_root) / f"{dataset}-{image_size}px"


def build_cache(source: DataSet, out: str | Path, chunk: int = 1024) -> dict:
    """Decode every image of ``source`` (a TorchvisionImages) into ``out``; returns the manifest."""
    import torchvision.transforms as T

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = source.image_size
    pixels = T.Compose([T.Resize(size), T.CenterCrop(size), T.PILToTensor()])  # the reader's, before ToTensor
    started = time.perf_counter()
    counts = {}
    for split in SPLITS:
        dataset = source.raw_split(split, pixels)  # type: ignore[attr-defined]
        loader = torch.utils.data.DataLoader(dataset, batch_size=chunk, num_workers=source.workers)  # type: ignore[attr-defined]
        images, labels = [], []
        for batch_images, batch_labels in loader:
            images.append(batch_images.numpy())
            labels.append(torch.as_tensor(batch_labels).numpy())
        array = np.concatenate(images) if images else np.zeros((0, source.channels, size, size), np.uint8)
        _save_npy(out / f"{split}.npy", array)
        _save_npy(out / f"{split}-labels.npy", np.concatenate(labels).astype(np.int64))
        counts[split] = len(array)
    manifest = {"format": FORMAT, "dataset": source.name, "image_size": size, "channels": source.channels,
                "num_modes": source.num_modes, "counts": counts,
                "decode_seconds": round(time.perf_counter() - started, 3)}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")  # last: marks it complete
    return manifest


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.save(handle, array))


class CachedImages(DataSet):
    """A cache folder read as the data set it was decoded from."""

    kind = "image"

    def __init__(self, folder: str | Path, dataset: str, image_size: int) -> None:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config key 'data_cache': {folder} holds no complete cache ({type(exc).__name__}); "
                              f"build it with `wganbench data-cache --dataset {dataset} --image-size {image_size} "
                              f"--data-root ROOT --out {folder.parent}`") from None
        if manifest.get("format") != FORMAT or manifest["dataset"] != dataset or manifest["image_size"] != image_size:
            raise ConfigError(f"config key 'data_cache': {folder} is a cache of {manifest.get('dataset')!r} at "
                              f"{manifest.get('image_size')} px ({manifest.get('format')}), not {dataset!r} at "
                              f"{image_size} px; build it again with `wganbench data-cache`")
        self.name, self.image_size = dataset, image_size
        self.channels, self.num_modes = manifest["channels"], manifest["num_modes"]
        self.arrays = {split: np.load(folder / f"{split}.npy", mmap_mode="r") for split in SPLITS}
        self.labels = {split: np.load(folder / f"{split}-labels.npy") for split in SPLITS}

    @staticmethod
    def as_float(pixels: np.ndarray) -> torch.Tensor:
        """ToTensor's division, then Normalize(0.5, 0.5): the reader's floats, bit for bit."""
        return torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255).sub_(0.5).div_(0.5)

    def batch(self, batch_size: int, seed: int, index: int) -> torch.Tensor:
        train = self.arrays["train"]
        return self.as_float(train[epoch_indices(len(train), batch_size, seed, index).numpy()])

    def reference(self, split: str = "test", count: int | None = None, seed: int = 0) -> Reference:
        chosen = seeded_subset(len(self.arrays[split]), count, seed).numpy()
        labels = torch.from_numpy(self.labels[split][chosen]) if self.num_modes else None
        return Reference(self.as_float(self.arrays[split][chosen]), labels)
