"""Metric families: the registry that maps the ``metrics`` setting to code, per data kind.

A family computes several values from one pass over the samples (one torch-fidelity call gives
IS, FID, KID and precision/recall). ``outputs`` maps each metric name of the settings to the value
names it writes, so a run that can't be measured still lists every value with the reason.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ot
import torch

from ..registry import Registry
from . import density_coverage as dc
from . import modes, toy
from .context import Context
from .fidelity import OUTPUTS as FIDELITY_OUTPUTS
from .fidelity import fidelity_metrics
from .records import available, unavailable

Compute = Callable[[Context, torch.Tensor, list[str], dict[str, Any]], dict[str, dict]]


@dataclass(frozen=True)
class Family:
    kind: str  # the data kind it measures: "image" or "toy"
    outputs: dict[str, tuple[str, ...]]  # metric name in the settings -> value names in metrics.json
    compute: Compute  # (context, samples, selected metric names, common protocol) -> {value name: record};
    # it may return more values than were selected (the caller keeps the selected ones)
    prepare: Callable[[Context], object] | None = None  # resolve what may fail before anything is computed

    def selected(self, metrics: list[str]) -> list[str]:
        return [name for name in self.outputs if name in metrics]

    def value_names(self, selected: list[str]) -> list[str]:
        return [value for name in selected for value in self.outputs[name]]


def _fidelity(ctx: Context, samples: torch.Tensor, selected: list[str], common: dict[str, Any]) -> dict[str, dict]:
    values, protocol = fidelity_metrics(samples, ctx.reference_set, ctx.extractor, selected, ctx.settings,
                                        cuda=ctx.device.type == "cuda")
    protocol = {**common, **protocol}
    return {name: available(value, protocol) for name, value in values.items()}


def _has_labels(ctx: Context) -> bool:
    return bool(ctx.dataset.num_modes) and ctx.reference.labels is not None


def _prepare_fidelity(ctx: Context) -> object:
    return ctx.extractor


def _prepare_image_modes(ctx: Context) -> object:
    return ctx.classifier if _has_labels(ctx) else None


def mode_min_count(ctx: Context, samples: int, num_modes: int) -> int:
    """Samples a mode needs to count as covered: ``mode_min_count``, and ``mode_min_share`` of an even split."""
    return max(int(ctx.settings["mode_min_count"]), math.ceil(ctx.settings["mode_min_share"] * samples / num_modes))


def _image_modes(ctx: Context, samples: torch.Tensor, selected: list[str], common: dict[str, Any]) -> dict[str, dict]:
    if not _has_labels(ctx):
        reason = f"data set {ctx.dataset_name!r} has no labels to define modes"
        return {name: unavailable(reason) for name in ("modes_covered", "mode_kl")}
    classifier = ctx.classifier
    num_modes, layout = classifier.num_modes, classifier.info["layout"]
    generated = modes.histogram(classifier.model.predict(samples), num_modes)
    min_count = mode_min_count(ctx, len(samples), num_modes)
    data = modes.data_distribution(ctx.reference.labels, num_modes, classifier.info["num_classes"], layout)
    predicted_real = modes.histogram(ctx.reference_modes, num_modes)
    protocol = {
        **common, "classifier_file": classifier.path.name, "classifier_sha256": classifier.sha256,
        "num_modes": num_modes, "min_count": min_count, "reference": ctx.reference_set.describe(),
        "kl": "KL(generated || data) in nats",
        "data_distribution": modes.DATA_DISTRIBUTIONS.get(layout).description,
        # the classifier on real data: the coverage and KL a perfect generator would get
        "reference_modes_covered": modes.modes_covered(
            predicted_real, mode_min_count(ctx, int(predicted_real.sum()), num_modes)),
        "reference_mode_kl": modes.mode_kl(predicted_real, data),
    }
    return {"modes_covered": available(modes.modes_covered(generated, min_count), protocol),
            "mode_kl": available(modes.mode_kl(generated, data), protocol)}


def seeded_subset(samples: torch.Tensor, count: int | None, seed: int) -> torch.Tensor:
    """All samples, or a seeded subset of ``count`` (in file order) so reruns measure the same ones."""
    if count is None or count >= len(samples):
        return samples
    chosen = np.sort(np.random.default_rng(seed).permutation(len(samples))[:count])
    return samples[torch.from_numpy(chosen)]


def _toy_points(ctx: Context, samples: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(generated, reference) point sets of the toy metrics: ``w1_points`` of each, seeded."""
    generated = seeded_subset(samples, ctx.settings["w1_points"], ctx.settings["subset_seed"]).double().numpy()
    return generated, ctx.toy_reference[:len(generated)]


