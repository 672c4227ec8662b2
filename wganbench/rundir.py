"""The run folder: the one contract between train, evaluate and aggregate.

Every file is written atomically (temp file in the same folder, fsync, rename), so a run killed at
any moment leaves either the old or the new version of each file, never half of one. A file damaged
anyway (a full disk, a copy cut short) is a one-line ``CorruptFileError`` from its reader here, naming
the file and the command that makes it again, so train, evaluate, aggregate and figures all say the
same thing and none of them reads a wrong number out of it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import yaml

from .registry import ConfigError, one_line

LOG_FIELDS = ["iteration", "critic_loss", "generator_loss", "distance_estimate", "critic_grad_norm",
              "critic_steps", "wall_seconds"]
# a finished run is one of these; "failed" is a run the machine could not carry (out of memory)
COMPLETED, DIVERGED, FAILED = "completed", "diverged", "failed"
_UMASK = os.umask(0)
os.umask(_UMASK)


class CorruptFileError(ConfigError):
    """A run file that cannot be read; the message names the file and the command that repairs it."""


class CheckpointError(CorruptFileError):
    """A checkpoint that cannot be read; the message names the file and the way out."""


def unreadable(path: Path, exc: BaseException, repair: str) -> CorruptFileError:
    return CorruptFileError(f"{path} is unreadable ({one_line(exc, 120)}); {repair}")


def read_json_object(path: Path, repair: str) -> dict:
    """A JSON object from ``path``; anything else (truncated, binary, a list) names the repair."""
    try:
        value = read_json(path)
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise unreadable(path, exc, repair) from None
    if not isinstance(value, dict):
        raise unreadable(path, ValueError(f"JSON {type(value).__name__}, not an object"), repair)
    return value


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class RunDir:
    """Paths and readers/writers of one run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.provenance = self.path / "provenance.json"
        self.log = self.path / "log.csv"
        self.checkpoint = self.path / "checkpoint.pt"
        self.samples = self.path / "samples.npz"
        self.samples_png = self.path / "samples.png"
        self.status = self.path / "status.json"
        self.metrics = self.path / "metrics.json"
        self.snapshots = self.path / "samples"  # samples at logged iterations, for metric curves

    # config -----------------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=True))

    def read_config(self) -> dict:
        return yaml.safe_load(self.config.read_text())

    # status -----------------------------------------------------------------------------------
    def write_status(self, status: str, iterations: int, reason: str | None = None, **extra: Any) -> None:
        write_json(self.status, {"status": status, "iterations": iterations, "reason": reason, **extra})

    def read_status(self) -> dict | None:
        if not self.status.exists():
            return None
        return read_json_object(self.status, f"{self._redo(self.status)} (or `rm {self.status}` and the same "
                                             f"`wganbench train` command): training writes it again from {self.checkpoint.name}")

    @staticmethod
    def _redo(path: Path) -> str:
        """The Snakemake command that remakes ``path`` and what depends on it (a plain rerun would
        not: Snakemake does not remake a missing intermediate file when the tables exist)."""
        return f"rerun `snakemake --cores all --forcerun {path}`"

    # provenance and metrics ------------------------------------------------------------------------
    def read_provenance(self) -> dict | None:
        if not self.provenance.exists():
            return None
        return read_json_object(self.provenance, f"{self._redo(self.status)} (or `rm {self.provenance} {self.status}` "
                                                 "and the same `wganbench train` command)")

    def read_metrics(self) -> dict | None:
        """metrics.json of `wganbench evaluate`, or None before the run is evaluated."""
        if not self.metrics.exists():
            return None
        return read_json_object(self.metrics, f"{self._redo(self.metrics)} (or `wganbench evaluate {self.path}`) "
                                              "to measure the run again")

    # log --------------------------------------------------------------------------------------
    def write_log(self, rows: Iterable[dict]) -> None:
        """Rewrite the whole log (used on resume, to drop rows logged after the checkpoint)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(format_row(row) for row in rows)
        atomic_write_text(self.log, buffer.getvalue())

    def append_log(self, row: dict) -> None:
        with self.log.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=LOG_FIELDS, lineterminator="\n").writerow(format_row(row))

    # checkpoint -------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        import torch  # lazy: aggregate and figure jobs read run folders without torch

        atomic_write(self.checkpoint, lambda handle: torch.save(state, handle))

    def load_checkpoint(self) -> dict | None:
        """The latest checkpoint, or None if there is none; a corrupt file is a one-line error."""
        if not self.checkpoint.exists():
            return None
        import torch

        try:
            return torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for truncated or foreign files
            raise CheckpointError(
                f"checkpoint {self.checkpoint} is unreadable ({one_line(exc, 120)}); delete it or rerun with "
                "--restart (workflow: restart_corrupt_checkpoints: true) to train this cell from iteration 0"
            ) from None

    # samples ----------------------------------------------------------------------------------
    def write_samples(self, samples: np.ndarray, iteration: int, path: Path | None = None) -> None:
        def write(handle: io.BufferedWriter) -> None:
            np.savez(handle, samples=samples, iteration=np.int64(iteration))

        atomic_write(path or self.samples, write)

    def snapshot_path(self, iteration: int) -> Path:
        return self.snapshots / f"iter_{iteration:08d}.npz"

    def load_samples(self, path: Path | None = None) -> tuple[np.ndarray, int]:
        path = path or self.samples
        try:
            with np.load(path) as data:
                return data["samples"], int(data["iteration"])
        except Exception as exc:  # numpy/zipfile raise many types for truncated or foreign files
            if path == self.samples:
                repair = (f"{self._redo(self.samples)} (or `rm {self.samples} {self.status}` and the same `wganbench "
                          f"train` command): training redraws the samples from {self.checkpoint.name}")
            else:  # a snapshot can only come from training again
                repair = (f"`rm {self.checkpoint}` and {self._redo(self.status)} (or `wganbench train ... --restart`) "
                          "to train the cell again")
            raise unreadable(path, exc, repair) from None

    def snapshot_files(self) -> list[Path]:
        return sorted(self.snapshots.glob("iter_*.npz")) if self.snapshots.exists() else []


def format_row(row: dict) -> dict:
    """Floats in full precision (repr), so identical runs give byte-identical logs."""
    return {k: (repr(float(v)) if isinstance(v, float) else v) for k, v in row.items()}
