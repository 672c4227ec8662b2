"""Several seeds in one process (wganbench/train.py with wganbench/steps.py): each member equals its separate run up to
floating-point reassociation, writes the single-run folder, resumes, and diverges alone."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from wganbench.config import parse_overrides, resolve_cell
from wganbench.train import member_folders, train_seeds
from wganbench.registry import ConfigError
from wganbench.rundir import RunDir
from wganbench.train import train

SMALL = ["log_every=1", "checkpoint_every=2", "mlp_hidden=32", "ngf=8", "ndf=8", "batch_size=16",
         "sample_count=32", "threads=1", "image_size=16", "critic_warmup=null",
         "ensemble_method=vmap"]  # auto would train seeds one after another on this CPU
SEEDS = [0, 1]
LOGGED = ["critic_loss", "generator_loss", "distance_estimate", "critic_grad_norm"]


def cell(objective: str, arch: str = "mlp", dataset: str = "8gaussians", iterations: int = 4,
         sets: list[str] | None = None) -> dict:
    return resolve_cell({"objective": objective, "arch": arch, "dataset": dataset, "iterations": iterations},
                        overrides=parse_overrides(SMALL + (sets or [])))


def log(path: Path) -> list[dict]:
    with (path / "log.csv").open() as handle:
        return list(csv.DictReader(handle))


def samples(path: Path) -> np.ndarray:
    with np.load(path / "samples.npz") as data:
        return data["samples"]


def assert_close_runs(a: Path, b: Path) -> None:
    rows_a, rows_b = log(a), log(b)
    assert [r["iteration"] for r in rows_a] == [r["iteration"] for r in rows_b] and rows_a
    for ra, rb in zip(rows_a, rows_b):
        assert ra["critic_steps"] == rb["critic_steps"]
        for key in LOGGED:
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=1e-4, abs=1e-6), (key, ra["iteration"])
    np.testing.assert_allclose(samples(a), samples(b), rtol=1e-4, atol=1e-5)
    state_a = torch.load(a / "checkpoint.pt", weights_only=True)
    state_b = torch.load(b / "checkpoint.pt", weights_only=True)
    for part in ("generator", "critic"):  # batch-norm statistics and power-iteration vectors included
        assert state_a[part].keys() == state_b[part].keys()
        for key in state_a[part]:
            torch.testing.assert_close(state_a[part][key], state_b[part][key], rtol=1e-4, atol=1e-5)
    assert RunDir(a).read_status() == RunDir(b).read_status()


CASES = [("wgan", "mlp", "8gaussians"), ("wgan-gp", "mlp", "8gaussians"), ("nsgan", "mlp", "8gaussians"),
         ("sngan", "mlp", "8gaussians"), ("cramer", "mlp", "8gaussians"), ("f-kl", "mlp", "8gaussians"),
         ("nsgan", "dcgan", "digits"), ("wgan", "dcgan-nobn", "digits")]


@pytest.mark.parametrize(("objective", "arch", "dataset"), CASES)
def test_members_equal_separate_runs(tmp_path: Path, objective: str, arch: str, dataset: str) -> None:
    cfg = cell(objective, arch, dataset, iterations=3)
    statuses = train_seeds(cfg, SEEDS, str(tmp_path / "ensemble" / "seed{seed}"))
    assert [s["status"] for s in statuses] == ["completed", "completed"]
    for seed in SEEDS:
        train({**cfg, "seed": seed}, tmp_path / "single" / f"seed{seed}")
        assert_close_runs(tmp_path / "ensemble" / f"seed{seed}", tmp_path / "single" / f"seed{seed}")
    assert not np.allclose(samples(tmp_path / "ensemble" / "seed0"), samples(tmp_path / "ensemble" / "seed1"))


def test_member_folder_is_a_single_run_folder_that_resumes_alone(tmp_path: Path) -> None:
    cfg = cell("wgan-gp", iterations=4)
    train_seeds(cfg, SEEDS, str(tmp_path / "ens{seed}"))
    train({**cfg, "seed": 1}, tmp_path / "single")
    names = lambda path: sorted(p.name for p in path.iterdir())  # noqa: E731
    assert names(tmp_path / "ens1") == names(tmp_path / "single")
    member = RunDir(tmp_path / "ens1")
    assert member.read_config() == {**cfg, "seed": 1}
    record = json.loads(member.provenance.read_text())
    assert record["ensemble"] == {"seeds": SEEDS, "members": 2, "method": "vmap"}
    ours, theirs = (torch.load(p / "checkpoint.pt", weights_only=True) for p in (tmp_path / "ens1", tmp_path / "single"))
    assert ours.keys() == theirs.keys()
    for part in ("opt_generator", "opt_critic"):
        assert ours[part]["param_groups"] == theirs[part]["param_groups"]
        assert ours[part]["state"].keys() == theirs[part]["state"].keys()
    # the member goes on alone with train(), as a separate 6-iteration run would have
    assert train({**cfg, "seed": 1, "iterations": 6}, tmp_path / "ens1")["iterations"] == 6
    train({**cfg, "seed": 1, "iterations": 6}, tmp_path / "single6")
    assert_close_runs(tmp_path / "ens1", tmp_path / "single6")


def test_ensemble_is_deterministic(tmp_path: Path) -> None:
    cfg = cell("nsgan", "dcgan", "digits", iterations=3)
    for name in ("a", "b"):
        train_seeds(cfg, SEEDS, str(tmp_path / name / "seed{seed}"))
    for seed in SEEDS:
        a, b = tmp_path / "a" / f"seed{seed}", tmp_path / "b" / f"seed{seed}"
        assert [{k: r[k] for k in LOGGED} for r in log(a)] == [{k: r[k] for k in LOGGED} for r in log(b)]
        assert np.array_equal(samples(a), samples(b))


def test_a_member_with_non_finite_weights_diverges_alone(tmp_path: Path) -> None:
    cfg = cell("wgan-gp", iterations=2)
    train_seeds(cfg, SEEDS, str(tmp_path / "seed{seed}"))
    poisoned = tmp_path / "seed0" / "checkpoint.pt"
    state = torch.load(poisoned, weights_only=True)
    name = next(k for k in state["critic"] if k.endswith("weight"))
    state["critic"][name][0, 0] = float("nan")
    torch.save(state, poisoned)
    statuses = train_seeds({**cfg, "iterations": 4}, SEEDS, str(tmp_path / "seed{seed}"))
    assert statuses[0]["status"] == "diverged" and statuses[0]["iterations"] == 2
    assert statuses[0]["reason"] == "critic_loss is nan at generator iteration 3"
    assert [int(r["iteration"]) for r in log(tmp_path / "seed0")] == [1, 2]
    assert statuses[1] == {"status": "completed", "iterations": 4, "reason": None}
    train({**cfg, "seed": 1, "iterations": 4}, tmp_path / "single")
    assert_close_runs(tmp_path / "seed1", tmp_path / "single")
    assert np.isfinite(samples(tmp_path / "seed1")).all()


def test_divergence_matches_separate_runs(tmp_path: Path) -> None:
    cfg = cell("lsgan", iterations=30, sets=["optimizer.lr=1000", "divergence_bound=100"])
    statuses = train_seeds(cfg, [3, 4], str(tmp_path / "seed{seed}"))
    for seed, status in zip([3, 4], statuses):
        assert status == train({**cfg, "seed": seed}, tmp_path / f"single{seed}")
        assert status["status"] == "diverged"


UNSAFE_LOSS = """
from wganbench.objectives.losses import WassersteinLoss