def _w1(ctx: Context, samples: torch.Tensor, selected: list[str], common: dict[str, Any]) -> dict[str, dict]:
    generated, real = _toy_points(ctx, samples)
    count = len(generated)
    distance, warning = toy.wasserstein1(generated, real)
    protocol = {**common, "library": "POT", "library_version": ot.__version__, "solver": "ot.emd2",
                "ground_cost": "euclidean", "points": count, "subset_seed": ctx.settings["subset_seed"],
                "reference": {"dataset": ctx.dataset_name, "split": ctx.settings["reference_split"],
                              "count": len(real), "seed": ctx.settings["reference_seed"]},
                "solver_warning": warning}
    return {"w1": available(distance, protocol)}


def _toy_modes(ctx: Context, samples: torch.Tensor, selected: list[str], common: dict[str, Any]) -> dict[str, dict]:
    centres = getattr(ctx.dataset, "centres", None)
    if centres is None:
        reason = f"data set {ctx.dataset_name!r} is not a mixture of modes"
        return {name: unavailable(reason) for name in ("modes_covered", "high_quality_share")}
    min_count = mode_min_count(ctx, len(samples), len(centres))
    stats = toy.mode_stats(samples.double().numpy(), np.asarray(centres, dtype=np.float64), ctx.dataset.std,
                           ctx.settings["high_quality_stds"], min_count)
    protocol = {**common, "num_modes": len(centres), "std": ctx.dataset.std,
                "high_quality_stds": ctx.settings["high_quality_stds"], "min_count": min_count}
    return {"modes_covered": available(stats.modes_covered, protocol),
            "high_quality_share": available(stats.high_quality_share, protocol)}


def _image_density_coverage(ctx: Context, samples: torch.Tensor, selected: list[str],
                            common: dict[str, Any]) -> dict[str, dict]:
    k = ctx.settings["dc_neighborhood"]
    reason = dc.too_few(len(ctx.reference_set.pixels), len(samples), k)
    if reason:
        return {name: unavailable(reason) for name in ("density", "coverage")}
    real, fake, layer = dc.image_features(samples, ctx.reference_set, ctx.extractor, ctx.settings,
                                          cuda=ctx.device.type == "cuda")
    protocol = {**common, **dc.PROTOCOL, "nearest_k": k, "feature_extractor": ctx.extractor.name,
                "weights_sha256": ctx.extractor.weights_sha256, "feature_layer": layer,
                "reference": ctx.reference_set.describe()}
    return {name: available(value, protocol) for name, value in dc.density_coverage(real, fake, k).items()}


def _toy_density_coverage(ctx: Context, samples: torch.Tensor, selected: list[str],
                          common: dict[str, Any]) -> dict[str, dict]:
    """On the 2-D samples themselves, the same seeded subsets as W1."""
    generated, real = _toy_points(ctx, samples)
    k = ctx.settings["dc_neighborhood"]
    reason = dc.too_few(len(real), len(generated), k)
    if reason:
        return {name: unavailable(reason) for name in ("density", "coverage")}
    values = dc.density_coverage(real, generated, k)
    protocol = {**common, **dc.PROTOCOL, "nearest_k": k, "points": len(generated), "features": "the 2-D samples",
                "subset_seed": ctx.settings["subset_seed"]}
    return {name: available(value, protocol) for name, value in values.items()}


FAMILIES: Registry[Family] = Registry("metric family")
FAMILIES.add("fidelity", Family("image", {metric: tuple(ours for ours, _ in outputs)
                                          for metric, outputs in FIDELITY_OUTPUTS.items()},
                                _fidelity, _prepare_fidelity))
FAMILIES.add("image-modes", Family("image", {"modes": ("modes_covered", "mode_kl")}, _image_modes,
                                   _prepare_image_modes))
FAMILIES.add("image-density-coverage", Family("image", {"density_coverage": ("density", "coverage")},
                                              _image_density_coverage, _prepare_fidelity))
FAMILIES.add("w1", Family("toy", {"w1": ("w1",)}, _w1))
FAMILIES.add("toy-density-coverage", Family("toy", {"density_coverage": ("density", "coverage")},
                                            _toy_density_coverage))
FAMILIES.add("toy-modes", Family("toy", {"modes": ("modes_covered",), "high_quality": ("high_quality_share",)},
                                 _toy_modes))


def families_for(kind: str, metrics: list[str]) -> list[tuple[Family, list[str]]]:
    """The families that measure data of ``kind``, each with the metrics the settings select from it."""
    chosen = []
    for name in FAMILIES:
        family = FAMILIES.get(name)
        selected = family.selected(metrics)
        if family.kind == kind and selected:
            chosen.append((family, selected))
    return chosen
