"""Faults of the whole workflow, injected for real on the fault grid (grid.yaml) with `snakemake`:

1. snakemake and all its jobs SIGKILLed mid-grid (a lost login node); the rerun with the README's
   flags finishes only what is missing, resumes the interrupted cell from its checkpoint and ends
   with the tables of an uninterrupted run (timing columns aside: faultkit.TIMING_COLUMNS);
2. a train job SIGTERMed: it checkpoints and exits 75, `--retries 1` reruns it and it resumes;
4. a cell that diverges and one that runs out of memory: results, with reasons, and the rest of
   the grid completes (exit 0);
5. a second snakemake on the same folder while one runs: refused with Snakemake's lock message.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from wganbench.figures import Options, Tables, draw

from faultkit import (GRID, Workflow, assert_same_training, assert_tables_equal, file_ids,
                      interrupted, kill_group, new_workflow, wait_for)

pytestmark = pytest.mark.slow

CORES = ["--cores", "2"]
TABLES = "results/tables/runs.csv"  # the aggregate job (figures are drawn in-process below)
# what README.md tells users to run after a crash or a kill: a killed snakemake leaves its lock
# (Snakemake cannot tell a dead holder from a live one) and its running jobs' outputs incomplete
README_RESUME = "snakemake --unlock && snakemake --cores all --rerun-incomplete"
RESUME = [["--unlock"], [*CORES, "--rerun-incomplete", TABLES]]
LOCK_MESSAGE = "Error: Directory cannot be locked."


@dataclass
class Reference:
    """The fault grid run uninterrupted, and a second snakemake started on it while it ran."""

    workflow: Workflow
    returncode: int
    second: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    workflow = new_workflow(tmp_path_factory.mktemp("reference"))
    first = workflow.start(*CORES, TABLES)
    try:
        locks = workflow.workdir / ".snakemake" / "locks"
        assert wait_for(lambda: locks.exists() and any(locks.iterdir()), first), workflow.output()
        # with the README's --rerun-incomplete, as a user resuming would type it: without it, a second
        # snakemake that plans while the first has jobs running may stop at their incomplete
        # outputs before it reaches the lock
        second = workflow.run(*CORES, "--rerun-incomplete", TABLES, timeout=120)
        returncode = first.wait(timeout=600)
    finally:
        if first.poll() is None:
            kill_group(first)
    assert returncode == 0, workflow.output()[-6000:]
    return Reference(workflow, returncode, second)


@dataclass
class Killed:
    """The fault grid killed mid-training, then finished with the README's commands."""

    workflow: Workflow
    done_before: dict[Path, dict]   # run folder -> train files' ids, for cells trained before the kill
    cut: list[Path]                 # run folders caught between checkpoint and status
    without_unlock: subprocess.CompletedProcess  # the rerun tried before the README's --unlock
    resumed: list[subprocess.CompletedProcess]   # the README's commands, in order


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    workflow = new_workflow(tmp_path_factory.mktemp("killed"))

    def trained(run: Path) -> bool:
        """Its train job has ended and Snakemake has recorded it complete. (A status.json alone is not
        enough: under load, a kill between the job's last write and Snakemake's record leaves the
        outputs marked incomplete, and --rerun-incomplete rightly trains the cell again.)"""
        status = run / "status.json"
        return (status.exists() and time.time() - status.stat().st_mtime > 2
                and not marked_incomplete(workflow.workdir, status))

    def mid_grid() -> bool:  # one cell trained, another between checkpoints
        found = workflow.run_dirs()
        return any(trained(r) for r in found) and any(interrupted(r) for r in found)

    process = workflow.start(*CORES, TABLES)
    try:
        caught = wait_for(mid_grid, process)
    finally:
        kill_group(process)
    assert caught, "the grid finished before it could be killed mid-training\n" + workflow.output()[-3000:]
    def survivors() -> list[str]:
        return [pid for pid in os.listdir("/proc") if pid.isdigit() and _cwd(pid) == workflow.workdir]

    # SIGKILL is delivered asynchronously: a job caught in a disk write dies when the write returns
    wait_for(lambda: not survivors(), timeout=10)
    leftovers = survivors()
    assert not leftovers, f"processes survived the kill of the process group: {leftovers}"
    done = {r: file_ids(r) for r in workflow.run_dirs() if trained(r)}
    cut = [r for r in workflow.run_dirs() if interrupted(r)]
    without_unlock = workflow.run(*RESUME[-1], timeout=120)
    resumed = [workflow.run(*args, timeout=600) for args in RESUME]
    return Killed(workflow, done, cut, without_unlock, resumed)


def marked_incomplete(workdir: Path, output: Path) -> bool:
    """Snakemake's marker of an output whose job has not been recorded as finished
    (.snakemake/incomplete/<urlsafe base64 of the path>, split into parts of the name length limit)."""
    name = base64.urlsafe_b64encode(str(output.relative_to(workdir)).encode()).decode()
    limit = os.pathconf(workdir, "PC_NAME_MAX") - 1
    parts = [name[i:i + limit] for i in range(0, len(name), limit)]
    parts = ["@" + part for part in parts[:-1]] + parts[-1:]
    return (workdir / ".snakemake" / "incomplete").joinpath(*parts).exists()


def _cwd(pid: str) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


# --- 1. snakemake killed ---------------------------------------------------------------------------

