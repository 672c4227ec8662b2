"""IS, FID, KID and precision/recall through one ``torch_fidelity.calculate_metrics`` call.

Images go in as uint8 RGB, as torch-fidelity's extractors expect (grey images repeat their
channel). The reference side is cached by torch-fidelity itself (``input2_cache_name``) under a
name that holds the data set, split, image size, count, seed, a hash of the reference pixels and
the extractor's weights hash and dtype, so a changed reference set or extractor can never reuse
stale features or statistics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
import torch_fidelity
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from .classifier.fidelity_extractor import register as register_classifier
from .extractor_choice import ResolvedExtractor

# wganbench metric -> (torch-fidelity switch, [(our name, torch-fidelity result key), ...])
OUTPUTS: dict[str, list[tuple[str, str]]] = {
    "isc": [("isc", torch_fidelity.KEY_METRIC_ISC_MEAN), ("isc_std", torch_fidelity.KEY_METRIC_ISC_STD)],
    "fid": [("fid", torch_fidelity.KEY_METRIC_FID)],
    "kid": [("kid", torch_fidelity.KEY_METRIC_KID_MEAN), ("kid_std", torch_fidelity.KEY_METRIC_KID_STD)],
    "prc": [("precision", torch_fidelity.KEY_METRIC_PRECISION), ("recall", torch_fidelity.KEY_METRIC_RECALL),
            ("f_score", torch_fidelity.KEY_METRIC_F_SCORE)],
}


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (N, C, H, W) -> uint8 (N, 3, H, W), grey repeated to three channels."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got {tuple(images.shape)}")
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1).contiguous() if pixels.shape[1] == 1 else pixels.contiguous()


class UInt8Images(torch.utils.data.Dataset):
    """A fixed set of images as torch-fidelity reads them: one uint8 (3, H, W) tensor per item."""

    def __init__(self, pixels: torch.Tensor) -> None:
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.pixels[index]


@dataclass(frozen=True)
class ReferenceSet:
    """The real side of a comparison, with what identifies it for the cache and the protocol."""

    pixels: torch.Tensor  # uint8 RGB
    dataset: str
    split: str
    image_size: int
    seed: int

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256(f"{tuple(self.pixels.shape)}".encode())
        digest.update(self.pixels.numpy().tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "count": len(self.pixels),
                "seed": self.seed, "image_size": self.image_size, "sha256": self.sha256}

    def cache_name(self, extractor: ResolvedExtractor) -> str:
        """torch-fidelity appends ``-<extractor>-features-<layer>`` / ``-stat-fid-<layer>`` to this."""
        return (f"wganbench-{self.dataset}-{self.split}-{self.image_size}px-n{len(self.pixels)}-s{self.seed}"
                f"-data{self.sha256[:16]}-weights{extractor.weights_sha256[:16]}-{extractor.internal_dtype}")


def library_inputs(pixels: torch.Tensor, reference: ReferenceSet, extractor: ResolvedExtractor,
                   settings: Mapping[str, Any], cuda: bool) -> dict[str, Any]:
    """torch-fidelity's keyword arguments for generated ``pixels`` (input 1) against ``reference``
    (input 2, cached under its own name) in ``extractor``'s features."""
    register_classifier()  # idempotent: torch-fidelity then knows wganbench-classifier
    return {
        "input1": UInt8Images(pixels), "input2": UInt8Images(reference.pixels),
        "input2_cache_name": reference.cache_name(extractor), "cache": True, "cache_root": settings["cache_dir"],
        "feature_extractor": extractor.name, "feature_extractor_weights_path": str(extractor.weights_path),
        "feature_extractor_internal_dtype": extractor.requested_dtype, "batch_size": settings["batch_size"],
        "cuda": cuda, "save_cpu_ram": True, "verbose": False,
    }


def fidelity_metrics(generated: torch.Tensor, reference: ReferenceSet, extractor: ResolvedExtractor,
                     which: list[str], settings: Mapping[str, Any], cuda: bool) -> tuple[dict[str, float], dict]:
    """The requested torch-fidelity metrics and the protocol that produced them."""
    pixels = to_uint8_rgb(generated)
    n_gen, n_ref = len(pixels), len(reference.pixels)
    kid_subset_size = min(settings["kid_subset_size"], n_gen, n_ref)
    isc_splits = min(settings["isc_splits"], n_gen)
    options: dict[str, Any] = {
        "kid_subset_size": kid_subset_size, "kid_subsets": settings["kid_subsets"],
        "isc_splits": isc_splits, "prc_neighborhood": settings["prc_neighborhood"],
        "rng_seed": settings["rng_seed"], "samples_shuffle": True,
    }
    raw = torch_fidelity.calculate_metrics(
        **library_inputs(pixels, reference, extractor, settings, cuda), prc_batch_size=2048,
        **{metric: metric in which for metric in OUTPUTS}, **options,
    )
    values = {ours: float(raw[theirs]) for metric in which for ours, theirs in OUTPUTS[metric]}
    extractor_class = FEATURE_EXTRACTORS_REGISTRY[extractor.name]
    protocol = {
        "library": "torch-fidelity", "library_version": torch_fidelity.__version__,
        "feature_extractor": extractor.name, "weights_file": extractor.weights_path.name,
        "weights_sha256": extractor.weights_sha256, "internal_dtype": extractor.internal_dtype,
        "resize": extractor.resize,
        "internal_dtype_requested": extractor.requested_dtype,
        "feature_layers": {metric: extractor_class.get_default_feature_layer_for_metric(metric) for metric in which},
        "reference": reference.describe(), "generated_count": n_gen,
        "kid_subset_size_requested": settings["kid_subset_size"], "isc_splits_requested": settings["isc_splits"],
        **options,
    }
    return values, protocol
