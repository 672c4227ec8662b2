"""What evaluating one run needs besides its samples, each made once and only when first asked for:
the data set, the reference samples, the feature extractor and the classifier."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from ..data import DataSet, Reference, load_dataset
from ..device import pick_device
from .classifier.files import Extractor, ensure_extractor
from .extractor_choice import ResolvedExtractor, Target, resolve_extractor
from .fidelity import ReferenceSet, to_uint8_rgb

@dataclass
class Context:
    """One run's evaluation environment: its resolved config and the evaluation settings."""

    config: dict[str, Any]
    settings: dict[str, Any]

    @property
    def dataset_name(self) -> str:
        return self.config["dataset"]

    @property
    def image_size(self) -> int | None:
        """The resolved cell's image side (None for 2-D points): decided once, when the cell was resolved."""
        return self.config["image_size"]

    @property
    def data_root(self) -> str | None:
        return self.config.get("data_root")

    @cached_property
    def dataset(self) -> DataSet:
        return load_dataset(self.dataset_name, image_size=self.image_size, data_root=self.data_root,
                            data_cache=self.config.get("data_cache"))

    @cached_property
    def device(self) -> torch.device:
        return pick_device(self.settings["device"], key="evaluation.device")

    @cached_property
    def reference(self) -> Reference:
        """The image reference: a seeded subset (or all) of the configured split, with labels."""
        return self.dataset.reference(self.settings["reference_split"], self.settings["reference_count"],
                                      self.settings["reference_seed"])

    @cached_property
    def reference_set(self) -> ReferenceSet:
        return ReferenceSet(to_uint8_rgb(self.reference.samples), self.dataset_name,
                            self.settings["reference_split"], self.image_size, self.settings["reference_seed"])

    @cached_property
    def toy_reference(self) -> np.ndarray:
        """``w1_points`` real points from the configured split."""
        count = self.settings["w1_points"]
        reference = self.dataset.reference(self.settings["reference_split"], count, self.settings["reference_seed"])
        return reference.samples.double().numpy()[:count]

    @cached_property
    def extractor(self) -> ResolvedExtractor:
        return resolve_extractor(Target(self.dataset_name, self.image_size, self.data_root, self.settings))

    @cached_property
    def classifier(self) -> Extractor:
        extractor = ensure_extractor(self.settings["extractor_dir"], self.dataset_name, self.image_size,
                                     self.data_root, self.settings["train_extractor"])
        # a copy on this device: the loaded file is shared by the process (load_extractor caches it)
        return dataclasses.replace(extractor, model=copy.deepcopy(extractor.model).to(self.device))

    @cached_property
    def reference_modes(self) -> torch.Tensor:
        """The classifier's modes of the reference images (its coverage of real data is recorded)."""
        return self.classifier.model.predict(self.reference.samples)
