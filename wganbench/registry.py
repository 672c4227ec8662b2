"""Named registries of swappable parts (losses, Lipschitz methods, models, data sets, ...).

A registry maps a name to a factory. Names not in the registry may be given as an import path
``package.module:Attribute`` so users plug in their own classes without editing wganbench.
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """Bad user input. The message is one line that names the key and says what to do."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as a short line inside a one-line message: its first non-empty line, or its type."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


class Registry(Generic[T]):
    """A name -> factory map with clear errors listing the valid choices."""

    def __init__(self, kind: str, allow_import_path: bool = False) -> None:
        self.kind = kind
        self.allow_import_path = allow_import_path
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or (
            self.allow_import_path and isinstance(name, str) and ":" in name
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str, key: str | None = None) -> T:
        """Look ``name`` up; ``key`` is the config key to name in the error."""
        if name in self._entries:
            return self._entries[name]
        if self.allow_import_path and isinstance(name, str) and ":" in name:
            return import_object(name, key or self.kind)
        where = f"config key '{key}': " if key else ""
        hint = " or an import path 'module:Class'" if self.allow_import_path else ""
        raise ConfigError(
            f"{where}unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}{hint}"
        )


def import_object(path: str, key: str) -> object:
    """Import ``module.sub:Attr`` with a one-line error naming the config key."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"config key '{key}': cannot import module {module_name!r} ({exc}); "
            "check the path and that the module is on PYTHONPATH"
        ) from None
    except Exception as exc:  # the module itself is broken (SyntaxError, NameError, ...)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        raise ConfigError(
            f"config key '{key}': module {module_name!r} fails to import ({reason}); fix the module"
        ) from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ConfigError(
            f"config key '{key}': module {module_name!r} has no attribute {attr!r}"
        ) from None
    return obj
