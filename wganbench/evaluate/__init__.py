"""Metrics of a run: torch-fidelity scores (Inception or an offline classifier), mode coverage, toy W1.

``evaluate_run(run_dir, settings)`` writes ``RUN_DIR/metrics.json``; ``values`` and ``curves`` read
it back. Settings and their defaults live in ``wganbench/schemas/evaluation.schema.yaml``.
Names are imported on first use, so reading the settings does not pull in torch-fidelity and POT.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"evaluate_run": ".run", "resolve_settings": ".settings", "values": ".records", "curves": ".records"}

__all__ = ["curves", "evaluate_run", "resolve_settings", "values"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
