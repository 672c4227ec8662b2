"""Theory experiments: cheap, exact where a closed form exists, one table + one figure each.

``EXPERIMENTS`` maps a name to ``run(out_dir, seed=0) -> list[Path]`` (the files written). The
modules are imported on first use, so looking a name up (or listing them in the CLI's help) does
not pay for scipy, pandas and matplotlib. Each module's own ``run`` also takes a ``config``
dataclass for non-default settings (used by the tests).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from ..inventory import THEORY_EXPERIMENTS
from ..registry import Registry

Experiment = Callable[..., list[Path]]

EXPERIMENTS: Registry[Experiment] = Registry("theory experiment")



def _lazy(module: str) -> Experiment:
    def run(out_dir: Path, seed: int = 0) -> list[Path]:
        return importlib.import_module(f"{__name__}.{module}").run(Path(out_dir), seed=seed)

    run.__name__ = run.__qualname__ = f"run_{module}"
    run.__doc__ = f"Run wganbench.theory.{module} with its default settings."
    return run


for _name, _module in THEORY_EXPERIMENTS.items():
    EXPERIMENTS.add(_name, _lazy(_module))

__all__ = ["EXPERIMENTS", "Experiment"]
