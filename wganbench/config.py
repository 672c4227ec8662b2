"""Resolve one grid cell into the complete config a run records, refusing bad input early.

Order: objective definition (built-in, then the grid's ``objectives``) -> the cell's own keys
-> ``--set`` overrides -> schema validation that fills defaults -> derived values (batch size,
noise size, critic and its normalisation by data kind and Lipschitz method) -> cheap checks of
names and paths. Nothing here loads data or builds a model.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from .data import DATASETS, is_toy
from .models import CRITICS, GENERATORS, IMAGE_ONLY
from .objectives import build_objective
from .registry import ConfigError
from .schema import first_error, load_schema

SCHEMA_FILE = "config.schema.yaml"


def validate(instance: dict, definition: str | None = None) -> dict:
    """Validate (and fill defaults into) ``instance`` against the schema or one of its ``$defs``."""
    root = load_schema(SCHEMA_FILE)
    schema = root if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]}
    error = first_error(schema, instance)
    if error is not None:
        raise ConfigError(format_error(error))
    return instance


def format_error(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    best = jsonschema.exceptions.best_match([error])
    message = best.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"config key '{key}': {message}"


def builtin_objectives() -> dict[str, dict]:
    text = (resources.files("wganbench") / "objectives" / "builtin.yaml").read_text()
    return yaml.safe_load(text)


def load_grid_config(path: str | Path | None) -> dict:
    """A workflow config file (its ``objectives`` and ``defaults`` are what a cell needs)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    return yaml.safe_load(path.read_text()) or {}


def objective_table(grid: dict | None = None) -> dict[str, dict]:
    table = builtin_objectives()
    for name, spec in (grid or {}).get("objectives", {}).items():
        table[name] = validate(copy.deepcopy(spec), "objective")
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


def resolve_cell(cell: dict, grid: dict | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """The complete, validated config of one run."""
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
    build_objective(resolved)  # constructs loss and Lipschitz methods: catches bad parameters now
    return resolved


def _check_names(cfg: dict) -> None:
    for key, registry in (("arch", GENERATORS), ("dataset", DATASETS)):
        registry.get(cfg[key], key=key)
    if cfg["critic"] is not None:
        CRITICS.get(cfg["critic"], key="critic")


def _derive(cfg: dict) -> None:
    from .objectives.lipschitz import build_lipschitz, critic_norm_for

    toy = is_toy(cfg["dataset"])
    if cfg["batch_size"] is None:
        cfg["batch_size"] = 256 if toy else 64
    if cfg["nz"] is None:
        cfg["nz"] = 2 if toy else 100
    if cfg["critic"] is None:
        cfg["critic"] = "mlp" if toy else "dcgan"
    if toy:
        cfg["image_size"] = None
        for key in ("arch", "critic"):
            if cfg[key] in IMAGE_ONLY:
                raise ConfigError(f"config key '{key}': {cfg[key]!r} is an image architecture; "
                                  f"data set {cfg['dataset']!r} is 2-D points, use 'mlp'")
    required = critic_norm_for(build_lipschitz(cfg["lipschitz"]))
    if cfg["critic_norm"] == "auto":
        cfg["critic_norm"] = required or "batch"
    elif required and cfg["critic_norm"] == "batch":
        raise ConfigError(f"config key 'critic_norm': batch norm is not allowed with lipschitz "
                          f"{cfg['lipschitz']!r} (per-sample penalty); use 'layer' or 'none'")
    if cfg["critic"] == "dcgan-nobn":
        cfg["critic_norm"] = "none"
    if cfg["critic"] == "mlp" or toy:
        cfg["critic_norm"] = "none"
