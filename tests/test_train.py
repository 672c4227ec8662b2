"""The training engine: deterministic, resumable after SIGKILL, failures recorded as data."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import log_without_wall_time, samples

from wganbench.config import parse_overrides, resolve_cell
from wganbench.registry import ConfigError
from wganbench.rundir import RunDir
from wganbench.train import train

TOY = {"objective": "wgan-gp", "arch": "mlp", "dataset": "8gaussians", "iterations": 40, "seed": 3}
TOY_SETS = ["log_every=1", "checkpoint_every=4", "mlp_hidden=64", "batch_size=64", "sample_count=256", "threads=1"]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wganbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def train_args(cell: dict, out: Path, sets: list[str]) -> list[str]:
    args = ["train", "--out", str(out)]
    for key in ("objective", "arch", "dataset", "iterations", "seed"):
        args += [f"--{key}", str(cell[key])]
    for item in sets:
        args += ["--set", item]
    return args


def test_same_cell_gives_identical_logs_and_samples(tmp_path: Path) -> None:
    cfg = resolve_cell({**TOY, "iterations": 12}, overrides=parse_overrides(TOY_SETS))
    for name in ("a", "b"):
        assert train(cfg, tmp_path / name)["status"] == "completed"
    assert (tmp_path / "a" / "log.csv").read_bytes() != b""
    assert log_without_wall_time(tmp_path / "a" / "log.csv") == log_without_wall_time(tmp_path / "b" / "log.csv")
    assert np.array_equal(samples(tmp_path / "a"), samples(tmp_path / "b"))
    assert samples(tmp_path / "a").shape == (256, 2)
    other = resolve_cell({**TOY, "iterations": 12, "seed": 4}, overrides=parse_overrides(TOY_SETS))
    train(other, tmp_path / "c")
    assert not np.array_equal(samples(tmp_path / "a"), samples(tmp_path / "c"))


def test_snapshots_hold_the_first_snapshot_count_of_the_fixed_noise(tmp_path: Path) -> None:
    sets = [*TOY_SETS, "snapshot_every=6", "snapshot_count=40"]
    cfg = resolve_cell({**TOY, "iterations": 12}, overrides=parse_overrides(sets))
    train(cfg, tmp_path)
    run = RunDir(tmp_path)
    last = np.load(run.snapshot_path(12))["samples"]
    assert last.shape == (40, 2) and np.array_equal(last, samples(tmp_path)[:40])
    assert np.load(run.snapshot_path(6))["samples"].shape == (40, 2)


def test_run_folder_records_config_provenance_and_status(tmp_path: Path) -> None:
    cfg = resolve_cell({**TOY, "iterations": 4}, overrides=parse_overrides(TOY_SETS))
    train(cfg, tmp_path)
    run = RunDir(tmp_path)
    assert run.read_config() == cfg
    record = json.loads(run.provenance.read_text())
    assert record["versions"]["torch"] == metadata.version("torch")  # e.g. 2.14.1+cu130
    assert record["versions"]["numpy"] == np.__version__ and record["versions"]["python"] == platform.python_version()
    assert record["device"] == "cpu" and record["wall_seconds"] > 0 and "end" in record and "git_commit" in record
    assert run.read_status() == {"status": "completed", "iterations": 4, "reason": None}
    assert [int(r[0]) for r in log_without_wall_time(run.log)[1:]] == [1, 2, 3, 4]
    assert run.samples_png.stat().st_size > 1000
    state = torch.load(run.checkpoint, weights_only=True)
    assert state["iteration"] == 4


def test_sigkill_at_any_point_then_rerun_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert cli(*train_args(TOY, reference, TOY_SETS)).returncode == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "wganbench.cli", *train_args(TOY, killed, TOY_SETS)]
    for kill_after_rows in (6, 23):  # once mid-interval, once after resuming
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        log = killed / "log.csv"
        while time.time() < deadline and process.poll() is None:
            if log.exists() and len(log.read_text().splitlines()) > kill_after_rows:
                break
            time.sleep(0.02)
        assert process.poll() is None, "run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert not (killed / "status.json").exists()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["status"] == "completed"
    assert np.array_equal(samples(reference), samples(killed))
    assert log_without_wall_time(reference / "log.csv") == log_without_wall_time(killed / "log.csv")
    provenance = json.loads((killed / "provenance.json").read_text())
    assert provenance["resumed_from_iteration"] > 0


def test_divergence_is_a_result_not_a_crash(tmp_path: Path) -> None:
    result = cli(*train_args({**TOY, "objective": "lsgan", "iterations": 30}, tmp_path,
                             TOY_SETS + ["optimizer.lr=1000", "divergence_bound=100"]))
    assert result.returncode == 0, result.stderr
    run = RunDir(tmp_path)
    status = run.read_status()
    assert status["status"] == "diverged" and status["iterations"] < 30
    assert "at generator iteration" in status["reason"]
    assert len(log_without_wall_time(run.log)) - 1 == status["iterations"]  # logs up to that point kept
    assert run.samples.exists() and run.samples_png.exists()


def test_corrupt_checkpoint_names_the_file_and_restart_recovers(tmp_path: Path) -> None:
    cfg = resolve_cell({**TOY, "iterations": 4}, overrides=parse_overrides(TOY_SETS))
    train(cfg, tmp_path)
    (tmp_path / "status.json").unlink()
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = cli(*train_args({**TOY, "iterations": 4}, tmp_path, TOY_SETS))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"checkpoint {tmp_path / 'checkpoint.pt'} is unreadable" in result.stderr and "--restart" in result.stderr
    result = cli(*train_args({**TOY, "iterations": 4}, tmp_path, TOY_SETS), "--restart")
    assert result.returncode == 0 and RunDir(tmp_path).read_status()["status"] == "completed"


def test_resuming_with_a_different_config_is_refused(tmp_path: Path) -> None:
    cfg = resolve_cell({**TOY, "iterations": 4}, overrides=parse_overrides(TOY_SETS))
    train(cfg, tmp_path)
    changed = resolve_cell({**TOY, "iterations": 8}, overrides=parse_overrides(TOY_SETS + ["optimizer.lr=0.01"]))
    with pytest.raises(ConfigError, match=r"config key 'optimizer'.*--restart"):
        train(changed, tmp_path)
    longer = resolve_cell({**TOY, "iterations": 8}, overrides=parse_overrides(TOY_SETS))
    assert train(longer, tmp_path)["iterations"] == 8  # extending a finished run continues it


OBJECTIVES = yaml.safe_load((Path(__file__).parents[1] / "wganbench" / "objectives" / "builtin.yaml").read_text())
SMALL = ["ngf=8", "ndf=8", "mlp_hidden=32", "batch_size=8", "sample_count=16", "log_every=1", "threads=1"]


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("arch", ["dcgan", "dcgan-nobn", "mlp", "standard-cnn"])
def test_every_objective_trains_on_digits(tmp_path: Path, arch: str, size: int) -> None:
    for objective in OBJECTIVES:
        cfg = resolve_cell({"objective": objective, "arch": arch, "dataset": "digits", "iterations": 2},
                           overrides=parse_overrides(SMALL + [f"image_size={size}"]))
        status = train(cfg, tmp_path / objective)
        assert status["status"] == "completed", (objective, status)
        assert samples(tmp_path / objective).shape == (16, 1, size, size)


@pytest.mark.parametrize("dataset", ["8gaussians", "25gaussians", "swissroll"])
def test_every_objective_trains_on_toy_data(tmp_path: Path, dataset: str) -> None:
    for objective in OBJECTIVES:
        cfg = resolve_cell({"objective": objective, "arch": "mlp", "dataset": dataset, "iterations": 2},
                           overrides=parse_overrides(SMALL + ["batch_size=32"]))
        status = train(cfg, tmp_path / objective)
        assert status["status"] == "completed", (objective, status)
        assert np.isfinite(samples(tmp_path / objective)).all()


def test_a_resolved_cell_file_trains_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`wganbench train --cell` trains a run folder's config.yaml (what the workflow writes to
    results/cells/) without resolving it again: the same numbers as the run it came from."""
    from wganbench.cli import main

    cfg = resolve_cell({**TOY, "iterations": 6}, overrides=parse_overrides(TOY_SETS))
    train(cfg, tmp_path / "first")
    cell = tmp_path / "first" / "config.yaml"
    assert main(["train", "--cell", str(cell), "--threads", "1", "--out", str(tmp_path / "again")]) == 0
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text()) == cfg
    assert log_without_wall_time(tmp_path / "again" / "log.csv") == log_without_wall_time(tmp_path / "first" / "log.csv")
    # a value resolution would never give stays as the file says: the file is not resolved again
    odd = {**cfg, "critic_norm": "layer", "nz": 3, "seed": 5}
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump(odd))
    other = {**cfg, "critic_norm": "layer", "nz": 3, "seed": 6}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    capsys.readouterr()
    out = str(tmp_path / "pair" / "seed{seed}")
    assert main(["train", "--cell", str(tmp_path / "odd.yaml"), "--cell", str(tmp_path / "other.yaml"), "--out", out]) == 0
    for seed in (5, 6):
        run = tmp_path / "pair" / f"seed{seed}"
        assert yaml.safe_load((run / "config.yaml").read_text())["nz"] == 3
        assert json.loads((run / "provenance.json").read_text())["ensemble"]["seeds"] == [5, 6]


