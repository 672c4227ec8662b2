"""`wganbench evaluate RUN_DIR`: a run folder's sample batches -> ``RUN_DIR/metrics.json``.

The final batch (samples.npz) gives the top-level values; the batches saved at logged iterations
(samples/iter_*.npz) give ``curves``. A batch that can't be measured (missing, NaN from a diverged
run) gets every value marked unavailable with the reason, and so does the final batch of a run that
stopped early (diverged, or failed for lack of memory): its last state is not the cell's result, and a
number for it would sit in the tables beside real ones. An unreadable sample file is a one-line error
(from ``RunDir.load_samples``) that names the file and how to redraw it. What may fail for lack of weights or
labels is resolved before the first number is computed, and metrics.json is replaced atomically at
the end, so a failed evaluation leaves the previous file as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..registry import ConfigError
from ..rundir import COMPLETED, RunDir, write_json
from .context import Context
from .families import Family, families_for, seeded_subset
from .records import FORMAT, unavailable
from .settings import resolve_settings

Selection = list[tuple[Family, list[str]]]
Loaded = tuple[torch.Tensor | None, int | None, str | None]  # samples, iteration, why not measurable


class Preparer:
    """Resolves the families' extractors once, at the first batch that will be measured."""

    def __init__(self, ctx: Context, families: Selection) -> None:
        self.ctx, self.families, self.done = ctx, families, False

    def __call__(self) -> None:
        if not self.done:
            for family, _ in self.families:
                if family.prepare is not None:
                    family.prepare(self.ctx)
            self.done = True


def _load(run: RunDir, path: Path, ctx: Context, status: Mapping[str, Any], final: bool = False) -> Loaded:
    """(samples, iteration, None) for a batch that can be measured, else (None, iteration, reason).

    ``final``: the run's last batch, which measures the cell only when the run completed.
    """
    state = status.get("status")
    stopped = f"; the run {state}: {status.get('reason')}" if state not in (None, COMPLETED) else ""
    if not path.exists():
        return None, None, f"no sample file {path.name} (the run has not finished, or crashed){stopped}"
    samples, iteration = run.load_samples(path)
    if stopped and samples.size == 0:
        return None, iteration, f"no samples{stopped}"
    expected = tuple(ctx.dataset.sample_shape)
    if samples.ndim != len(expected) + 1 or tuple(samples.shape[1:]) != expected:
        needs = ", ".join(map(str, ("N", *expected)))
        raise ConfigError(f"{path}: samples have shape {tuple(samples.shape)}, but data set "
                          f"{ctx.dataset_name!r} at image size {ctx.image_size} needs ({needs})")
    bad = int((~np.isfinite(samples)).reshape(len(samples), -1).any(axis=1).sum())
    if bad:
        return None, iteration, f"{bad} of {len(samples)} samples are not finite (NaN or inf){stopped}"
    if final and stopped:
        return None, iteration, f"only a completed run gets final metrics{stopped}"
    if len(samples) < 2:
        return None, iteration, f"{len(samples)} sample(s) are too few to measure"
    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return (tensor.clamp(-1, 1) if ctx.dataset.kind == "image" else tensor), iteration, None


def _by_count(selected: list[str], settings: Mapping[str, Any]) -> dict[int | None, list[str]]:
    """A family's selected metrics grouped by their generated sample count (``generated_count_for``
    overrides ``generated_count`` per metric), so one library call serves each group."""
    groups: dict[int | None, list[str]] = {}
    for metric in selected:
        groups.setdefault(settings["generated_count_for"].get(metric, settings["generated_count"]), []).append(metric)
    return groups


def evaluate_batch(ctx: Context, families: Selection, samples: torch.Tensor | None, iteration: int | None,
                   reason: str | None, samples_file: str, prepare: Preparer) -> dict[str, dict]:
    """Every selected value of one sample batch (or every one marked unavailable, with ``reason``)."""
    names = [name for family, selected in families for name in family.value_names(selected)]
    if samples is None:
        return {name: unavailable(reason or "no samples") for name in names}
    prepare()
    found: dict[str, dict] = {}
    for family, selected in families:
        for count, metrics in _by_count(selected, ctx.settings).items():
            chosen = seeded_subset(samples, count, ctx.settings["subset_seed"])
            common = {"iteration": iteration, "samples_file": samples_file, "generated_count": len(chosen),
                      "generated_subset_seed": ctx.settings["subset_seed"] if count else None,
                      "device": ctx.device.type}
            computed = family.compute(ctx, chosen, metrics, common)
            found.update({name: computed[name] for name in family.value_names(metrics)})
    return found


def evaluate_run(run_dir: str | Path, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Measure a run folder and write its metrics.json; returns what was written."""
    settings = resolve_settings(settings)
    run = RunDir(run_dir)
    if not run.config.exists():
        raise ConfigError(f"{run.path} is not a run folder (no config.yaml); pass the folder `wganbench train` wrote")
    ctx = Context(run.read_config(), settings)
    families = families_for(ctx.dataset.kind, settings["metrics"])
    status = run.read_status() or {}
    prepare = Preparer(ctx, families)
    result: dict[str, Any] = {
        "format": FORMAT, "wganbench_version": __version__, "dataset": ctx.dataset_name,
        "run_status": status.get("status"), "run_status_reason": status.get("reason"),
    }
    result.update(evaluate_batch(ctx, families, *_load(run, run.samples, ctx, status, final=True),
                                run.samples.name, prepare))
    if settings["curves"]:
        result["curves"] = []
        for path in run.snapshot_files():
            samples, iteration, reason = _load(run, path, ctx, status)
            point = evaluate_batch(ctx, families, samples, iteration, reason, f"samples/{path.name}", prepare)
            result["curves"].append({"iteration": iteration, **point})
        result["curves"].sort(key=lambda point: point["iteration"])
    write_json(run.metrics, result)
    return result
