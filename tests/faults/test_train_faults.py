"""Fault 2 on one training process: the stop signals SLURM sends before a time limit or a
preemption (SIGTERM, and the SIGUSR1 the profile asks for ahead of it), delivered for real to a
running `wganbench train`. It must checkpoint, exit 75 (EX_TEMPFAIL: requeue me) without a
status.json, and the rerun must resume and end bit-identical to a run never interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from faultkit import assert_same_training, wait_for

pytestmark = pytest.mark.slow

# checkpoint_every is far apart, so the checkpoint the rerun resumes from is the signal's own
CELL = ["--objective", "nsgan", "--arch", "mlp", "--dataset", "8gaussians", "--seed", "1", "--iterations", "1500",
        "--set", "mlp_hidden=32", "--set", "batch_size=64", "--set", "log_every=10", "--set", "checkpoint_every=1000",
        "--set", "threads=1"]
EXIT_REQUEUE = 75


def train_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "wganbench.cli", "train", *CELL, "--out", str(out)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = subprocess.run(train_command(out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def logged_rows(run: Path) -> int:
    log = run / "log.csv"
    return len(log.read_text().splitlines()) - 1 if log.exists() else 0


@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1"])
def test_stop_signal_checkpoints_exits_75_and_the_rerun_resumes_identically(name: str, tmp_path: Path,
                                                                           uninterrupted: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(train_command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: logged_rows(out) >= 5, process), "training ended before the signal"
        process.send_signal(getattr(signal, name))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == EXIT_REQUEUE, stderr
    assert not (out / "status.json").exists() and stdout == ""
    message = stderr.strip().splitlines()
    assert len(message) == 1 and name in message[0] and str(out / "checkpoint.pt") in message[0], stderr
    stopped_at = torch.load(out / "checkpoint.pt", weights_only=True)["iteration"]
    assert 50 <= stopped_at < 1500 and stopped_at % 1000 != 0  # the signal's checkpoint, not a periodic one
    assert logged_rows(out) == stopped_at // 10

    rerun = subprocess.run(train_command(out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["status"] == "completed"
    assert json.loads((out / "provenance.json").read_text())["resumed_from_iteration"] == stopped_at
    assert_same_training(out, uninterrupted)
