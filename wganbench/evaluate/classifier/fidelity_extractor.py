"""The offline classifier as a torch-fidelity feature extractor (``wganbench-classifier``).

Registered with ``torch_fidelity.register_feature_extractor``, so the very same
``calculate_metrics`` call that computes Inception IS/FID/KID/precision-recall computes them in the
classifier's feature space: FID, KID and precision/recall on the 64-unit penultimate layer, IS on
the log-probabilities of the data set's modes. The weights file arrives the way torch-fidelity
passes Inception's: ``feature_extractor_weights_path``.
"""

from __future__ import annotations

import copy

import torch
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from .files import load_extractor

NAME = "wganbench-classifier"
DTYPES = {None: torch.float32, "float32": torch.float32, "float64": torch.float64}
LAYER_FOR_METRIC = {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """uint8 RGB images (N, 3, H, W) -> penultimate features and mode log-probabilities."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 feature_extractor_internal_dtype: str | None = None, **_: object) -> None:
        super().__init__(name, features_list)
        vassert(feature_extractor_weights_path is not None,
                f"{NAME} needs feature_extractor_weights_path: a file from `wganbench extractor train`")
        vassert(feature_extractor_internal_dtype in DTYPES,
                f"{NAME} runs in float32 or float64, not {feature_extractor_internal_dtype}")
        self.dtype = DTYPES[feature_extractor_internal_dtype]
        # a copy: the loaded file is shared by the process (load_extractor caches it)
        self.classifier = copy.deepcopy(load_extractor(feature_extractor_weights_path).model).to(self.dtype)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return LAYER_FOR_METRIC[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        vassert(torch.is_tensor(images) and images.dtype == torch.uint8, "expecting uint8 images")
        vassert(images.dim() == 4 and images.shape[1] == 3, f"expecting Bx3xHxW images, got {tuple(images.shape)}")
        features, log_p = self.classifier(images.to(self.dtype) / 127.5 - 1.0)
        found = {"features": features.float(), "logits": log_p.float()}
        return tuple(found[name] for name in self.features_list)


def register() -> str:
    """Register with torch-fidelity, once per process (called where the metrics are computed;
    importing this module registers nothing)."""
    if NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(NAME, ClassifierFeatureExtractor)
    return NAME
