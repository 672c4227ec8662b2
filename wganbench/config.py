"""Resolve one grid cell into the complete config a run records, refusing bad input early.

Order: objective definition (built-in, then the grid's ``objectives``) -> the cell's own keys
-> ``--set`` overrides -> schema validation that fills defaults -> derived values (batch size,
noise size, critic and its normalisation by data kind and Lipschitz method) -> cheap checks of
names and paths. Nothing here loads data or builds a model.

The workflow (Snakefile, workflow/rules/common.smk, through ``wganbench.grid_checks``) refuses a
bad grid with the same functions, so `snakemake` and `wganbench train` accept and refuse the same
things in the same words. Importing
this module does not import torch (the Snakefile imports it in every job); the functions that
build objectives or look names up in the model and data registries import it when called.
"""

from __future__ import annotations

import math

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import inventory
from .config_files import load_yaml
from .extends import resolve_extensions
from .registry import ConfigError
from .schema import first_error, load_schema, refuse_non_finite
from .schema_messages import SCHEMA_FILE, format_error


def validate(instance: dict, definition: str | None = None, prefix: str = "") -> dict:
    """Validate (and fill defaults into) ``instance`` against the schema or one of its ``$defs``.

    ``prefix`` is the config key ``instance`` sits under, so the error names the full key.
    """
    refuse_non_finite(instance, prefix)
    root = load_schema(SCHEMA_FILE)
    schema = root if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]}
    error = first_error(schema, instance)
    if error is not None:
        raise ConfigError(format_error(error, prefix))
    return instance


def _cell_schema() -> dict:
    return load_schema(SCHEMA_FILE)["$defs"]["cell"]


def builtin_objectives() -> dict[str, dict]:
    """The built-in objectives, a copy the caller may change."""
    return copy.deepcopy(inventory.builtin_objectives())


def load_grid_config(path: str | Path | None) -> dict:
    """A workflow config file (its ``objectives`` and ``defaults`` are what a cell needs)."""
    if path is None:
        return {}
    grid = load_yaml(path) or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"config file {path}: expected a mapping of config keys (objectives:, defaults:)")
    resolve_extensions(grid)  # experiments with `extends:` take their parent's keys, as the workflow does
    validate(copy.deepcopy(grid))  # the workflow's schema: unknown keys and bad values by full key
    return grid


