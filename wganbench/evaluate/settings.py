"""Evaluation settings: the schema in ``wganbench/schemas`` is the one source of their defaults.

The workflow config refers to the same file under its ``evaluation`` key, so `snakemake` and
`wganbench evaluate` fill in the same defaults and refuse the same mistakes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..registry import ConfigError
from ..schema import first_error, load_schema, refuse_non_finite
from ..schema_messages import format_error

SCHEMA_FILE = "evaluation.schema.yaml"
CONFIG_KEY = "evaluation"  # where the settings live in a workflow config file


def schema() -> dict:
    return load_schema(SCHEMA_FILE)


def resolve_settings(settings: Mapping[str, Any] | None = None,
                     overrides: Mapping[str, Any] | None = None) -> dict:
    """Validated settings with every default filled in; ``overrides`` are ``--set`` pairs."""
    resolved = copy.deepcopy(dict(settings or {}))
    for key, value in (overrides or {}).items():
        resolved[key.removeprefix(f"{CONFIG_KEY}.")] = value
    refuse_non_finite(resolved, CONFIG_KEY)
    error = first_error(schema(), resolved)
    if error is not None:
        raise ConfigError(format_error(error, CONFIG_KEY))  # the grid config's one-line messages
    return resolved


def read_settings_file(path: str | Path) -> dict:
    """Settings from a YAML file: the settings mapping itself, or a workflow config (its ``evaluation:``)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--settings-file {path} does not exist")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ConfigError(f"--settings-file {path}: expected a mapping of settings")
    if isinstance(content.get(CONFIG_KEY), dict):
        return dict(content[CONFIG_KEY])
    return {} if "experiments" in content else content  # a grid config that keeps the defaults


__all__ = ["CONFIG_KEY", "read_settings_file", "resolve_settings", "schema"]
