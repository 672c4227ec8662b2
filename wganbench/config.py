"""Resolve one grid cell into the complete config a run records, refusing bad input early.

Order: objective definition (built-in, then the grid's ``objectives``) -> the cell's own keys
-> ``--set`` overrides -> schema validation that fills defaults -> derived values (batch size,
noise size, critic and its normalisation by data kind and Lipschitz method) -> cheap checks of
names and paths. Nothing here loads data or builds a model.

The workflow (Snakefile, workflow/rules/common.smk) refuses a bad grid with the same functions,
so `snakemake` and `wganbench train` accept and refuse the same things in the same words. Importing
this module does not import torch (the Snakefile imports it in every job); the functions that
build objectives or look names up in the model and data registries import it when called.
"""

from __future__ import annotations

import copy
import difflib
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import jsonschema
import yaml

from .registry import ConfigError
from .schema import first_error, load_schema

SCHEMA_FILE = "config.schema.yaml"
# A configured name (experiment, objective, data set, architecture) becomes a folder under results/.
NAME_RULE = "names are lower-case letters, digits, '_' and '-', starting with a letter or digit"


def validate(instance: dict, definition: str | None = None, prefix: str = "") -> dict:
    """Validate (and fill defaults into) ``instance`` against the schema or one of its ``$defs``.

    ``prefix`` is the config key ``instance`` sits under, so the error names the full key.
    """
    root = load_schema(SCHEMA_FILE)
    schema = root if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]}
    error = first_error(schema, instance)
    if error is not None:
        raise ConfigError(format_error(error, prefix))
    return instance


def format_error(error: jsonschema.ValidationError, prefix: str = "") -> str:
    """One line: the full key, jsonschema's message and, where it helps, how to fix it."""
    best = jsonschema.exceptions.best_match([error])  # descends into oneOf/anyOf alternatives
    parts = [prefix, *(str(part) for part in best.absolute_path), *_unknown_keys(best)[:1]]
    key = ".".join(filter(None, parts)) or "<top level>"
    message = _clip(best.message.replace("\n", " "))
    hint = HINTS.get(str(best.validator), _no_hint)(best)
    return f"config key '{key}': {message}" + (f"; {hint}" if hint else "")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _no_hint(error: jsonschema.ValidationError) -> str:
    return ""


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    """The keys an additionalProperties error is about (named in the error's key)."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    return [str(key) for key in error.instance if key not in error.schema.get("properties", {})]


def _unknown_key_hint(error: jsonschema.ValidationError) -> str:
    allowed = sorted(error.schema.get("properties", {}))
    unknown = _unknown_keys(error)
    close = difflib.get_close_matches(str(unknown[0]), allowed, n=1) if unknown else []
    if close:
        return f"did you mean {close[0]!r}?"
    return f"remove it; allowed keys: {', '.join(allowed)}" if allowed else "remove it"


def _pattern_hint(error: jsonschema.ValidationError) -> str:
    if error.validator_value == load_schema(SCHEMA_FILE)["$defs"]["name"]["pattern"]:
        return f"{NAME_RULE} (each names a folder under results/)"
    return ""


def _repeated_hint(error: jsonschema.ValidationError) -> str:
    seen: list = []
    for item in error.instance:
        if item in seen:
            return f"{item!r} is listed twice; list each once"
        seen.append(item)
    return "list each once"


def _alternatives_hint(error: jsonschema.ValidationError) -> str:
    description = error.schema.get("description")
    return f"expected {description}" if description else ""


HINTS: dict[str, Callable[[jsonschema.ValidationError], str]] = {
    "additionalProperties": _unknown_key_hint,
    "pattern": _pattern_hint,
    "uniqueItems": _repeated_hint,
    "minItems": lambda error: f"give at least {error.validator_value}",
    "minProperties": lambda error: f"give at least {error.validator_value}",
    "oneOf": _alternatives_hint,
    "anyOf": _alternatives_hint,
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a mapping key given twice is an error (PyYAML keeps the last)."""


def _refuse_duplicate_keys(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> None:
    """The mapping's own keys, each once (keys merged in with ``<<:`` may be overridden)."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            continue
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"config file {loader.name}, line {line}: key {key!r} is given twice "
                              f"(first on line {seen[key]}); YAML would keep only the last, delete one")
        seen[key] = line


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    _refuse_duplicate_keys(loader, node)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml(path: str | Path) -> Any:
    """A config file's YAML, refusing keys given twice (one line naming the file and the line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the path")
    try:
        with path.open() as handle:  # the loader names the file in its errors
            return yaml.load(handle, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"config file {path}{where}: not valid YAML ({problem}); fix the syntax") from None


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Refuse config files with a key given twice, before Snakemake's merged config hides it."""
    for path in paths:
        load_yaml(path)


def _cell_schema() -> dict:
    return load_schema(SCHEMA_FILE)["$defs"]["cell"]


def builtin_objectives() -> dict[str, dict]:
    text = (resources.files("wganbench") / "objectives" / "builtin.yaml").read_text()
    return yaml.safe_load(text)


def load_grid_config(path: str | Path | None) -> dict:
    """A workflow config file (its ``objectives`` and ``defaults`` are what a cell needs)."""
    if path is None:
        return {}
    grid = load_yaml(path) or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"config file {path}: expected a mapping of config keys (objectives:, defaults:)")
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
    _check_loss_methods(objective_parts.loss)
    if data:
        _check_data_root(resolved)
    return resolved


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


def _check_loss_methods(loss: object) -> None:
    from .objectives import Loss

    cls = type(loss)
    for per_score, whole in LOSS_METHODS:
        if getattr(cls, per_score) is getattr(Loss, per_score) and getattr(cls, whole) is getattr(Loss, whole):
            raise ConfigError(f"config key 'loss': {cls.__module__}:{cls.__qualname__} defines neither "
                              f"{per_score} nor {whole}; {LOSS_HOW_TO}")


def _derive(cfg: dict) -> None:
    from .data import is_toy
    from .models import IMAGE_ONLY
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


# The workflow's checks of a whole grid (Snakefile, workflow/rules/common.smk): each error names
# the grid's own key, e.g. 'experiments.toy.archs.1' or 'objectives.mine.loss'.
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
    _check_loss_methods(build_objective(spec).loss)
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
            _check_data_root(cfg)


def _check_data_root(cfg: dict) -> None:
    """A torchvision data set's root is set and exists (the data registry's own check: its factory
    only looks at the folder; nothing is read)."""
    from .data.images import TORCHVISION_SETS

    factory = TORCHVISION_SETS.get(cfg["dataset"])
    if factory is not None:
        factory(image_size=cfg["image_size"], data_root=cfg["data_root"], workers=0)


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