def objective_table(grid: dict | None = None) -> dict[str, dict]:
    table = builtin_objectives()
    for name, spec in (grid or {}).get("objectives", {}).items():
        table[name] = validate(copy.deepcopy(spec), "objective", prefix=f"objectives.{name}")
    return table


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["optimizer.lr=1e-3", "log_every=5"]`` -> {"optimizer.lr": 0.001, "log_every": 5} (YAML-typed)."""
    overrides = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set optimizer.lr=1e-3")
        value = yaml.safe_load(raw)
        if isinstance(value, str) and _looks_numeric(value):
            value = float(value)  # YAML 1.1 reads "1e-3" as a string
        overrides[key.strip()] = value
    return overrides


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def set_dotted(config: dict, key: str, value: Any) -> None:
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else {"name": child} if isinstance(child, str) else child
            if not isinstance(child, dict):
                raise ConfigError(f"config key '{key}': '{part}' is not a mapping")
            node[part] = child
        node = child
    node[parts[-1]] = value


def resolve_cell(cell: dict, grid: dict | None = None, overrides: dict[str, Any] | None = None,
                 data: bool = True) -> dict:
    """The complete, validated config of one run; ``data``: also check that its data root exists
    (the workflow checks that later, so a dry run can plan a cluster grid without the data)."""
    from .objectives import build_objective

    grid = grid or {}
    resolved = copy.deepcopy(grid.get("defaults", {}))
    resolved.update(copy.deepcopy(cell))
    objective = resolved.get("objective")
    table = objective_table(grid)
    if not isinstance(objective, str) or objective not in table:
        raise ConfigError(f"config key 'objective': unknown objective {objective!r}; "
                          f"choose one of {', '.join(sorted(table))} or define it under 'objectives'")
    for key, value in copy.deepcopy(table[objective]).items():
        resolved.setdefault(key, value)
    for key, value in (overrides or {}).items():
        set_dotted(resolved, key, value)
    validate(resolved, "cell")
    _check_names(resolved)
    _derive(resolved)
    check_user_loss(resolved["loss"])
    objective_parts = build_objective(resolved)  # constructs loss and Lipschitz methods: bad parameters now
    check_loss_methods(objective_parts.loss)
    if data:
        check_data_root(resolved)
    return resolved


def load_cells(paths: Iterable[str | Path], threads: int | None = None) -> tuple[dict, list[int]]:
    """Resolved cells from files (``wganbench train --cell``), one seed each: checked as a run is
    (schema, non-finite numbers, names, the loss, the data root), never resolved again. Returns the
    shared cell and the seeds; the cells may differ in their seed only. ``threads``: the job's
    thread count, a key that does not change a run's numbers."""
    cells = []
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"--cell {path}: no such file; the workflow writes results/cells/..., and a run "
                              "folder's config.yaml is one")
        cell = load_yaml(path)
        if not isinstance(cell, dict):
            raise ConfigError(f"--cell {path}: expected a mapping of cell keys (a run folder's config.yaml)")
        if threads is not None:
            cell["threads"] = threads
        try:
            check_resolved(cell)
        except ConfigError as exc:
            raise ConfigError(f"--cell {path}: {exc}") from None
        cells.append(cell)
    first = cells[0]
    for path, cell in zip(paths, cells):
        differing = sorted(key for key in set(cell) | set(first) if key != "seed" and cell.get(key) != first.get(key))
        if differing:
            raise ConfigError(f"--cell {path}: differs from the first cell in {', '.join(differing)}; cells "
                              "trained in one process differ in their seed only")
    seeds = [cell["seed"] for cell in cells]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--cell: seed {max(seeds, key=seeds.count)} is given twice")
    return first, seeds


def check_resolved(cfg: dict) -> None:
    """A resolved cell as `resolve_cell` wrote it: every key there, valid, usable."""
    from .objectives import build_objective

    missing = sorted(set(_cell_schema()["properties"]) - set(cfg))
    if missing:
        raise ConfigError(f"config key '{missing[0]}' is missing: not a resolved cell (write it with "
                          "`wganbench train`, whose run folder keeps config.yaml)")
    validate(cfg, "cell")
    _check_names(cfg)
    check_user_loss(cfg["loss"])
    check_loss_methods(build_objective(cfg).loss)
    check_data_root(cfg)


def _check_names(cfg: dict) -> None:
    from .data import DATASETS
    from .models import CRITICS, GENERATORS
    from .objectives import OPTIMIZERS

    for key, registry in (("arch", GENERATORS), ("dataset", DATASETS)):
        registry.get(cfg[key], key=key)
    if cfg["critic"] is not None:
        CRITICS.get(cfg["critic"], key="critic")
    for key in ("optimizer", "generator_optimizer"):
        if cfg[key] is not None:
            OPTIMIZERS.get(cfg[key]["name"], key=f"{key}.name")


# A loss must give a critic and a generator loss: per-score (the usual way) or from the critic.
LOSS_METHODS = (("critic_loss_from_scores", "critic_loss"), ("generator_loss_from_scores", "generator_loss"))
LOSS_HOW_TO = ("subclass wganbench.objectives.Loss and define critic_loss_from_scores(real, fake) "
               "and generator_loss_from_scores(fake) (config/README.md)")


def check_user_loss(spec: str | dict) -> None:
    """A loss given by import path is a wganbench Loss class (checked before it is built)."""
    from .objectives import Loss
    from .registry import import_object

    name = spec if isinstance(spec, str) else spec.get("name")
    if not isinstance(name, str) or ":" not in name:
        return
    found = import_object(name, "loss")
    if not (isinstance(found, type) and issubclass(found, Loss)):
        raise ConfigError(f"config key 'loss': {name!r} is not a wganbench Loss class; {LOSS_HOW_TO}")


