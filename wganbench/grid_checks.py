"""The workflow's checks of a whole grid (Snakefile, workflow/rules/common.smk), before any job:
each error names the grid's own key, e.g. 'experiments.toy.archs.1' or 'objectives.mine.loss', and
reaches the user as one line. Cells are resolved with the same code as `wganbench train`."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterable, Iterator

from .config import check_data_root, check_loss_methods, check_user_loss, resolve_cell, validate
from .config_files import check_config_files
from .registry import ConfigError

__all__ = ["check_cells", "check_config_files", "check_data", "check_grid_parts", "one_line_errors"]


def check_grid_parts(grid: dict) -> None:
    """Every data set, architecture and configured objective of a validated workflow config."""
    from .data import DATASETS
    from .models import GENERATORS

    for name, experiment in grid["experiments"].items():
        for field, registry in (("datasets", DATASETS), ("archs", GENERATORS)):
            for index, value in enumerate(experiment[field]):
                registry.get(value, key=f"experiments.{name}.{field}.{index}")
    for name, spec in grid["objectives"].items():
        with _under(f"objectives.{name}"):
            _check_objective(validate(copy.deepcopy(spec), "objective"))


def _check_objective(spec: dict) -> None:
    from .objectives import OPTIMIZERS, build_objective

    check_user_loss(spec["loss"])
    check_loss_methods(build_objective(spec).loss)
    for key in ("optimizer", "generator_optimizer"):
        if spec[key] is not None:
            OPTIMIZERS.get(spec[key]["name"], key=f"{key}.name")


def check_cells(cells: Iterable[tuple[str, dict, dict]]) -> list[tuple[str, dict]]:
    """Resolve each (where, cell, grid) as `wganbench train` will; an error says where it is.
    Returns (where, resolved config) pairs for :func:`check_data`."""
    resolved = []
    for where, cell, grid in cells:
        with _at(where):
            resolved.append((where, resolve_cell(cell, grid, data=False)))
    return resolved


def check_data(cells: Iterable[tuple[str, dict]]) -> None:
    """The data root of each (where, resolved config) exists. Separate from resolving, so a dry
    run can plan a cluster grid on a machine without its data."""
    for where, cfg in cells:
        with _at(where):
            check_data_root(cfg)


@contextmanager
def _at(where: str) -> Iterator[None]:
    """Re-raise a ConfigError with ``where`` (an experiment's cell) in front."""
    try:
        yield
    except ConfigError as exc:
        raise type(exc)(f"{where}: {exc}") from None


@contextmanager
def _under(prefix: str) -> Iterator[None]:
    """Re-raise a ConfigError with its key under ``prefix`` ('loss' -> 'objectives.mine.loss')."""
    try:
        yield
    except ConfigError as exc:
        text, lead = str(exc), "config key '"
        text = text.replace(lead, lead + prefix + ".", 1) if text.startswith(lead) else f"{lead}{prefix}': {text}"
        raise type(exc)(text) from None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """For the Snakefile: a ConfigError becomes Snakemake's WorkflowError without wganbench's
    traceback, so the refusal prints as its one line (and the line of the Snakefile)."""
    from snakemake.exceptions import WorkflowError

    try:
        yield
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None