def test_rerun_after_kill_needs_the_readmes_unlock_and_says_so(killed: Killed) -> None:
    refused = killed.without_unlock
    assert refused.returncode != 0 and LOCK_MESSAGE in refused.stderr and "--unlock" in refused.stderr
    assert README_RESUME in (Path(__file__).parents[2] / "README.md").read_text()
    for result in killed.resumed:
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def test_rerun_after_kill_redoes_only_the_missing_cells(killed: Killed) -> None:
    assert killed.done_before, "no cell was trained before the kill"
    for run, before in killed.done_before.items():
        assert file_ids(run) == before, f"{run} was rewritten by the rerun"


def test_rerun_after_kill_resumes_interrupted_training_from_its_checkpoint(killed: Killed,
                                                                           reference: Reference) -> None:
    assert killed.cut, "no training run was caught between checkpoint and status"
    for run in killed.cut:
        provenance = json.loads((run / "provenance.json").read_text())
        assert provenance["resumed_from_iteration"] > 0, run
        twin = reference.workflow.results / run.relative_to(killed.workflow.results)
        assert_same_training(run, twin)


def test_tables_after_kill_and_rerun_equal_an_uninterrupted_run(killed: Killed, reference: Reference) -> None:
    assert_tables_equal(killed.workflow.results, reference.workflow.results)


# --- 5. two snakemakes on one folder ---------------------------------------------------------------

def test_second_snakemake_on_the_same_folder_is_refused_by_the_lock(reference: Reference) -> None:
    second = reference.second
    assert second.returncode != 0
    assert LOCK_MESSAGE in second.stderr, second.stderr[-3000:]
    assert "--unlock" in second.stderr  # Snakemake's message says how to clear a stale lock
    # the first run was not disturbed: it completed (fixture) with every cell's files in place
    for run in reference.workflow.run_dirs():
        assert {"status.json", "metrics.json", "samples.npz"} <= {p.name for p in run.iterdir()}, run


# --- 4. divergence and out of memory ---------------------------------------------------------------

def test_diverged_and_out_of_memory_runs_are_results_and_the_grid_completes(reference: Reference) -> None:
    results = reference.workflow.results
    runs = pd.read_csv(results / "tables" / "runs.csv").set_index("experiment")
    assert reference.returncode == 0
    assert runs.loc["unstable", "status"] == "diverged"
    assert "is inf" in runs.loc["unstable", "reason"] or "divergence_bound" in runs.loc["unstable", "reason"]
    assert runs.loc["oom", "status"] == "failed"
    assert "out of memory" in runs.loc["oom", "reason"]
    assert set(runs.drop(index=["unstable", "oom"])["status"]) == {"completed"}
    metrics = [c for c in runs.columns if c in ("w1", "modes_covered", "high_quality_share")]
    assert metrics and runs.loc[["unstable", "oom"], metrics].isna().all(axis=None)  # no number for them
    assert runs.loc["quick", metrics].notna().all(axis=None)
    summary = pd.read_csv(results / "tables" / "summary.csv")
    stopped = summary[summary["experiment"].isin(["unstable", "oom"])]
    assert len(stopped) and (stopped["success_rate"] == 0).all() and stopped["mean"].isna().all()
    page = (results / "tables" / "runs.html").read_text()
    assert "1 failed" in page and "1 diverged" in page and "out of memory" in page
    status = json.loads(reference.workflow.run_dir("oom", "nsgan", 0).joinpath("status.json").read_text())
    assert status["status"] == "failed" and "out of memory" in status["reason"]


def test_figures_draw_failed_and_diverged_runs(reference: Reference, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(reference.workflow.workdir)  # runs.csv names run folders relative to it
    tables = reference.workflow.results / "tables"
    success = Tables(tables).runs.assign(ok=lambda r: r["status"] == "completed").groupby("experiment")["ok"].mean()
    assert success.to_dict() == {"long": 1.0, "oom": 0.0, "quick": 1.0, "unstable": 0.0}
    for kind, experiment in [("success", None), ("distributions", None), ("samples", "oom"), ("samples", "unstable")]:
        out = draw(kind, tables, tmp_path / f"{kind}-{experiment}.png", Options(experiment=experiment))
        assert out.stat().st_size > 1000


# --- 2. a train job signalled under snakemake ------------------------------------------------------

def test_signalled_train_job_is_retried_and_resumes(tmp_path: Path, reference: Reference) -> None:
    grid = yaml.safe_load(GRID.read_text())
    grid["experiments"] = {"long": grid["experiments"]["long"]}
    workflow = new_workflow(tmp_path, yaml.safe_dump(grid))
    run = workflow.run_dir("long", "nsgan", 0)
    target = str((run / "status.json").relative_to(workflow.workdir))
    process = workflow.start(*CORES, "--retries", "1", target)
    try:
        assert wait_for(lambda: (run / "checkpoint.pt").exists() and _train_pid(workflow) is not None, process)
        pid = _train_pid(workflow)
        assert pid is not None and not (run / "status.json").exists()
        os.kill(pid, signal.SIGTERM)
        assert process.wait(timeout=300) == 0, workflow.output()[-6000:]
    finally:
        if process.poll() is None:
            kill_group(process)
    output = workflow.output()  # the retry rewrote the job's log; snakemake's own output keeps both attempts
    assert "returned non-zero exit status 75" in output and "Trying to restart job" in output, output[-3000:]
    assert json.loads((run / "provenance.json").read_text())["resumed_from_iteration"] > 0
    assert_same_training(run, reference.workflow.run_dir("long", "nsgan", 0))


def _train_pid(workflow: Workflow) -> int | None:
    """The `wganbench train` process (not the shell that started it) working in ``workflow``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"train" in argv and any(a.endswith(b"wganbench") for a in argv) and _cwd(pid) == workflow.workdir:
            return int(pid)
    return None

