"""Where a run starts: from scratch, from its checkpoint, or not at all (it is finished, or it
diverged and would diverge again, deterministically). A corrupt checkpoint or one written under
another config is a one-line error naming the file, unless the caller asked to start over.
"""

from __future__ import annotations

import sys

import torch

from . import provenance
from .registry import ConfigError
from .rundir import DIVERGED, CheckpointError, RunDir, write_json

# keys that do not change what a run computes: a checkpoint written under other values resumes
RESUME_INDEPENDENT = frozenset({"iterations", "checkpoint_every", "device", "threads", "workers", "channels_last",
                                "compile", "ensemble_method", "data_cache"})


def resume_point(run: RunDir, cfg: dict, restart: bool, restart_if_changed: bool,
                 restart_if_corrupt: bool) -> tuple[dict | None, dict | None]:
    """(checkpoint state to resume from or None, the status to return at once or None)."""
    state = None
    if not restart:
        state, restart = load_usable_checkpoint(run, cfg, restart_if_changed, restart_if_corrupt)
    finished = None if restart else run.read_status()
    if finished and state is not None and state["iteration"] >= cfg["iterations"]:
        return state, finished
    if finished and finished["status"] == DIVERGED:
        return state, finished
    return state, None


def load_usable_checkpoint(run: RunDir, cfg: dict, restart_if_changed: bool,
                           restart_if_corrupt: bool) -> tuple[dict | None, bool]:
    """(checkpoint state or None, whether to start over)."""
    try:
        state = run.load_checkpoint()
    except CheckpointError as exc:
        if not restart_if_corrupt:
            raise
        print(f"wganbench: {exc}; starting over (--restart-if-corrupt)", file=sys.stderr)
        return None, True
    if state is None:
        return None, False
    try:
        check_resumable(state["config"], cfg, run)
    except ConfigError as exc:
        if not restart_if_changed:
            raise
        print(f"wganbench: {str(exc).split(';')[0]}; starting over (--restart-if-changed)", file=sys.stderr)
        return None, True
    return state, False


def check_resumable(saved: dict, cfg: dict, run: RunDir) -> None:
    for key in sorted(set(saved) | set(cfg)):
        if key not in RESUME_INDEPENDENT and saved.get(key) != cfg.get(key):
            raise ConfigError(
                f"config key '{key}': {run.checkpoint} was written with {saved.get(key)!r}, not "
                f"{cfg.get(key)!r}; use another --out or --restart to train from iteration 0")


def start_run_folder(run: RunDir, cfg: dict, device: torch.device, iteration: int, log_rows: list,
                     ensemble: dict | None = None) -> dict:
    """Config, provenance and the log as of ``iteration`` (rows logged after the checkpoint are
    dropped), and no status until the run ends; returns the provenance record."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(cfg)
    run.status.unlink(missing_ok=True)
    record = {"versions": provenance.versions(), "git_commit": provenance.git_commit(),
              **provenance.device_description(device), "start": provenance.now(),
              "resumed_from_iteration": iteration, "precision": cfg["precision"]}
    if ensemble is not None:
        record["ensemble"] = ensemble
    write_json(run.provenance, record)
    run.write_log(log_rows)
    return record
