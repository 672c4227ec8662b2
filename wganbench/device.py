"""Which torch device a setting of auto | cpu | cuda means on this machine."""

from __future__ import annotations

import torch

from .registry import ConfigError


def pick_device(choice: str, key: str = "device") -> torch.device:
    """``auto`` takes CUDA when torch sees a GPU; asking for CUDA without one is a one-line error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key '{key}': cuda was asked for but torch sees no GPU; use 'auto' or 'cpu'")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)
