"""What a run records about where and with what it ran."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "torch-fidelity", "POT",
            "snakemake", "wganbench")


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the wganbench checkout (suffixed "-dirty" with local changes), if any."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _built_with(pattern: str) -> str | None:
    found = re.search(pattern, torch.__config__.show())
    return found.group(1) if found else None


def numerics() -> dict:
    """What decides a CPU run's floating-point results beyond its config and seed: the CPU, the
    kernels torch dispatches to (its CPU capability, overridable with ATEN_CPU_CAPABILITY), the MKL
    and oneDNN builds, the instruction sets MKL and oneDNN are held to (MKL_CBWR,
    ONEDNN_MAX_CPU_ISA), and the thread count. Two machines that agree
    on all of these give bit-identical runs; otherwise runs agree within the tolerance of
    tests/test_golden_runs.py."""
    return {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "mkl": _built_with(r"Math Kernel Library Version ([0-9.]+)"),
            "onednn": _built_with(r"MKL-DNN v([0-9.]+)"), "mkl_cbwr": os.environ.get("MKL_CBWR"),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "threads": torch.get_num_threads()}


def device_description(device: torch.device) -> dict:
    info = {"device": str(device), "platform": platform.platform(), "host": socket.gethostname(),
            "cpu_threads": torch.get_num_threads(), "numerics": numerics()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
