"""Mode collapse on labelled data: modes covered and KL(generated || data) over the modes.

The modes of generated images are the classifier's predictions (classes for digits, the 1,000
channel combinations for stacked digits). The data's mode distribution comes from the reference
labels, in the way the classifier's layout says the modes are built: for whole-image classes it
is their histogram; for per-channel classes it is the product of the channels' class histograms,
since the channels are drawn independently. (With 1,000 modes, a plain histogram of 10,000 labels
leaves some modes empty, which makes the KL infinite; the product has no such holes.) A generator
stuck on one of K equally likely modes scores 1 mode and KL = log K.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import rel_entr

from ..registry import Registry


def histogram(modes: torch.Tensor | np.ndarray, num_modes: int) -> np.ndarray:
    modes = np.asarray(modes, dtype=np.int64)
    if modes.size and (modes.min() < 0 or modes.max() >= num_modes):
        raise ValueError(f"mode indices must lie in [0, {num_modes})")
    return np.bincount(modes, minlength=num_modes)


def modes_covered(counts: np.ndarray, min_count: int = 1) -> int:
    """Modes with at least ``min_count`` samples."""
    return int((counts >= min_count).sum())


def mode_kl(generated_counts: np.ndarray, data_probabilities: np.ndarray) -> float:
    """KL(p_generated || p_data) in nats; infinite when generated samples fall on a mode the data lacks."""
    p = generated_counts / generated_counts.sum()
    q = data_probabilities / data_probabilities.sum()
    return float(rel_entr(p, q).sum())


def _whole_image(labels: np.ndarray, num_modes: int, num_classes: int) -> np.ndarray:
    return histogram(labels, num_modes) / len(labels)


def _per_channel(labels: np.ndarray, num_modes: int, num_classes: int) -> np.ndarray:
    channels = round(math.log(num_modes) / math.log(num_classes))
    joint = np.ones(1)
    for channel in reversed(range(channels)):  # mode = sum_c class_c * num_classes^(channels-1-c)
        classes = (labels // num_classes ** channel) % num_classes
        joint = np.outer(joint, histogram(classes, num_classes) / len(labels)).ravel()
    return joint


@dataclass(frozen=True)
class DataDistribution:
    estimate: Callable[[np.ndarray, int, int], np.ndarray]  # (labels, num_modes, num_classes) -> probabilities
    description: str  # recorded in the protocol


DATA_DISTRIBUTIONS: Registry[DataDistribution] = Registry("mode layout")
DATA_DISTRIBUTIONS.add("image", DataDistribution(_whole_image, "histogram of the reference labels"))
DATA_DISTRIBUTIONS.add("per-channel", DataDistribution(
    _per_channel, "product of the channels' class histograms in the reference labels"))


def data_distribution(labels: torch.Tensor | np.ndarray, num_modes: int, num_classes: int, layout: str) -> np.ndarray:
    """The data's probability of each mode, estimated from reference labels as the layout builds modes."""
    estimate = DATA_DISTRIBUTIONS.get(layout, key="layout").estimate
    return estimate(np.asarray(labels, dtype=np.int64), num_modes, num_classes)
