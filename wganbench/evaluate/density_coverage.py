"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
Models") through the authors' own package, ``prdc`` (clovaai/generative-evaluation-prdc).

Unlike precision and recall, density counts how many real k-NN balls hold each generated sample
(so it is not fooled by real outliers) and coverage the share of real samples whose ball holds a
generated one (so it is not inflated by generated outliers). On the 2-D toy data they take the
samples themselves; on images, the features of the same extractor layer as precision/recall, taken
through torch-fidelity's own (cached) feature extraction.
"""

from __future__ import annotations

import contextlib
import io
from importlib import metadata
from collections.abc import Mapping
from typing import Any

import joblib
import numpy as np
import prdc
import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.utils import (create_feature_extractor, extract_featuresdict_from_input_id_cached,
                                  resolve_feature_layer_for_metric)

from .extractor_choice import ResolvedExtractor
from .fidelity import ReferenceSet, library_inputs, to_uint8_rgb


def too_few(real: int, fake: int, k: int) -> str | None:
    """Why prdc cannot measure these counts (it needs the k+1-th neighbour within each set)."""
    if min(real, fake) < k + 2:
        return f"density/coverage with k = {k} need at least {k + 2} samples per side, got {real} real and {fake} generated"
    return None


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """prdc's four values on (N, D) arrays; its progress line is kept off the job's log. prdc asks
    scikit-learn for its distances with n_jobs=8, which starts a joblib pool of 8 per call: 6x the
    time of the sequential computation on 512 toy points, and 8 threads on a job given one core.
    The sequential backend makes scikit-learn compute them in the job's own thread (same values)."""
    with contextlib.redirect_stdout(io.StringIO()), joblib.parallel_config(backend="sequential"):
        values = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {name: float(values[name]) for name in ("density", "coverage")}


def image_features(generated: torch.Tensor, reference: ReferenceSet, extractor: ResolvedExtractor,
                   settings: Mapping[str, Any], cuda: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(reference features, generated features, layer) at the layer torch-fidelity uses for
    precision/recall, the reference side read from (or written to) torch-fidelity's cache."""
    options = {**library_inputs(to_uint8_rgb(generated), reference, extractor, settings, cuda), "samples_shuffle": False}
    layer = resolve_feature_layer_for_metric("prc", **options)
    network: FeatureExtractorBase = create_feature_extractor(extractor.name, [layer], **options)
    generated_features = extract_featuresdict_from_input_id_cached(1, network, **options)[layer]
    reference_features = extract_featuresdict_from_input_id_cached(2, network, **options)[layer]
    return reference_features.double().numpy(), generated_features.double().numpy(), layer


PROTOCOL = {"library": "prdc", "library_version": metadata.version("prdc"), "paper": "Naeem et al. 2020"}
