"""The GPU options (precision, channels_last, device-resident data, checks without a host sync per
step), tested on the CPU. ``compile: true`` is not tested here: one tiny run takes ~60 s of
compilation on this 2-core CPU."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import wganbench.steps as steps_module
from wganbench.config import parse_overrides, resolve_cell
from wganbench.data import load_dataset
from wganbench.divergence import Diverged, DivergenceGuard
from wganbench.resume import RESUME_INDEPENDENT
from wganbench.train import train

SMALL = ["log_every=1", "ngf=8", "ndf=8", "mlp_hidden=32", "batch_size=16", "sample_count=32", "threads=1",
         "image_size=16"]


def cell(objective: str, arch: str, dataset: str, iterations: int, sets: list[str] = ()) -> dict:
    return resolve_cell({"objective": objective, "arch": arch, "dataset": dataset, "iterations": iterations},
                        overrides=parse_overrides(SMALL + list(sets)))


def log(path: Path) -> list[dict]:
    with (path / "log.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def samples(path: Path) -> np.ndarray:
    with np.load(path / "samples.npz") as data:
        return data["samples"]


def test_bf16_runs_on_the_cpu_and_is_recorded(tmp_path: Path) -> None:
    fp32, bf16 = cell("nsgan", "dcgan", "digits", 2), cell("nsgan", "dcgan", "digits", 2, ["precision=bf16"])
    assert fp32["precision"] == "fp32"
    assert train(fp32, tmp_path / "fp32")["status"] == train(bf16, tmp_path / "bf16")["status"] == "completed"
    assert json.loads((tmp_path / "bf16" / "provenance.json").read_text())["precision"] == "bf16"
    assert json.loads((tmp_path / "fp32" / "provenance.json").read_text())["precision"] == "fp32"
    a, b = samples(tmp_path / "fp32"), samples(tmp_path / "bf16")
    assert not np.array_equal(a, b)  # it really computed in bfloat16 ...
    np.testing.assert_allclose(a, b, atol=0.1)  # ... the same model, to bfloat16's precision
    assert "precision" not in RESUME_INDEPENDENT  # a checkpoint does not resume under another precision


def test_channels_last_gives_the_same_numbers(tmp_path: Path) -> None:
    plain, last = cell("wgan-gp", "dcgan", "digits", 3), cell("wgan-gp", "dcgan", "digits", 3, ["channels_last=true"])
    train(plain, tmp_path / "plain")
    train(last, tmp_path / "last")
    for a, b in zip(log(tmp_path / "plain"), log(tmp_path / "last")):
        for key in ("critic_loss", "generator_loss", "distance_estimate", "critic_grad_norm"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(samples(tmp_path / "plain"), samples(tmp_path / "last"), atol=1e-5)
    assert {"channels_last", "compile"} <= RESUME_INDEPENDENT


def test_small_data_sets_index_on_the_device() -> None:
    digits = load_dataset("digits", image_size=16)
    on_cpu = digits.batch(8, seed=3, index=5)
    moved = digits.to(torch.device("meta"))  # a device without data: proves the batch is made there
    batch = moved.batch(8, seed=3, index=5)
    assert batch.device.type == "meta" and batch.shape == on_cpu.shape


def test_deferred_guard_names_the_first_bad_iteration() -> None:
    guard = DivergenceGuard(bound=10.0, immediate=False)
    guard.finite(0, critic_loss=torch.tensor(1.0))
    guard.bounded(1, torch.tensor(50.0))  # first problem: iteration 2
    guard.finite(2, critic_loss=torch.tensor(float("nan")))
    with pytest.raises(Diverged, match="critic output magnitude 50 exceeds divergence_bound 10 at generator "
                                       "iteration 2") as caught:
        guard.flush()
    assert caught.value.iteration == 2
    guard.flush()  # nothing left pending


def test_run_without_per_step_sync_ends_exactly_where_the_per_step_run_does(tmp_path: Path, monkeypatch) -> None:
    cfg = cell("lsgan", "mlp", "8gaussians", 30, ["optimizer.lr=1000", "divergence_bound=100", "log_every=4",
                                                  "checkpoint_every=4"])
    per_step = train(cfg, tmp_path / "per_step")
    monkeypatch.setattr(steps_module, "checks_each_step", lambda device: False)  # as on a GPU
    deferred = train(cfg, tmp_path / "deferred")
    assert per_step["status"] == "diverged" and deferred == per_step
    assert log(tmp_path / "deferred") == log(tmp_path / "per_step")
    state = torch.load(tmp_path / "deferred" / "checkpoint.pt", weights_only=True) \
        if (tmp_path / "deferred" / "checkpoint.pt").exists() else {"generator": {}, "critic": {}}
    for part in ("generator", "critic"):  # no checkpoint holds a non-finite state
        assert all(torch.isfinite(t).all() for t in state[part].values())
    assert np.isfinite(samples(tmp_path / "deferred")).all()
