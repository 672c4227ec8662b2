"""Reading config files: YAML that refuses a key given twice, with one-line errors naming the file
and line (PyYAML silently keeps the last of two equal keys, and Snakemake merges files after)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .registry import ConfigError


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
