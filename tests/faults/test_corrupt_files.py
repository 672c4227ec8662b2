"""Fault 3: a truncated, emptied or overwritten checkpoint.pt, samples.npz, status.json or
metrics.json. Each reader (`wganbench train`, `evaluate`, `aggregate`, and Snakemake through their
job logs) stops with one line that names the file and the command that repairs it, and following
that command gives back the result of the undamaged run; or, for checkpoints and when the config
says so, the cell starts over by itself. Never a table with a gap or a wrong number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import yaml

from wganbench.cli import main

from faultkit import GRID, assert_same_training, assert_tables_equal, new_workflow

pytestmark = pytest.mark.slow

CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "overwritten": lambda data: b"\x00not what was written\xff" * 8,
}
TRAIN = ["train", "--objective", "nsgan", "--arch", "mlp", "--dataset", "8gaussians", "--seed", "0",
         "--iterations", "40", "--set", "mlp_hidden=32", "--set", "batch_size=64", "--set", "log_every=10",
         "--set", "checkpoint_every=10", "--set", "threads=1"]
EVALUATE = ["--set", "curves=false", "--set", "device=cpu"]
AGGREGATE = ["--resamples", "100"]


def corrupt(path: Path, how: str) -> None:
    path.write_bytes(CORRUPTIONS[how](path.read_bytes()))


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Exit code and stderr of `wganbench ARGS`, run in this process."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained and evaluated run folder, under runs/<experiment>/... as aggregate expects."""
    run = tmp_path_factory.mktemp("finished") / "runs" / "toy" / "8gaussians" / "nsgan" / "mlp" / "seed0"
    assert main([*TRAIN, "--out", str(run)]) == 0
    assert main(["evaluate", str(run), *EVALUATE]) == 0
    return run


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run, to damage."""
    copy = tmp_path / "runs" / "toy" / "8gaussians" / "nsgan" / "mlp" / "seed0"
    shutil.copytree(finished, copy)
    return copy


def aggregate(capsys: pytest.CaptureFixture, run: Path) -> tuple[int, str]:
    runs_root = run.parents[4]
    return cli(capsys, "aggregate", str(run), "--runs-root", str(runs_root), "--out", str(runs_root.parent / "tables"),
               *AGGREGATE)


# --- the CLI -------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_checkpoint_stops_train_or_starts_over(how: str, run: Path, finished: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    (run / "status.json").unlink()  # a run stopped mid-training, whose checkpoint then got damaged
    corrupt(run / "checkpoint.pt", how)
    code, err = cli(capsys, *TRAIN, "--out", str(run))
    assert code == 2
    assert_one_line(err, f"checkpoint {run / 'checkpoint.pt'} is unreadable", "--restart")
    assert not (run / "status.json").exists()
    code, err = cli(capsys, *TRAIN, "--out", str(run), "--restart-if-corrupt")
    assert code == 0, err
    assert_same_training(run, finished)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_samples_stop_evaluate_and_the_named_repair_restores_them(how: str, run: Path, finished: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    corrupt(run / "samples.npz", how)
    metrics_before = (run / "metrics.json").read_bytes()
    code, err = cli(capsys, "evaluate", str(run), *EVALUATE)
    assert code == 2
    assert_one_line(err, f"{run / 'samples.npz'} is unreadable", f"--forcerun {run / 'samples.npz'}",
                    f"rm {run / 'samples.npz'} {run / 'status.json'}")
    assert (run / "metrics.json").read_bytes() == metrics_before  # a failed evaluation keeps the old file
    (run / "samples.npz").unlink()  # the repair the message names: training redraws them from its checkpoint
    (run / "status.json").unlink()
    assert cli(capsys, *TRAIN, "--out", str(run))[0] == 0
    assert json.loads((run / "provenance.json").read_text())["resumed_from_iteration"] == 40
    assert_same_training(run, finished)
    assert cli(capsys, "evaluate", str(run), *EVALUATE)[0] == 0
    assert json.loads((run / "metrics.json").read_text())["w1"] == json.loads((finished / "metrics.json").read_text())["w1"]


@pytest.mark.parametrize("name", ["metrics.json", "status.json"])
@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_corrupt_metrics_or_status_stop_aggregate_and_keep_the_tables(name: str, how: str, run: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    assert aggregate(capsys, run)[0] == 0
    tables = run.parents[5] / "tables"
    before = {path.name: path.read_bytes() for path in tables.iterdir()}
    corrupt(run / name, how)
    code, err = aggregate(capsys, run)
    assert code == 2
    assert_one_line(err, f"{run / name} is unreadable", f"--forcerun {run / name}")
    assert {path.name: path.read_bytes() for path in tables.iterdir()} == before  # nothing half-written
    (run / name).unlink()  # the repair the message names without snakemake: make the file again
    redo = ["evaluate", str(run), *EVALUATE] if name == "metrics.json" else [*TRAIN, "--out", str(run)]
    assert cli(capsys, *redo)[0] == 0
    assert aggregate(capsys, run)[0] == 0
    after = pd.read_csv(tables / "runs.csv").drop(columns=["train_seconds"])
    pd.testing.assert_frame_equal(after, pd.read_csv(pd.io.common.BytesIO(before["runs.csv"])).drop(columns=["train_seconds"]))


def test_metrics_of_another_state_of_the_run_are_refused(run: Path, capsys: pytest.CaptureFixture) -> None:
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "diverged", "reason": "retrained, diverged"}))
    code, err = aggregate(capsys, run)
    assert code == 2
    assert_one_line(err, f"{run / 'metrics.json'} measured a run with status 'completed'", f"--forcerun {run / 'metrics.json'}")


# --- through Snakemake ---------------------------------------------------------------------------

def test_snakemake_job_logs_name_the_damaged_file_and_restart_corrupt_checkpoints_recovers(tmp_path: Path) -> None:
    grid = yaml.safe_load(GRID.read_text())
    grid["experiments"] = {"quick": grid["experiments"]["quick"]}
    workflow = new_workflow(tmp_path, yaml.safe_dump(grid))
    target = ["--cores", "2", "results/tables/runs.csv"]
    assert workflow.run(*target).returncode == 0
    original = tmp_path / "original"
    shutil.copytree(workflow.results / "tables", original / "tables")
    run = workflow.run_dir("quick", "nsgan", 0)
    logs = workflow.results / "logs"

    metrics, samples = (path.relative_to(workflow.workdir) for path in (run / "metrics.json", run / "samples.npz"))
    corrupt(run / "metrics.json", "truncated")
    assert workflow.run(*target).returncode != 0
    assert_one_line((logs / "aggregate.log").read_text(), f"{metrics} is unreadable", f"--forcerun {metrics}")
    assert workflow.run(*target, "--forcerun", str(metrics)).returncode == 0  # the command it names
    assert_tables_equal(workflow.results, original)

    corrupt(run / "samples.npz", "truncated")
    assert workflow.run(*target).returncode != 0
    assert_one_line((logs / "evaluate/quick/8gaussians/nsgan/mlp/seed0.log").read_text(),
                    f"{samples} is unreadable", f"--forcerun {samples}")
    corrupt(run / "checkpoint.pt", "truncated")  # and the checkpoint the named repair redraws them from
    assert workflow.run(*target, "--forcerun", str(samples)).returncode != 0
    assert_one_line((logs / "train/quick/8gaussians/nsgan/mlp/seed0.log").read_text(),
                    "checkpoint.pt is unreadable", "restart_corrupt_checkpoints: true")
    with (workflow.workdir / "grid.yaml").open("a") as grid_file:  # what the message suggests
        grid_file.write("restart_corrupt_checkpoints: true\n")
    result = workflow.run(*target, "--forcerun", str(samples))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert json.loads((run / "provenance.json").read_text())["resumed_from_iteration"] == 0
    assert_tables_equal(workflow.results, original)
