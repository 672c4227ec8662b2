"""Reference levels: what a perfect and a trivial generator score, measured exactly like a run.

Whether a run *learned* cannot be read off a raw FID or W1: the number depends on the data set, the
feature extractor and the sample count. So the suite measures two generators that need no training,
with the same settings, extractor, reference set and sample count as the runs:

- ``real``: ``count`` real samples of the *train* split (runs are compared with the test split), the
  level of a generator that reproduced the data;
- ``constant``: ``count`` copies of the train split's mean, a generator that learned the first moment
  and nothing else (what a fully collapsed or flat-grey generator is close to).

``wganbench.outcomes`` puts each data set's learned / failed-to-learn threshold between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..rundir import write_json
from .context import Context
from .families import families_for
from .records import values
from .run import Preparer, evaluate_batch

FORMAT = "wganbench-levels/1"
TRAIN_SPLIT_SEED = 1  # which train samples stand in for the perfect generator (any fixed seed)


def level_samples(ctx: Context, count: int) -> dict[str, torch.Tensor]:
    """The two reference generators' samples, ``count`` each, in the runs' sample format."""
    train = ctx.dataset.reference("train", None, 0).samples.float()
    real = ctx.dataset.reference("train", count, TRAIN_SPLIT_SEED).samples.float()
    if len(real) < count:  # a small train split: repeat it rather than compare different counts
        real = real.repeat((count + len(real) - 1) // len(real), *([1] * (real.dim() - 1)))[:count]
    constant = train.mean(dim=0, keepdim=True).expand(count, *train.shape[1:]).contiguous()
    return {"real": real, "constant": constant}


def measure_levels(dataset: str, image_size: int | None, count: int, settings: Mapping[str, Any],
                   data_root: str | None = None) -> dict[str, Any]:
    """Every metric of ``settings`` for the real and the constant generator of one data set."""
    ctx = Context({"dataset": dataset, "image_size": image_size, "data_root": data_root}, dict(settings))
    families = families_for(ctx.dataset.kind, settings["metrics"])
    prepare = Preparer(ctx, families)
    measured = {}
    for name, samples in level_samples(ctx, count).items():
        records = evaluate_batch(ctx, families, samples, None, None, f"level:{name}", prepare)
        measured[name] = {"values": values(records), "records": records}
    return {"format": FORMAT, "wganbench_version": __version__, "dataset": dataset, "kind": ctx.dataset.kind,
            "image_size": image_size if ctx.dataset.kind == "image" else None, "count": count,
            "levels": {name: entry["values"] for name, entry in measured.items()},
            "records": {name: entry["records"] for name, entry in measured.items()}}


def write_levels(out: str | Path, dataset: str, image_size: int | None, count: int,
                 settings: Mapping[str, Any], data_root: str | None = None) -> dict[str, Any]:
    result = measure_levels(dataset, image_size, count, settings, data_root)
    write_json(Path(out), result)
    return result