@pytest.mark.parametrize("change, message", [
    (lambda cell: cell.pop("lipschitz"), r"--cell \S+/cell.yaml: config key 'lipschitz' is missing: not a resolved cell"),
    (lambda cell: cell.update(n_critic=0), r"--cell \S+/cell.yaml: config key 'n_critic': 0 is less than the minimum of 1"),
    (lambda cell: cell.update(loss="nowhere:Loss"), r"--cell \S+/cell.yaml: config key 'loss': cannot import module 'nowhere'"),
])
def test_a_bad_cell_file_is_refused_in_one_line(tmp_path: Path, change, message: str) -> None:
    from wganbench.config import load_cells

    cell = resolve_cell({**TOY, "iterations": 2}, overrides=parse_overrides(TOY_SETS))
    change(cell)
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump(cell))
    with pytest.raises(ConfigError, match=message):
        load_cells([tmp_path / "cell.yaml"])


def test_cells_of_one_process_differ_in_their_seed_only(tmp_path: Path) -> None:
    from wganbench.config import load_cells

    cell = resolve_cell({**TOY, "iterations": 2}, overrides=parse_overrides(TOY_SETS))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cell))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({**cell, "seed": 9, "mlp_hidden": 16}))
    with pytest.raises(ConfigError, match=r"b.yaml: differs from the first cell in mlp_hidden; cells trained"):
        load_cells([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    with pytest.raises(ConfigError, match=r"--cell \S+/c.yaml: no such file"):
        load_cells([tmp_path / "c.yaml"])
