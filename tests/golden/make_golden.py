"""Write the saved single-run files that tests/test_golden_runs.py compares training against.

Run from a checkout of the commit the files should pin (recorded in manifest.json with the
machine's numerics, wganbench.provenance.numerics(): runs elsewhere are compared within a tolerance):
    PYTHONPATH=<checkout> python tests/golden/make_golden.py tests/golden/runs
The cells are small and cover each code path of the loop: batch norm, clipping with the critic
warm-up, a gradient penalty, spectral norm, a loss with two fake batches, an f-GAN, snapshots.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOY = ["mlp_hidden=32", "batch_size=64", "log_every=1", "sample_count=64", "threads=1", "snapshot_every=10"]
DIGITS = ["image_size=16", "ngf=8", "ndf=8", "batch_size=16", "log_every=1", "sample_count=16", "threads=1",
          "snapshot_every=3"]
CELLS: dict[str, tuple[dict, list[str]]] = {
    f"{objective}-8gaussians-mlp": ({"objective": objective, "arch": "mlp", "dataset": "8gaussians",
                                     "seed": 3, "iterations": 30}, TOY)
    for objective in ("nsgan", "wgan", "wgan-gp", "sngan", "cramer", "f-rkl", "hinge", "lsgan")
}
CELLS |= {
    "nsgan-digits-dcgan": ({"objective": "nsgan", "arch": "dcgan", "dataset": "digits", "seed": 1,
                            "iterations": 6}, DIGITS),
    "wgan-gp-digits-dcgan-nobn": ({"objective": "wgan-gp", "arch": "dcgan-nobn", "dataset": "digits", "seed": 1,
                                   "iterations": 6}, DIGITS),
    "wgan-digits-mlp": ({"objective": "wgan", "arch": "mlp", "dataset": "digits", "seed": 2, "iterations": 3},
                        [*DIGITS, "critic_warmup=null"]),
}
KEPT = ["log.csv", "samples.npz", "status.json"]


def main(out: Path) -> None:
    import wganbench
    from wganbench.config import parse_overrides, resolve_cell
    from wganbench.provenance import numerics
    from wganbench.train import train

    source = Path(wganbench.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True).stdout.strip()
    for name, (cell, sets) in CELLS.items():
        folder = out / name
        train(resolve_cell(cell, overrides=parse_overrides(sets)), folder, restart=True, progress=False)
        for path in folder.iterdir():  # keep what the test compares: no checkpoint, figure, provenance
            if path.is_file() and path.name not in KEPT:  # the folder samples/ holds the snapshots
                path.unlink()
    (out / "manifest.json").write_text(json.dumps(
        {"commit": commit, "numerics": {**numerics(), "threads": 1},  # every cell sets threads=1
         "cells": {name: {"cell": cell, "set": sets} for name, (cell, sets) in CELLS.items()}},
        indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