class MyLoss(WassersteinLoss):
    pass  # inherits a built-in, but does not itself say it is safe inside vmap
"""


def test_a_loss_that_does_not_declare_it_trains_members_one_after_another(tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    (tmp_path / "user_losses_ens.py").write_text(textwrap.dedent(UNSAFE_LOSS))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = cell("wgan-gp", iterations=2, sets=["loss=user_losses_ens:MyLoss"])
    statuses = train_seeds(cfg, SEEDS, str(tmp_path / "seed{seed}"))
    assert [s["status"] for s in statuses] == ["completed", "completed"]
    assert "one after another" in capsys.readouterr().err
    record = json.loads((tmp_path / "seed0" / "provenance.json").read_text())["ensemble"]
    assert record["method"] == "sequential" and "MyLoss" in record["reason"]
    train({**cfg, "seed": 0}, tmp_path / "single")
    assert log(tmp_path / "seed0")[-1]["critic_loss"] == log(tmp_path / "single")[-1]["critic_loss"]


def test_output_pattern_errors_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"--out .*'\{seed\}'"):
        member_folders("results/runs/x", [0, 1])
    with pytest.raises(ConfigError, match="twice"):
        member_folders("x/{seed}", [0, 0])
    assert member_folders("x/seed{seed}", [2, 5]) == [Path("x/seed2"), Path("x/seed5")]


def ensemble_command(out: Path) -> list[str]:
    args = ["train", "--objective", "wgan-gp", "--arch", "mlp", "--dataset", "8gaussians", "--iterations", "40",
            "--seeds", "0,1", "--out", str(out / "seed{seed}")]
    for item in SMALL[:1] + ["checkpoint_every=4", "mlp_hidden=64", "batch_size=64", "sample_count=64", "threads=1",
                                      "ensemble_method=vmap"]:
        args += ["--set", item]
    return [sys.executable, "-m", "wganbench.cli", *args]


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    reference = subprocess.run(ensemble_command(tmp_path / "reference"), capture_output=True, text=True, timeout=300, check=False)
    assert reference.returncode == 0, reference.stderr
    killed = tmp_path / "killed"
    process = subprocess.Popen(ensemble_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_file, deadline = killed / "seed1" / "log.csv", time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if log_file.exists() and len(log_file.read_text().splitlines()) > 10:
            break
        time.sleep(0.02)
    assert process.poll() is None, "run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    result = subprocess.run(ensemble_command(killed), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for seed in (0, 1):
        a, b = tmp_path / "reference" / f"seed{seed}", killed / f"seed{seed}"
        assert [{k: r[k] for k in LOGGED} for r in log(a)] == [{k: r[k] for k in LOGGED} for r in log(b)]
        assert np.array_equal(samples(a), samples(b))
        assert json.loads((b / "provenance.json").read_text())["resumed_from_iteration"] > 0


def test_auto_method_trains_members_one_after_another_on_the_cpu_bit_identical_to_separate_runs(
        tmp_path: Path) -> None:
    cfg = cell("wgan-gp", iterations=3, sets=["ensemble_method=auto"])
    statuses = train_seeds(cfg, SEEDS, str(tmp_path / "seed{seed}"))
    assert [s["status"] for s in statuses] == ["completed", "completed"]
    record = json.loads((tmp_path / "seed1" / "provenance.json").read_text())["ensemble"]
    assert record["method"] == "sequential" and "ensemble_method: auto on the CPU" in record["reason"]
    train({**cfg, "seed": 1}, tmp_path / "single")
    for name in LOGGED:
        assert [row[name] for row in log(tmp_path / "seed1")] == [row[name] for row in log(tmp_path / "single")]


def test_relativistic_loss_with_r1_and_r2_members_equal_separate_runs(tmp_path: Path) -> None:
    """R3GAN's composition (RpGAN + R1 + R2) runs inside vmap: the penalties' functional path."""
    grid = {"objectives": {"rp-r1r2": {"loss": "relativistic_pairing", "lipschitz": {"r1": 1.0, "r2": 1.0},
                                       "optimizer": {"name": "adam", "lr": 2.0e-4, "betas": [0.5, 0.99]},
                                       "n_critic": 1}}}
    cfg = resolve_cell({"objective": "rp-r1r2", "arch": "mlp", "dataset": "8gaussians", "iterations": 3}, grid,
                       overrides=parse_overrides(SMALL))
    statuses = train_seeds(cfg, SEEDS, str(tmp_path / "ensemble" / "seed{seed}"))
    assert [s["status"] for s in statuses] == ["completed", "completed"]
    assert json.loads((tmp_path / "ensemble" / "seed0" / "provenance.json").read_text())["ensemble"]["method"] == "vmap"
    for seed in SEEDS:
        train({**cfg, "seed": seed}, tmp_path / "single" / f"seed{seed}")
        assert_close_runs(tmp_path / "ensemble" / f"seed{seed}", tmp_path / "single" / f"seed{seed}")
