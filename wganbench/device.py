"""Which torch device a setting of auto | cpu | cuda means on this machine, and the cell's
pure-performance settings on it (precision, memory format, compilation)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import ConfigError


def pick_device(choice: str, key: str = "device") -> torch.device:
    """``auto`` takes CUDA when torch sees a GPU; asking for CUDA without one is a one-line error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key '{key}': cuda was asked for but torch sees no GPU; use 'auto' or 'cpu'")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The forward passes' precision: ``bf16`` autocasts them (matmuls and convolutions in bfloat16,
    reductions in float32); ``fp32``, the default for fidelity to the papers, is a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def prepare_model(module: nn.Module, cfg: dict) -> nn.Module:
    """What the training loop calls: ``module`` itself, converted in place to channels-last memory
    (image models; a layout, the same numbers up to reassociation) and optionally wrapped by
    torch.compile. The wrapper shares the module's parameters, so state dicts stay the module's."""
    if cfg.get("channels_last") and any(p.dim() == 4 for p in module.parameters()):
        module.to(memory_format=torch.channels_last)
    return torch.compile(module) if cfg.get("compile") else module


def to_device(batch: torch.Tensor, device: torch.device, cfg: dict) -> torch.Tensor:
    """A data batch on the device (non-blocking where the data set is not on it already), in the
    models' memory format."""
    batch = batch.to(device, non_blocking=True)
    if cfg.get("channels_last") and batch.dim() == 4:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch
