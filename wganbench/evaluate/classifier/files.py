"""The offline classifier as a versioned file: how it is trained for a data set, saved and loaded.

A file ``<dataset>-<size>px-v<VERSION>.pt`` holds the weights and what they mean (layout, classes,
resolution, test accuracy, training settings). Its *weights hash* (SHA-256 over the tensors and the
settings that change outputs, not over timings) is stored in the file, checked on load and recorded
beside every number computed with it, and it keys the reference-statistics cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ...data import load_dataset
from ...inventory import EXTRACTOR_VERSION
from ...registry import ConfigError, Registry
from ...rundir import atomic_write
from .network import FEATURE_DIM, ConvClassifier, ModeClassifier
from .training import TrainingSettings, accuracy, train_classifier

FILE_FORMAT = "wganbench-classifier"
VERSION = EXTRACTOR_VERSION  # wganbench.inventory: bump it there when the network, its training or the layout changes
DEFAULT_RESOLUTION_CAP = 32
ARCHITECTURE_KEYS = ("in_channels", "num_classes", "resolution", "width", "feature_dim", "layout", "image_size")


@dataclass(frozen=True)
class Recipe:
    """How the classifier of a data set is made: which labelled data set trains it, and its layout."""

    base: str
    layout: str = "image"
    resolution: int | None = None  # None: the image size, at most DEFAULT_RESOLUTION_CAP


RECIPES: Registry[Recipe] = Registry("classifier recipe")
RECIPES.add("digits", Recipe("digits", "image", resolution=16))
RECIPES.add("stacked-digits", Recipe("digits", "per-channel", resolution=16))


def recipe_for(dataset: str) -> Recipe:
    """A registered recipe, or the plain one: train on the data set's own labels."""
    return RECIPES.get(dataset) if dataset in RECIPES else Recipe(dataset)


def extractor_path(directory: str | Path, dataset: str, image_size: int) -> Path:
    return Path(directory) / f"{dataset}-{image_size}px-v{VERSION}.pt"


@dataclass(frozen=True)
class Extractor:
    """A loaded classifier file."""

    path: Path
    sha256: str
    model: ModeClassifier
    info: dict[str, Any]

    @property
    def num_modes(self) -> int:
        return int(self.info["num_modes"])


