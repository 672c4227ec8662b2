"""The tiny grid through a real single-node SLURM (scripts/start-slurm.sh) with the project's
profile: every cell goes out through `sbatch`, and the tables equal those of the local run.

The grid starts in a background thread once the tests are collected (conftest.py), and these
tests run last. Skipped where SLURM cannot start (no Debian slurm packages, not root), but a failure in CI (CI=true),
where .ci/run installs it; a cluster that is already up is used instead when WGANBENCH_SLURM_CONF
names its slurm.conf.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, TEST_CONFIG, WorkflowRun, copy_workflow, isolated_env, missing_setup

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# columns that measure the machine rather than the result
TIMING = ["train_seconds", "job_seconds", "peak_rss_mb", "eval_seconds", "eval_peak_rss_mb"]


class SlurmSetupMissing(Exception):
    """SLURM cannot run here; the message says why (a skip locally, a failure in CI)."""


def start_slurm() -> Path:
    """A private single-node SLURM (scripts/start-slurm.sh); the folder of its state."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("slurmctld", "slurmd", "munged", "sbatch")):
        raise SlurmSetupMissing("needs root and Debian's munge slurmctld slurmd slurm-client (see .ci/run)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        raise SlurmSetupMissing("snakemake-executor-plugin-slurm is not installed (pip install -e '.[workflow]')")
    # not under pytest's tmp folder: it is private (0700), and munged runs as user munge
    state = Path(tempfile.mkdtemp(prefix="wganbench-slurm-"))
    started = subprocess.run(["bash", str(REPO / "scripts/start-slurm.sh"), str(state)],
                             capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        stop_slurm(state)
        raise SlurmSetupMissing(f"SLURM did not start here: {started.stderr.strip()[-800:]}")
    return state


def stop_slurm(state: Path) -> None:
    subprocess.run(["bash", str(REPO / "scripts/stop-slurm.sh"), str(state)], capture_output=True, timeout=60)
    shutil.rmtree(state, ignore_errors=True)


# the test node has no GPU and 2 CPUs (--cores caps a group job's CPUs, by running its components
# in layers); poll soon, the jobs take seconds
SLURM_ARGS = ["--profile", "workflow/profiles/slurm", *TEST_CONFIG, "--set-resources", "train:gpu=0",
              "evaluate:gpu=0", "--cores", "2", "--slurm-init-seconds-before-status-checks", "5",
              "--latency-wait", "10"]


class EarlyStart:
    """The tiny grid through SLURM, started in a thread as soon as the tests are collected
    (conftest.py): most of its minutes are the plugin waiting between status checks, which the
    other tests fill; the SLURM tests run last and wait for it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wganbench-slurm-run-"))
        self.state: Path | None = None
        self.process: subprocess.Popen | None = None
        self.outcome: WorkflowRun | BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="slurm-grid", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            given = os.environ.get("WGANBENCH_SLURM_CONF")
            if not given:
                self.state = start_slurm()
            workdir = copy_workflow(self.root / "workflow")
            env = {**isolated_env(self.root / "home", workdir),
                   "SLURM_CONF": given or str(self.state / "slurm.conf")}  # type: ignore[operator]
            self.process = subprocess.Popen([sys.executable, "-m", "snakemake", *SLURM_ARGS], cwd=workdir,
                                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            stdout, stderr = self.process.communicate(timeout=1500)
            result = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
            self.outcome = WorkflowRun(workdir, env, result)
        except BaseException as exc:  # handed to the tests that wait for it
            self.outcome = exc

    def result(self) -> WorkflowRun:
        self.thread.join(timeout=1800)
        if isinstance(self.outcome, SlurmSetupMissing):
            missing_setup(str(self.outcome))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        assert self.outcome is not None, "the SLURM grid did not finish within 30 minutes"
        return self.outcome

    def close(self) -> None:
        """Stop what is still running (a session that ended early), SLURM, and remove the files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
        self.thread.join(timeout=120)
        if self.state is not None:
            stop_slurm(self.state)
        shutil.rmtree(self.root, ignore_errors=True)


EARLY: list[EarlyStart] = []  # filled by start_early(), from conftest's pytest_collection_finish


def start_early() -> None:
    if not EARLY:
        EARLY.append(EarlyStart())


def stop_early() -> None:
    """At the end of the session, however it ended."""
    while EARLY:
        EARLY.pop().close()


def sacct_states(env: dict[str, str], job_ids: list[str]) -> dict[str, str]:
    """SLURM accounting's final state of each job (from slurmdbd, as on a real cluster)."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", "JobID,State"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return dict(line.split("|") for line in out.splitlines() if line.strip())


@pytest.fixture(scope="session")
def slurm_run() -> WorkflowRun:
    start_early()  # already running unless this module was collected some other way
    run = EARLY[0].result()
    assert run.result.returncode == 0, (run.result.stdout + run.result.stderr)[-6000:]
    return run


def test_cells_went_through_sbatch(slurm_run: WorkflowRun) -> None:
    log = slurm_run.result.stdout + slurm_run.result.stderr
    submissions = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", log)
    job_ids = sorted({job for job, _ in submissions}, key=int)
    assert len(job_ids) >= 3, log[-3000:]
    # training and evaluation went out as grouped jobs (the profile's `cells` group), the
    # extractor and theory as jobs of their own; local rules (aggregate, figures) did not
    kinds = {Path(path).parts[Path(path).parts.index("slurm_logs") + 1] for _, path in submissions}
    assert any(kind.startswith("group_cells") for kind in kinds), kinds
    assert {"rule_extractor", "rule_theory_parallel_lines"} <= kinds, kinds
    assert not any("aggregate" in kind or "figure" in kind for kind in kinds), kinds
    states = sacct_states(slurm_run.env, job_ids)
    assert set(states) == set(job_ids), f"sacct does not know every job: {states}"
    assert set(states.values()) == {"COMPLETED"}, states


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ["experiment", "dataset", "objective", "arch", "seed", "metric", "source", "variable", "iteration"]
            if c in frame]
    return frame.drop(columns=[c for c in TIMING if c in frame]).sort_values(keys).reset_index(drop=True)


def test_tables_equal_the_local_run(slurm_run: WorkflowRun, local_run: WorkflowRun) -> None:
    for name in ("runs.csv", "summary.csv"):
        on_slurm = comparable(pd.read_csv(slurm_run.results / "tables" / name))
        local = comparable(pd.read_csv(local_run.results / "tables" / name))
        pd.testing.assert_frame_equal(on_slurm, local, check_exact=False, rtol=1e-9, obj=name)
    curves = [pd.read_parquet(run.results / "tables/curves.parquet") for run in (slurm_run, local_run)]
    curves = [comparable(c[c["variable"] != "wall_seconds"]) for c in curves]
    pd.testing.assert_frame_equal(curves[0], curves[1], check_exact=False, rtol=1e-9, obj="curves.parquet")
    for figure in ("curves", "success"):
        assert (slurm_run.results / f"figures/{figure}.png").exists()
