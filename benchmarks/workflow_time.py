"""Wall time of the whole workflow from a fresh copy: `snakemake --cores all`, then the report.

    python benchmarks/workflow_time.py [--configfile config/test.yaml] [--cores all] [--keep DIR]

Runs in a temporary copy of the workflow (nothing lands in the repository's results/), then prints
the wall time of the run and of `snakemake --report`, and, per rule, the jobs' summed wall and CPU
seconds from their Snakemake benchmark files. CPU seconds / cores is the wall time the run would
take on an otherwise idle machine with perfect packing: compare it with the measured wall time to
see how much other load the machine had. The CPU of `snakemake` and everything it started, less the
jobs' own, is what Snakemake's main process (scheduling, job bookkeeping, benchmark sampling) and
the jobs' start-up before their benchmark began cost.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_workflow(target: Path) -> None:
    for name in ("Snakefile", "config", "workflow", "profiles", "environment.yml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, symlinks=False)
        elif source.exists():
            shutil.copy2(source, target / name)


def children_cpu() -> float:
    """CPU seconds of every finished process this one waited for, and of their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and all it started)."""
    start, cpu_before = time.perf_counter(), children_cpu()
    with log.open("w") as handle:
        subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start, children_cpu() - cpu_before


def per_rule(benchmarks: Path) -> dict[str, list[float]]:
    """rule folder -> [jobs, wall seconds, cpu seconds, max peak RSS MB]."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for path in benchmarks.rglob("*.tsv"):
        rule = path.relative_to(benchmarks).parts[0] if len(path.relative_to(benchmarks).parts) > 1 else path.stem
        with path.open() as handle:
            row = list(csv.DictReader(handle, delimiter="\t"))[-1]
        entry = totals[rule]
        entry[0] += 1
        entry[1] += float(row["s"])
        entry[2] += float(row["cpu_time"])
        entry[3] = max(entry[3], float(row["max_rss"]) if row["max_rss"] not in ("", "-") else 0.0)
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="*", default=[])
    parser.add_argument("--cores", default="all")
    parser.add_argument("--keep", default=None, help="run in this folder and keep it")
    args = parser.parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wganbench-time-"))
    workdir.mkdir(parents=True, exist_ok=True)
    copy_workflow(workdir)
    config = ["--configfile", *args.configfile] if args.configfile else []
    snakemake = [sys.executable, "-m", "snakemake"]
    run, run_cpu = timed([*snakemake, "--cores", args.cores, *config], workdir, workdir / "run.log")
    report, _ = timed([*snakemake, *config, "--report", "results/report.html"], workdir, workdir / "report.log")
    print(f"snakemake --cores {args.cores}: {run:.0f} s wall;  --report: {report:.1f} s wall  ({workdir})")
    print(f"{'rule':<16}{'jobs':>6}{'wall s':>10}{'cpu s':>10}{'peak MB':>10}")
    totals = per_rule(workdir / "results" / "benchmarks")
    for rule, (jobs, wall, cpu, rss) in sorted(totals.items()):
        print(f"{rule:<16}{jobs:>6}{wall:>10.0f}{cpu:>10.0f}{rss:>10.0f}")
    cpu = sum(entry[2] for entry in totals.values())
    print(f"all jobs: {cpu:.0f} CPU s;  snakemake and all it started: {run_cpu:.0f} CPU s "
          f"(main process and job start-up: {run_cpu - cpu:.0f})")
    if not args.keep:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