def weights_hash(state_dict: dict[str, torch.Tensor], architecture: dict[str, Any]) -> str:
    """SHA-256 of the tensors (name, dtype, shape, bytes, in name order) and the output-shaping settings."""
    digest = hashlib.sha256(repr(sorted(architecture.items())).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _fit(base: str, image_size: int, data_root: str | None, resolution: int,
         settings: TrainingSettings) -> tuple[dict[str, torch.Tensor], int, int, float]:
    """Train on ``base``'s labelled train split once per process (stacked digits reuse the digits net)."""
    data = load_dataset(base, image_size=image_size, data_root=data_root)
    train = data.reference("train")
    if data.kind != "image" or train.labels is None or not data.num_modes:
        raise ConfigError(f"dataset {base!r} has no labelled images to train the offline classifier on; "
                          "use feature_extractor=inception-v3-compat")
    net, seconds = train_classifier(train.samples, train.labels, data.num_modes, resolution, settings)
    return net.state_dict(), net.in_channels, net.num_classes, seconds


def train_extractor(dataset: str, image_size: int, out: str | Path, data_root: str | None = None,
                    settings: TrainingSettings | None = None) -> dict[str, Any]:
    """Train the classifier for ``dataset`` at ``image_size`` and save it to ``out``; returns its info."""
    settings = settings or TrainingSettings()
    recipe = recipe_for(dataset)
    target = load_dataset(dataset, image_size=image_size, data_root=data_root)
    if not target.num_modes:
        raise ConfigError(f"dataset {dataset!r} has no labels (modes) for the offline classifier; "
                          "use feature_extractor=inception-v3-compat")
    resolution = recipe.resolution or min(image_size, DEFAULT_RESOLUTION_CAP)
    if resolution < 8 or resolution & (resolution - 1):
        raise ConfigError(f"image size {image_size}: the classifier of {dataset!r} needs a power of two >= 8")
    fitted, in_channels, num_classes, seconds = _fit(recipe.base, image_size, data_root, resolution, settings)
    state = {name: tensor.clone() for name, tensor in fitted.items()}
    net = ConvClassifier(in_channels, num_classes, resolution)
    net.load_state_dict(state)
    net.eval()
    model = ModeClassifier(net, recipe.layout)
    architecture = {"in_channels": in_channels, "num_classes": num_classes, "resolution": resolution,
                    "width": net.width, "feature_dim": FEATURE_DIM, "layout": recipe.layout, "image_size": image_size}
    base = target if recipe.base == dataset else load_dataset(recipe.base, image_size=image_size, data_root=data_root)
    test = base.reference("test")
    target_test = target.reference("test")
    info: dict[str, Any] = {
        "format": FILE_FORMAT, "version": VERSION, "dataset": dataset, "base_dataset": recipe.base,
        **architecture, "num_modes": int(target.num_modes),
        "class_test_accuracy": accuracy(ModeClassifier(net, "image").predict(test.samples), test.labels),
        "mode_test_accuracy": (accuracy(model.predict(target_test.samples), target_test.labels)
                               if target_test.labels is not None else None),
        "train_seconds": seconds, "training": dataclasses.asdict(settings),
        "torch_version": str(torch.__version__), "machine": platform.machine(),
    }
    info["sha256"] = weights_hash(state, architecture)
    buffer = io.BytesIO()
    torch.save({"info": info, "state_dict": state}, buffer)
    atomic_write(Path(out), lambda handle: handle.write(buffer.getvalue()))
    return info


def load_extractor(path: str | Path, device: str | torch.device = "cpu") -> Extractor:
    """Load and verify a classifier file, once per process and file version (evaluation, the
    extractor choice and torch-fidelity's feature extractor all ask for it); a foreign, stale or
    damaged file is a one-line error."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"classifier file {path} does not exist; retrain it with `wganbench extractor "
                          f"train` (--out {path})") from None
    return _load_verified(path, stat.st_mtime_ns, stat.st_size, str(device))


@lru_cache(maxsize=8)
def _load_verified(path: Path, mtime_ns: int, size: int, device: str) -> Extractor:
    """The file at ``path`` as it was at (mtime_ns, size): a rewritten file is loaded again."""
    retrain = f"retrain it with `wganbench extractor train` (--out {path})"
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
        info, state = dict(content["info"]), content["state_dict"]
    except FileNotFoundError:
        raise ConfigError(f"classifier file {path} does not exist; {retrain}") from None
    except Exception as exc:  # noqa: BLE001 (torch raises many types for truncated or foreign files)
        raise ConfigError(f"classifier file {path} is unreadable ({type(exc).__name__}); {retrain}") from None
    if info.get("format") != FILE_FORMAT or info.get("version") != VERSION:
        raise ConfigError(f"classifier file {path} is {info.get('format')} v{info.get('version')}, "
                          f"not {FILE_FORMAT} v{VERSION}; {retrain}")
    try:
        architecture = {key: info[key] for key in ARCHITECTURE_KEYS}
        recorded = info["sha256"]
    except KeyError as missing:
        raise ConfigError(f"classifier file {path} lacks {missing}; {retrain}") from None
    if weights_hash(state, architecture) != recorded:
        raise ConfigError(f"classifier file {path} fails its weights hash check; {retrain}")
    net = ConvClassifier(info["in_channels"], info["num_classes"], info["resolution"], width=info["width"],
                         feature_dim=info["feature_dim"])
    net.load_state_dict(state)
    model = ModeClassifier(net, info["layout"]).to(device).eval().requires_grad_(False)
    return Extractor(path, info["sha256"], model, info)


def ensure_extractor(directory: str | Path, dataset: str, image_size: int, data_root: str | None,
                     train_if_missing: bool) -> Extractor:
    """The data set's classifier from ``directory``, trained there first when missing and allowed."""
    path = extractor_path(directory, dataset, image_size)
    if not path.exists():
        if not train_if_missing:
            raise ConfigError(f"classifier file {path} does not exist; run `wganbench extractor train "
                              f"--dataset {dataset} --image-size {image_size}` or set train_extractor: true")
        train_extractor(dataset, image_size, path, data_root)
    return load_extractor(path)
