"""What the fault tests share: private workflow copies driven by the real `snakemake` CLI, each
started in a process group of its own so a test can SIGKILL the whole tree (a lost login node), and
comparisons of tables and run folders that ignore what only measures the machine.

Not a conftest.py: tests/conftest.py is imported as the module ``conftest`` by other test files, and
a second conftest.py here would take that name. The shared helpers of tests/conftest.py are loaded
from their file under a name of their own.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
GRID = Path(__file__).with_name("grid.yaml")
# every job of a fault workflow runs under this address-space limit (inherited from snakemake), so
# the out-of-memory cell fails at its first allocation on any machine, whatever its overcommit policy
MEMORY_LIMIT = 8 << 30
# runs.csv columns that measure the machine, not the result: left out when tables are compared
TIMING_COLUMNS = ["train_seconds", "job_seconds", "peak_rss_mb", "eval_seconds", "eval_peak_rss_mb"]
TABLE_KEYS = ["experiment", "dataset", "objective", "arch", "seed", "metric", "source", "variable", "iteration"]
TRAIN_FILES = ["config.yaml", "log.csv", "samples.npz", "samples.png", "status.json", "checkpoint.pt"]

_spec = importlib.util.spec_from_file_location("wganbench_tests_shared", REPO / "tests" / "conftest.py")
shared = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(shared)  # type: ignore[union-attr]


def limit_memory() -> None:
    """preexec_fn: cap the address space of the process and everything it starts."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass
class Workflow:
    """A private copy of the workflow, run on the fault grid with the real `snakemake`."""

    workdir: Path
    env: dict[str, str]

    @property
    def results(self) -> Path:
        return self.workdir / "results"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "snakemake", "--configfile", "grid.yaml", *args]

    def start(self, *args: str, log: str = "snakemake") -> subprocess.Popen:
        """`snakemake ARGS` in the background, leader of a new process group; output to a file."""
        out = (self.workdir / f"{log}.out").open("w")
        return subprocess.Popen(self.command(*args), cwd=self.workdir, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=limit_memory)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, preexec_fn=limit_memory)

    def output(self, log: str = "snakemake") -> str:
        return (self.workdir / f"{log}.out").read_text()

    def run_dir(self, experiment: str, objective: str, seed: int, dataset: str = "8gaussians",
                arch: str = "mlp") -> Path:
        return self.results / "runs" / experiment / dataset / objective / arch / f"seed{seed}"

    def run_dirs(self) -> list[Path]:
        return sorted(path.parent for path in self.results.glob("runs/*/*/*/*/seed*/config.yaml"))


def new_workflow(folder: Path, grid: str | None = None) -> Workflow:
    """A workflow copy in ``folder`` with the fault grid (or ``grid``, YAML text) as grid.yaml."""
    workdir = shared.copy_workflow(folder / "workflow")
    (workdir / "grid.yaml").write_text(grid if grid is not None else GRID.read_text())
    return Workflow(workdir, shared.isolated_env(folder / "home", workdir))


def wait_for(condition: Callable[[], bool], process: subprocess.Popen | None = None, timeout: float = 240,
             poll: float = 0.05) -> bool:
    """Poll ``condition`` until it holds; False if ``process`` ended or time ran out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process is not None and process.poll() is not None:
            return condition()
        time.sleep(poll)
    return False


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group ``process`` leads: snakemake and every job it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def interrupted(run: Path) -> bool:
    """A run with a checkpoint but no status: training was under way."""
    return (run / "checkpoint.pt").exists() and not (run / "status.json").exists()


def file_ids(run: Path, names: list[str] = TRAIN_FILES) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of each of ``names`` in ``run``: a rewrite (atomic rename) changes both."""
    found = {}
    for name in names:
        path = run / name
        if path.exists():
            stat = path.stat()
            found[name] = (stat.st_ino, stat.st_mtime_ns)
    return found


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A table without its timing columns (and run folders), rows in a fixed order."""
    frame = frame.drop(columns=[c for c in TIMING_COLUMNS + ["run_dir"] if c in frame])
    if "variable" in frame:
        frame = frame[frame["variable"] != "wall_seconds"]
    keys = [c for c in TABLE_KEYS if c in frame]
    return frame.sort_values(keys).reset_index(drop=True)


def assert_tables_equal(a: Path, b: Path) -> None:
    """runs.csv, summary.csv and curves.parquet of two results folders are equal but for timings."""
    for name in ("runs.csv", "summary.csv", "curves.parquet"):
        read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
        pd.testing.assert_frame_equal(comparable(read(a / "tables" / name)), comparable(read(b / "tables" / name)),
                                      check_exact=True, obj=name)


log_without_wall_time, samples = shared.log_without_wall_time, shared.samples


def assert_same_training(a: Path, b: Path) -> None:
    """Two run folders hold bit-identical training results: log (but wall time), samples, status."""
    assert log_without_wall_time(a / "log.csv") == log_without_wall_time(b / "log.csv")
    assert np.array_equal(samples(a), samples(b))
    assert (a / "status.json").read_text() == (b / "status.json").read_text()
