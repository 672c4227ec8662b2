"""The tiny grid through a real single-node SLURM (scripts/start-slurm.sh) with the project's
profile: every cell goes out through `sbatch`, and the tables equal those of the local run.

Skipped where SLURM cannot start (no Debian slurm packages, not root), but a failure in CI (CI=true),
where .ci/run installs it; a cluster that is already up is used instead when WGANBENCH_SLURM_CONF
names its slurm.conf.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from conftest import REPO, TEST_CONFIG, WorkflowRun, copy_workflow, isolated_env, missing_setup, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# columns that measure the machine rather than the result
TIMING = ["train_seconds", "job_seconds", "peak_rss_mb", "eval_seconds", "eval_peak_rss_mb"]


@pytest.fixture(scope="session")
def slurm_conf() -> Iterator[str]:
    given = os.environ.get("WGANBENCH_SLURM_CONF")
    if given:
        yield given
        return
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("slurmctld", "slurmd", "munged", "sbatch")):
        missing_setup("needs root and Debian's munge slurmctld slurmd slurm-client (see .ci/run)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        missing_setup("snakemake-executor-plugin-slurm is not installed (pip install -e '.[workflow]')")
    # not under pytest's tmp folder: it is private (0700), and munged runs as user munge
    state = Path(tempfile.mkdtemp(prefix="wganbench-slurm-"))
    started = subprocess.run(["bash", str(REPO / "scripts/start-slurm.sh"), str(state)],
                             capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        subprocess.run(["bash", str(REPO / "scripts/stop-slurm.sh"), str(state)], capture_output=True)
        missing_setup(f"SLURM did not start here: {started.stderr.strip()[-800:]}")
    try:
        yield str(state / "slurm.conf")
    finally:
        subprocess.run(["bash", str(REPO / "scripts/stop-slurm.sh"), str(state)], capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def sacct_states(env: dict[str, str], job_ids: list[str]) -> dict[str, str]:
    """SLURM accounting's final state of each job (from slurmdbd, as on a real cluster)."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", "JobID,State"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return dict(line.split("|") for line in out.splitlines() if line.strip())


@pytest.fixture(scope="session")
def slurm_run(slurm_conf: str, tmp_path_factory: pytest.TempPathFactory) -> WorkflowRun:
    root = tmp_path_factory.mktemp("slurm-run")
    workdir = copy_workflow(root / "workflow")
    env = {**isolated_env(root / "home", workdir), "SLURM_CONF": slurm_conf}
    result = snakemake(
        workdir, "--profile", "workflow/profiles/slurm", *TEST_CONFIG,
        # the test node has no GPU and 2 CPUs (--cores caps a group job's CPUs, by running its
        # components in layers); poll soon, the jobs take seconds
        "--set-resources", "train:gpu=0", "evaluate:gpu=0", "--cores", "2",
        "--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "10",
        env=env, timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return WorkflowRun(workdir, env, result)


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
