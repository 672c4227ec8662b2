"""Seconds per generator iteration of grid cells, and `wganbench` process start-up: the two
numbers that size the default grid (config/config.yaml) to its 20-minute budget on 2 CPU cores.

    python benchmarks/time_cells.py [--config config/config.yaml] [--iterations 50] [--experiment NAME]

For each experiment x data set x objective x architecture of the config (seed 0) it trains
``--iterations`` iterations in this process (one torch thread, as a workflow job) and prints the
per-iteration time, then the projected training core-seconds of the whole experiment
(iterations x seeds). Start-up is timed by running `wganbench train --help`-free imports in a fresh
interpreter, which is what every train/evaluate job pays before its first iteration.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import yaml


def startup_seconds(repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter importing what `wganbench train` imports."""
    code = "import wganbench.train, wganbench.config"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def objectives_of(experiment: dict, grid: dict) -> list[str]:
    if experiment.get("objectives", "all") != "all":
        return experiment["objectives"]
    builtin = yaml.safe_load((resources.files("wganbench") / "objectives" / "builtin.yaml").read_text())
    return list(builtin) + [o for o in grid.get("objectives", {}) if o not in builtin]


def experiment_seeds(experiment: dict, grid: dict) -> list[int]:
    return list(experiment.get("seeds", grid.get("seeds", [0, 1, 2])))


def experiment_grid(experiment: dict, grid: dict) -> dict:
    """The grid with the experiment's settings as its defaults: what its cells resolve against."""
    return {**grid, "defaults": {**grid.get("defaults", {}), **experiment.get("settings", {})}}


def experiment_cells(experiment: dict, grid: dict) -> Iterator[tuple[str, str, str]]:
    """(data set, objective, architecture) of every cell of a raw (unvalidated) grid's experiment."""
    for dataset in experiment["datasets"]:
        for objective in objectives_of(experiment, grid):
            for arch in experiment["archs"]:
                yield dataset, objective, arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--experiment", action="append", default=[], help="only these experiments")
    args = parser.parse_args()

    import torch

    from wganbench.config import resolve_cell
    from wganbench.extends import resolve_extensions
    from wganbench.train import train

    torch.set_num_threads(1)
    grid = yaml.safe_load(Path(args.config).read_text())
    resolve_extensions(grid)  # experiments that `extends:` another take its keys
    print(f"process start-up (imports): {startup_seconds():.2f} s")
    total = 0.0
    for name, experiment in grid["experiments"].items():
        if args.experiment and name not in args.experiment:
            continue
        seeds = len(experiment_seeds(experiment, grid))
        local = experiment_grid(experiment, grid)
        experiment_seconds = 0.0
        for dataset, objective, arch in experiment_cells(experiment, grid):
            cell = {"objective": objective, "arch": arch, "dataset": dataset, "seed": 0,
                    "iterations": args.iterations, "threads": 1, "checkpoint_every": 10**6}
            cfg = resolve_cell(cell, local)
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                train(cfg, out, progress=False)
                per_iteration = (time.perf_counter() - start) / args.iterations
            seconds = per_iteration * experiment["iterations"] * seeds
            experiment_seconds += seconds
            print(f"{name:>10} {dataset:>14} {objective:>12} {arch:>10}: {1000 * per_iteration:7.1f} ms/it"
                  f" -> {seconds:6.0f} core-s for {seeds} seeds x {experiment['iterations']} it")
        print(f"{name}: {experiment_seconds:.0f} core-s of training")
        total += experiment_seconds
    print(f"all experiments: {total:.0f} core-s of training (plus start-up and evaluation per job)")


if __name__ == "__main__":
    main()
