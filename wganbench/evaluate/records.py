"""The shape of one value in metrics.json, and reading values back.

Every metric is ``{"value": v, "available": true, "protocol": {...}}`` or, when it can't be
computed, ``{"value": null, "available": false, "reason": "..."}``. Numbers live only in
``value`` and inside ``protocol``, so a reader that takes ``value`` per metric gets a flat row.
"""

from __future__ import annotations

import math
from typing import Any

FORMAT = "wganbench-metrics/1"


def available(value: float, protocol: dict[str, Any]) -> dict[str, Any]:
    return {"value": float(value), "available": True, "protocol": protocol}


def unavailable(reason: str) -> dict[str, Any]:
    return {"value": None, "available": False, "reason": reason}


def is_record(entry: Any) -> bool:
    return isinstance(entry, dict) and "available" in entry and "value" in entry


def values(metrics: dict[str, Any]) -> dict[str, float]:
    """Final values by metric name; unavailable ones are NaN."""
    return {name: math.nan if entry["value"] is None else float(entry["value"])
            for name, entry in metrics.items() if is_record(entry)}


def curves(metrics: dict[str, Any]) -> list[dict[str, float]]:
    """One ``{"iteration": i, name: value, ...}`` row per evaluated snapshot."""
    return [{"iteration": int(point["iteration"]), **values(point)} for point in metrics.get("curves", [])]
