"""Train grid cells as the workflow does (a cell's seeds in one process) on a chosen device, and
print what one GPU does with them: wall seconds per cell, the ensemble method the loop chose, the
runs' status, and whether a second identical run repeats the first.

    python benchmarks/gpu_cells.py --config config/config.yaml --experiment toy \
        --objective wgan-gp-toy [--iterations 300] [--seeds 7] [--set precision=bf16] [--repeat]

It asserts nothing and prints a markdown table. Wall time is the training call alone (data, models,
loop, samples, checkpoints), after one untimed warm-up cell has paid CUDA's start-up.
``--repeat`` trains the first cell again into a second folder and compares its first seed's log
(every column but the clock) and samples bit for bit: on the CPU they are equal by construction
(tests/test_golden_runs.py); on a GPU it depends on the kernels cuDNN picks.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from time_cells import experiment_cells, experiment_grid, experiment_seeds  # benchmarks/time_cells.py

from wganbench.config import parse_overrides, resolve_cell
from wganbench.extends import resolve_extensions
from wganbench.train import train_seeds


def cells_of(grid: dict, experiments: list[str], objectives: list[str], archs: list[str]) -> list[tuple]:
    """(experiment name, data set, objective, arch, experiment) of the cells the filters keep."""
    return [(name, dataset, objective, arch, experiment)
            for name, experiment in grid["experiments"].items() if not experiments or name in experiments
            for dataset, objective, arch in experiment_cells(experiment, grid)
            if (not objectives or objective in objectives) and (not archs or arch in archs)]


def train_cell(grid: dict, cell: tuple, seeds: list[int], out: Path, iterations: int | None,
               overrides: dict) -> dict:
    """One cell's seeds in one call; its wall time and what the runs recorded."""
    name, dataset, objective, arch, experiment = cell
    given = {"objective": objective, "arch": arch, "dataset": dataset, "seed": seeds[0],
             "iterations": iterations or experiment["iterations"]}
    cfg = resolve_cell(given, experiment_grid(experiment, grid), overrides)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    statuses = train_seeds(cfg, seeds, str(out / "seed{seed}"), progress=False)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    provenance = json.loads((out / f"seed{seeds[0]}" / "provenance.json").read_text())
    return {"experiment": name, "objective": objective, "arch": arch, "seeds": len(seeds),
            "iterations": cfg["iterations"], "wall_s": round(wall, 1),
            "ms_per_it": round(1000 * wall / cfg["iterations"], 1),
            "method": provenance.get("ensemble", {}).get("method", "single"),
            "device": provenance.get("device"),
            "status": ",".join(sorted({s.get("status", "?") for s in statuses}))}


def same_run(first: Path, second: Path) -> str:
    """'identical', or the first thing that differs between two run folders."""
    logs = [pd.read_csv(folder / "log.csv").drop(columns=["wall_seconds"], errors="ignore") for folder in (first, second)]
    if not logs[0].equals(logs[1]):
        columns = [c for c in logs[0].columns if not logs[0][c].equals(logs[1][c])]
        return f"log differs in {columns[:4]}"
    samples = [np.load(folder / "samples.npz") for folder in (first, second)]
    for key in samples[0].files:
        if not np.array_equal(samples[0][key], samples[1][key]):
            return f"samples differ ({key}: max |diff| {np.abs(samples[0][key] - samples[1][key]).max():.2e})"
    return "identical"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--experiment", action="append", default=[])
    parser.add_argument("--objective", action="append", default=[])
    parser.add_argument("--arch", action="append", default=[])
    parser.add_argument("--iterations", type=int, help="instead of the experiment's")
    parser.add_argument("--seeds", type=int, help="first N of the experiment's seeds")
    parser.add_argument("--set", action="append", default=[], help="override a cell key (precision=bf16)")
    parser.add_argument("--repeat", action="store_true", help="train the first cell twice and compare")
    args = parser.parse_args()

    grid = yaml.safe_load(Path(args.config).read_text())
    resolve_extensions(grid)  # experiments that `extends:` another take its keys
    cells = cells_of(grid, args.experiment, args.objective, args.arch)
    overrides = parse_overrides(args.set)

    def seeds(cell: tuple) -> list[int]:
        return experiment_seeds(cell[4], grid)[: args.seeds]

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        train_cell(grid, cells[0], [0], root / "warmup", 20, overrides)  # CUDA context, cuDNN, imports
        for index, cell in enumerate(cells):
            rows.append(train_cell(grid, cell, seeds(cell), root / f"cell{index}", args.iterations, overrides))
            print(json.dumps(rows[-1]), flush=True)
        if args.repeat and cells:
            again = train_cell(grid, cells[0], seeds(cells[0]), root / "again", args.iterations, overrides)
            first = f"seed{seeds(cells[0])[0]}"
            verdict = same_run(root / "cell0" / first, root / "again" / first)
            print(f"repeat of {cells[0][2]} {cells[0][3]}: {verdict} (wall {again['wall_s']} s)")
    print(f"\n{torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}, torch {torch.__version__}, "
          f"overrides {args.set or 'none'}\n")
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
