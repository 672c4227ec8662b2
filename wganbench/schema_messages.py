"""One-line messages for schema errors: the full config key, jsonschema's words and, where it
helps, the fix (a close key for a typo, the name rule, the repeated item)."""

from __future__ import annotations

import difflib
from typing import Callable

import jsonschema

from .schema import load_schema

SCHEMA_FILE = "config.schema.yaml"
# A configured name (experiment, objective, data set, architecture) becomes a folder under results/.
NAME_RULE = "names are lower-case letters, digits, '_' and '-', starting with a letter or digit"


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
