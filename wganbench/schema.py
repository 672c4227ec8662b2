"""Loading wganbench's JSON schemas and validating with defaults filled in.

One place for the default-filling validator, so `wganbench train`, `wganbench evaluate` and
Snakemake's ``validate`` (which extends jsonschema the same way) fill the same defaults.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .registry import ConfigError


def schema_path(name: str) -> Path:
    return Path(str(resources.files("wganbench") / "schemas" / name))


@cache
def load_schema(name: str) -> dict:
    return yaml.safe_load(schema_path(name).read_text())


def _fill_defaults(validator_class: type) -> type:
    """Write each missing property's ``default`` (a deep copy) before checking the object."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator: Any, props: dict, instance: Any, sub: dict) -> Iterator[ValidationError]:
        if isinstance(instance, dict):
            for name, prop in props.items():
                if "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, props, instance, sub)

    return validators.extend(validator_class, {"properties": properties})


FillingValidator = _fill_defaults(Draft202012Validator)


def _retrieve(uri: str) -> Resource:
    # Drop the referenced file's own $schema: jsonschema would otherwise switch to a plain
    # validator class there, and that file's defaults would not be filled in.
    contents = copy.deepcopy(load_schema(Path(uri).name))
    contents.pop("$schema", None)
    return Resource(contents=contents, specification=DRAFT202012)


def first_error(schema: dict, instance: Any) -> ValidationError | None:
    """Validate ``instance`` in place (defaults filled in); the shallowest error, if any."""
    validator = FillingValidator(schema, registry=Registry(retrieve=_retrieve))  # type: ignore[call-arg]
    # shallowest first; at one depth an unknown key first (a typo also makes its intended key "missing")
    errors = sorted(validator.iter_errors(instance),
                    key=lambda e: (len(e.absolute_path), e.validator != "additionalProperties", e.message))
    return errors[0] if errors else None


def refuse_non_finite(value: object, key: str = "") -> None:
    """JSON-schema bounds cannot see NaN (every comparison with it is false) and YAML reads `.nan`,
    `.inf` and `-.inf` as floats: refuse them at any depth, naming the key, before any job."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key or '<top level>'}': {value} is not a finite number; give a finite value")
    if isinstance(value, dict):
        for name, item in value.items():
            refuse_non_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_non_finite(item, f"{key}.{index}" if key else str(index))
