"""The fixed cost of a job: what every grid cell pays before and after its first iteration.

    python benchmarks/bench_fixed_cost.py [--repeats 5] [--cells 1000] [--profile]

Median wall time (of ``--repeats`` fresh processes) of ``python -c "import wganbench"``,
``wganbench --help``, ``wganbench train`` for 1 iteration (toy and digits: start-up, data, models,
one iteration, final samples, figure, checkpoint), and the workflow's dry run ``snakemake -n`` on
the default grid (config/config.yaml) and on a generated grid of ``--cells`` training cells, each
in a temporary copy of the workflow (nothing lands in the repository's results/). ``--profile``
adds a cProfile of one 1-iteration toy job in this process: where its seconds go.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# the installed console script, as a job runs it (python -m wganbench.cli where it is not on PATH)
WGANBENCH = [shutil.which("wganbench")] if shutil.which("wganbench") else [sys.executable, "-m", "wganbench.cli"]
TRAIN_CELLS = {
    "toy (8gaussians, mlp, wgan-gp)": ["--objective", "wgan-gp", "--arch", "mlp", "--dataset", "8gaussians"],
    "digits 16 px (dcgan, wgan-gp)": ["--objective", "wgan-gp", "--arch", "dcgan", "--dataset", "digits",
                                      "--set", "image_size=16"],
}


def median_seconds(command: list[str], repeats: int, cwd: Path | None = None,
                   fresh: Path | None = None) -> tuple[float, float, str]:
    """Median wall and CPU seconds of ``command``, and the last run's stdout; ``fresh`` is a folder
    emptied before each run. CPU = user + system time of the process and its children: on a
    shared machine it moves far less with other load than the wall time does."""
    runs = []
    for _ in range(repeats):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        runs.append(timed_run(command, cwd))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2]


def timed_run(command: list[str], cwd: Path | None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the children, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stdout


def copy_workflow(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config", "workflow"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)


def big_grid(cells: int, ensemble: bool) -> dict:
    """About ``cells`` training cells, half toy and half 16 px digits (dcgan): 10 objectives x
    ``cells / 20`` seeds each, with the default grid's other keys (theory off, to time the cells)."""
    grid = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    objectives = ["gan", "nsgan", "lsgan", "hinge", "wgan", "wgan-gp", "sngan", "cramer", "f-kl", "f-js"]
    grid["seeds"] = list(range(max(1, cells // (2 * len(objectives)))))
    default = grid["experiments"]
    grid["experiments"] = {
        "toy": {**default["toy"], "objectives": objectives, "ensemble": ensemble},
        "digits": {**default["architectures"], "objectives": objectives, "archs": ["dcgan"], "ensemble": ensemble},
    }
    grid["theory"] = []
    return grid


def dry_run_seconds(workdir: Path, repeats: int, configfile: str | None) -> tuple[tuple[float, float], int]:
    """(median wall and CPU seconds of `snakemake -n`, jobs it planned)."""
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    if configfile:
        command += ["--configfile", configfile]
    wall, cpu, output = median_seconds(command, repeats, cwd=workdir)
    jobs = next((int(line.split()[1]) for line in output.splitlines() if line.startswith("total ")), -1)
    return (wall, cpu), jobs


def profile_toy_job(top: int) -> None:
    from wganbench.config import parse_overrides, resolve_cell
    from wganbench.train import train

    cfg = resolve_cell({"objective": "wgan-gp", "arch": "mlp", "dataset": "8gaussians", "iterations": 1},
                       overrides=parse_overrides(["threads=1"]))
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as out:
        profiler.enable()
        train(cfg, out, progress=False)
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(top)
    print("\ncProfile of one 1-iteration toy job in this process (torch imported already; imports made inside train() included):")
    print("\n".join(text.getvalue().splitlines()[4:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float]]] = []

    def add(label: str, command: list[str], **options: Path) -> None:
        wall, cpu, _ = median_seconds(command, args.repeats, **options)
        rows.append((label, (wall, cpu)))

    add("python -c 'import wganbench'", [sys.executable, "-c", "import wganbench"])
    add("wganbench --help", [*WGANBENCH, "--help"])
    add("python -c 'import torch' (for comparison)", [sys.executable, "-c", "import torch"])
    with tempfile.TemporaryDirectory(prefix="wganbench-fixed-") as tmp:
        root = Path(tmp)
        for label, cell in TRAIN_CELLS.items():
            out = root / "run"
            add(f"wganbench train, 1 iteration: {label}",
                [*WGANBENCH, "train", *cell, "--iterations", "1", "--out", str(out), "--set", "threads=1"], fresh=out)
        workdir = root / "workflow"
        copy_workflow(workdir)
        (workdir / "big.yaml").write_text(yaml.safe_dump(big_grid(args.cells, ensemble=True)))
        (workdir / "big-single.yaml").write_text(yaml.safe_dump(big_grid(args.cells, ensemble=False)))
        for label, configfile in (("default grid", None), (f"{args.cells}-cell grid", "big.yaml"),
                                  (f"{args.cells}-cell grid, ensemble: false", "big-single.yaml")):
            seconds, jobs = dry_run_seconds(workdir, args.repeats, configfile)
            rows.append((f"snakemake -n, {label} ({jobs} jobs)", seconds))
    print(f"| command (median of {args.repeats}) | wall s | CPU s |\n|---|---:|---:|")
    for label, (wall, cpu) in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    if args.profile:
        profile_toy_job(25)


if __name__ == "__main__":
    main()
