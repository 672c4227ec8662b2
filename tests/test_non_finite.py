""".nan, .inf and -.inf are refused in every numeric key, in one line naming the key, before any
job: in a grid config, in `wganbench train --set` and in `wganbench evaluate --set`.

JSON-schema bounds cannot see NaN (every comparison with it is false), so each key is tried; the
keys are every number of the default grid and of a resolved cell and evaluation block, defaults
filled in, so a key the schema adds later is covered without editing this test.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wganbench.config import load_grid_config, parse_overrides, resolve_cell, validate
from wganbench.evaluate.settings import resolve_settings
from wganbench.registry import ConfigError

REPO = Path(__file__).resolve().parents[1]
CELL_NAMES = {"objective", "arch", "dataset", "seed", "iterations"}  # a cell's own, not grid defaults
BAD = [math.nan, math.inf, -math.inf]
CELLS = [{"objective": "wgan", "arch": "dcgan", "dataset": "digits", "iterations": 3},
         {"objective": "wgan-gp", "arch": "mlp", "dataset": "8gaussians", "iterations": 3}]


def numeric_leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Paths (keys and list indices) to every int or float (not bool) inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numeric_leaves(item, (*path, index))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path


def replaced(config: Any, path: tuple, value: float) -> Any:
    changed = copy.deepcopy(config)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path)


def test_every_number_of_a_grid_config() -> None:
    grid = load_grid_config(REPO / "config/config.yaml")  # validated: defaults filled in
    # and every numeric cell key under `defaults`, as a grid may set them
    cell = resolve_cell(CELLS[0])
    grid["defaults"].update({key: value for key, value in cell.items() if key not in CELL_NAMES
                             and any(True for _ in numeric_leaves(value))})
    validate(copy.deepcopy(grid))
    paths = list(numeric_leaves(grid))
    assert ("claims_alpha",) in paths and ("aggregate", "confidence") in paths
    assert ("defaults", "optimizer", "lr") in paths and ("defaults", "divergence_bound") in paths
    for index, path in enumerate(paths):
        bad = BAD[index % 3]
        with pytest.raises(ConfigError) as refused:
            validate(replaced(grid, path, bad))
        assert str(refused.value) == (f"config key '{dotted(path)}': {bad} is not a finite number; "
                                      "give a finite value")


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell["objective"])
def test_every_number_of_a_cell_given_with_set(cell: dict) -> None:
    resolved = resolve_cell(cell)
    paths = list(numeric_leaves(resolved))
    assert ("optimizer", "lr") in paths and ("divergence_bound",) in paths
    for index, path in enumerate(paths):
        bad = BAD[index % 3]
        text = {math.inf: ".inf", -math.inf: "-.inf"}.get(bad, ".nan")
        if isinstance(path[-1], int):  # a list element (Adam's betas): --set gives the whole list
            items = ", ".join(text if i == path[-1] else str(v) for i, v in enumerate(resolved[path[0]][path[1]]))
            pair = f"{dotted(path[:-1])}=[{items}]"
        else:
            pair = f"{dotted(path)}={text}"
        with pytest.raises(ConfigError, match=rf"^config key '{dotted(path)}': -?(nan|inf) is not a finite number"):
            resolve_cell(cell, overrides=parse_overrides([pair]))


def test_every_number_of_the_evaluation_settings_given_with_set() -> None:
    paths = list(numeric_leaves(resolve_settings({})))
    assert ("kid_subset_size",) in paths and len(paths) >= 5
    for index, path in enumerate(paths):
        bad = BAD[index % 3]
        with pytest.raises(ConfigError, match=rf"^config key 'evaluation.{dotted(path)}': -?(nan|inf) is not"):
            resolve_settings({}, parse_overrides([f"{dotted(path)}={bad}"]))
