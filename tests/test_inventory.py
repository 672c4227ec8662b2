"""The torch-free inventory (wganbench/inventory.py) agrees with the registries that hold the code
and with the schema's enums, so no list of names can drift from another."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wganbench import inventory
from wganbench.data import DATASETS, load_dataset
from wganbench.data.images import TORCHVISION_SETS
from wganbench.evaluate.classifier.files import VERSION, extractor_path
from wganbench.evaluate.families import FAMILIES
from wganbench.figures import FIGURES
from wganbench.models import CRITICS, GENERATORS
from wganbench.objectives.losses import LOSSES
from wganbench.schema import load_schema
from wganbench.theory import EXPERIMENTS


def test_registries_hold_exactly_the_inventorys_names() -> None:
    assert set(DATASETS) == set(inventory.DATASETS)
    assert set(TORCHVISION_SETS) == set(inventory.TORCHVISION_DATASETS)
    assert set(GENERATORS) == set(CRITICS) == set(inventory.ARCHITECTURES)
    assert set(EXPERIMENTS) == set(inventory.THEORY_EXPERIMENTS)
    assert {name: FAMILIES.get(name).kind for name in FAMILIES} == inventory.METRIC_FAMILIES
    assert set(FIGURES) == {*inventory.FIGURES, "samples"}
    assert VERSION == inventory.EXTRACTOR_VERSION and extractor_path("x", "digits", 16).name == "digits-16px-v1.pt"


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians", "swissroll", "digits", "stacked-digits"])
def test_data_kinds_are_what_the_generated_sets_hold(name: str) -> None:
    data = load_dataset(name, image_size=16)
    kind = inventory.DATASETS[name]
    assert (len(data.sample_shape) == 1) == (kind == inventory.POINTS)
    labelled = kind != inventory.POINTS and data.reference("test", count=8).labels is not None
    assert labelled == (kind == inventory.LABELLED_IMAGES)


def test_torchvision_sets_declare_their_labels_as_the_inventory_does(tmp_path) -> None:
    for name in inventory.TORCHVISION_DATASETS:
        has_labels = TORCHVISION_SETS[name](image_size=32, data_root=str(tmp_path)).num_modes is not None
        assert has_labels == (inventory.DATASETS[name] == inventory.LABELLED_IMAGES), name


def test_schema_enums_and_builtin_objectives_agree() -> None:
    schema = load_schema("config.schema.yaml")
    theory = schema["properties"]["theory"]
    assert theory["items"]["enum"] == list(inventory.THEORY_EXPERIMENTS) == theory["default"]
    for spec in inventory.builtin_objectives().values():
        loss = spec["loss"]
        name = loss if isinstance(loss, str) else ("f_divergence" if "f_divergence" in loss else loss["name"])
        assert name in LOSSES


def test_the_inventory_and_parsing_the_workflow_import_no_torch() -> None:
    code = "import sys, wganbench.inventory; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
