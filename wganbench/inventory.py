"""What exists, in one torch-free place: data sets and their kinds, architectures, built-in
objectives, theory experiments, metric families and the offline classifier's file version.

The Snakefile, the config checks and the CLI read these names here, so parsing a workflow never
imports torch; the registries that hold the code (``wganbench.data.DATASETS``,
``wganbench.models.GENERATORS``, ``wganbench.theory.EXPERIMENTS``, ...) are built from or checked
against it (tests/test_inventory.py), as are the schema's enums.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

# data kinds: 2-D points (exact W1 and mode coverage, no feature extractor); images with class
# labels (the offline classifier can be trained on them); images without labels (Inception only)
POINTS, LABELLED_IMAGES, IMAGES = "points", "labelled images", "images"

DATASETS: dict[str, str] = {
    "8gaussians": POINTS,
    "25gaussians": POINTS,
    "swissroll": POINTS,
    "digits": LABELLED_IMAGES,  # scikit-learn's 8x8 digits: ships with the package
    "stacked-digits": LABELLED_IMAGES,  # three digits as RGB channels: 1,000 modes
    "mnist": LABELLED_IMAGES,
    "cifar10": LABELLED_IMAGES,
    "lsun-bedroom": IMAGES,
    "celeba": IMAGES,
    "image-folder": IMAGES,
}
# data sets read from a data_root with torchvision (the others are generated or ship with a package)
TORCHVISION_DATASETS = ("mnist", "cifar10", "lsun-bedroom", "celeba", "image-folder")

# generator architectures; a critic of the same name pairs with each ("critic: null")
ARCHITECTURES: dict[str, str] = {"dcgan": IMAGES, "dcgan-nobn": IMAGES, "mlp": "any", "standard-cnn": IMAGES}

# theory experiment name -> module of wganbench.theory
THEORY_EXPERIMENTS: dict[str, str] = {
    "bernoulli": "bernoulli",
    "parallel-lines": "parallel_lines",
    "critic-vs-discriminator": "critic_vs_discriminator",
    "divergences": "divergences",
    "f-divergences": "f_divergences",
    "gradient-norms": "gradient_norms",
    "dirac-gan": "dirac_gan",
}

# metric family -> the data it measures ("image" or "toy"); wganbench.evaluate.families has the code
METRIC_FAMILIES: dict[str, str] = {"fidelity": "image", "image-modes": "image", "image-density-coverage": "image",
                                   "w1": "toy", "toy-modes": "toy", "toy-density-coverage": "toy"}

# figures of every experiment (wganbench.figures draws them; sample grids are one per experiment)
FIGURES = ("curves", "estimate-vs-quality", "estimate-tracking", "distributions", "success")

# the offline classifier's file version (<dataset>-<size>px-v<N>.pt): bump whenever the network,
# its training or the file's layout changes, and every workflow retrains it
EXTRACTOR_VERSION = 1


def datasets_of_kind(*kinds: str) -> frozenset[str]:
    return frozenset(name for name, kind in DATASETS.items() if kind in kinds)


def is_points(dataset: str) -> bool:
    return DATASETS.get(dataset) == POINTS


@cache
def builtin_objectives() -> dict[str, dict]:
    """The built-in objectives (wganbench/objectives/builtin.yaml), by name. Callers copy what they change."""
    return yaml.safe_load((resources.files("wganbench") / "objectives" / "builtin.yaml").read_text())
