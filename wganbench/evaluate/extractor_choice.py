"""Which feature extractor computes IS/FID/KID/PRC for a run: a registry of providers plus ``auto``.

A provider turns the settings and data set into a :class:`ResolvedExtractor` (the torch-fidelity
name, a weights file and its hash) or raises a one-line ConfigError saying why it can't. ``auto``
tries the providers in ``AUTO_ORDER`` and takes the first that can: Inception where its weights
can be had, the offline classifier elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch_fidelity.helpers import text_to_dtype

from ..registry import ConfigError, Registry
from .classifier.files import ensure_extractor
from .classifier.fidelity_extractor import NAME as CLASSIFIER_NAME
from .inception import inception_weights, sha256_file


@dataclass(frozen=True)
class Target:
    """What an extractor is for: a data set at the run's image size, under the evaluation settings."""

    dataset: str
    image_size: int
    data_root: str | None
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class ResolvedExtractor:
    name: str  # torch-fidelity registry name
    weights_path: Path
    weights_sha256: str
    requested_dtype: str  # torch-fidelity's feature_extractor_internal_dtype
    internal_dtype: str  # the dtype the extractor really runs in

    @property
    def resize(self) -> str:
        """How the images reach the network's input size (part of what makes an FID comparable)."""
        return RESIZE.get(self.name, "unknown")


# the images go in as uint8 RGB at the run's size; each network resizes them its own way
RESIZE = {
    "inception-v3-compat": "torch-fidelity InceptionV3: bilinear to 299x299 as TensorFlow 1.x does "
                           "(interpolate_bilinear_2d_like_tensorflow1x), as the papers' TF FID code",
    "wganbench-classifier": "area averaging to the classifier's resolution (16 px for digits), none when equal",
}


def requested_dtype(settings: Mapping[str, Any]) -> str:
    return "float64" if settings["float64"] else "float32"


def _inception(target: Target) -> ResolvedExtractor:
    path = inception_weights(target.settings)
    # torch-fidelity decides Inception's dtype; record what it really uses (0.4.0 maps float64 to float32)
    requested = requested_dtype(target.settings)
    effective = str(text_to_dtype(requested, "float32")).removeprefix("torch.")
    return ResolvedExtractor("inception-v3-compat", path, sha256_file(path), requested, effective)


def _classifier(target: Target) -> ResolvedExtractor:
    extractor = ensure_extractor(target.settings["extractor_dir"], target.dataset, target.image_size,
                                 target.data_root, target.settings["train_extractor"])
    dtype = requested_dtype(target.settings)
    return ResolvedExtractor(CLASSIFIER_NAME, extractor.path, extractor.sha256, dtype, dtype)


PROVIDERS: Registry[Callable[[Target], ResolvedExtractor]] = Registry("feature extractor")
PROVIDERS.add("inception-v3-compat", _inception)
PROVIDERS.add(CLASSIFIER_NAME, _classifier)
AUTO_ORDER = ("inception-v3-compat", CLASSIFIER_NAME)


def resolve_extractor(target: Target) -> ResolvedExtractor:
    """The configured extractor, or under ``auto`` the first one in AUTO_ORDER that is available."""
    name = target.settings["feature_extractor"]
    if name != "auto":
        return PROVIDERS.get(name, key="evaluation.feature_extractor")(target)
    reasons = []
    for candidate in AUTO_ORDER:
        try:
            return PROVIDERS.get(candidate)(target)
        except ConfigError as exc:
            reasons.append(str(exc))
    raise ConfigError(f"config key 'evaluation.feature_extractor': auto found none: {' | '.join(reasons)}")