def check_loss_methods(loss: object) -> None:
    from .objectives import Loss

    cls = type(loss)
    for per_score, whole in LOSS_METHODS:
        if getattr(cls, per_score) is getattr(Loss, per_score) and getattr(cls, whole) is getattr(Loss, whole):
            raise ConfigError(f"config key 'loss': {cls.__module__}:{cls.__qualname__} defines neither "
                              f"{per_score} nor {whole}; {LOSS_HOW_TO}")


def _derive(cfg: dict) -> None:
    from .data import is_toy
    from .models import DEFAULT_CRITIC_NORM, IMAGE_ONLY, paired_critic
    from .objectives.lipschitz import build_lipschitz, critic_norm_for

    toy = is_toy(cfg["dataset"])
    if not toy and cfg["image_size"] is None:
        sizes = [size for size in _cell_schema()["properties"]["image_size"]["enum"] if size]
        raise ConfigError(f"config key 'image_size': data set {cfg['dataset']!r} is images and needs a "
                          f"size; set image_size to one of {', '.join(map(str, sizes))}")
    if cfg["batch_size"] is None:
        cfg["batch_size"] = 256 if toy else 64
    if cfg["nz"] is None:
        cfg["nz"] = 2 if toy else 100
    if cfg["critic"] is None:
        cfg["critic"] = "mlp" if toy else paired_critic(cfg["arch"])
    if toy:
        cfg["image_size"] = None
        for key in ("arch", "critic"):
            if cfg[key] in IMAGE_ONLY:
                raise ConfigError(f"config key '{key}': {cfg[key]!r} is an image architecture; "
                                  f"data set {cfg['dataset']!r} is 2-D points, use 'mlp'")
    _scale_lecam_start(cfg)
    required = critic_norm_for(build_lipschitz(cfg["lipschitz"]))
    if cfg["critic_norm"] == "auto":
        cfg["critic_norm"] = required or DEFAULT_CRITIC_NORM.get(cfg["critic"], "batch")
    elif required and cfg["critic_norm"] == "batch":
        raise ConfigError(f"config key 'critic_norm': batch norm is not allowed with lipschitz "
                          f"{cfg['lipschitz']!r} (per-sample penalty); use 'layer' or 'none'")
    if cfg["critic"] == "dcgan-nobn":
        cfg["critic_norm"] = "none"
    if cfg["critic"] == "mlp" or toy:
        cfg["critic_norm"] = "none"


LECAM_START = 1000  # critic steps before LeCam's moving averages start (google/lecam-gan's ema_start)
LECAM_START_SHARE = 0.1  # ... but never later than this share of the run's critic steps


def _scale_lecam_start(cfg: dict) -> None:
    """LeCam's averages start after lecam-gan's 1,000 critic steps, or after a tenth of a shorter
    run's critic steps: with 1,000 iterations of one critic step, a fixed 1,000 would never average.
    The start is written into the resolved config (``lipschitz.lecam.start``); an explicit one is kept."""
    spec = cfg.get("lipschitz")
    if not isinstance(spec, dict) or "lecam" not in spec:
        return
    params = spec["lecam"]
    params = {"weight": params} if isinstance(params, (int, float)) and not isinstance(params, bool) else dict(params or {})
    if "start" not in params:
        critic_steps = int(cfg["iterations"]) * int(cfg.get("n_critic") or 1)
        params["start"] = min(LECAM_START, max(1, math.ceil(LECAM_START_SHARE * critic_steps)))
    cfg["lipschitz"] = {**spec, "lecam": params}


def check_data_root(cfg: dict) -> None:
    """A torchvision data set's root is set and exists (the data registry's own check: its factory
    only looks at the folder; nothing is read)."""
    from .data.images import TORCHVISION_SETS

    factory = TORCHVISION_SETS.get(cfg["dataset"])
    if factory is not None:
        factory(image_size=cfg["image_size"], data_root=cfg["data_root"], workers=0, data_cache=cfg.get("data_cache"))
