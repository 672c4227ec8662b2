"""The run's samples.png: an image grid, or a scatter of 2-D samples over the real data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .rundir import atomic_write


def image_grid_png(samples: np.ndarray, path: Path, count: int = 64) -> None:
    from torchvision.utils import make_grid, save_image

    if len(samples) == 0:  # a failed run drew none: one black tile keeps the file the workflow expects
        samples = -np.ones((1, *samples.shape[1:]), dtype=np.float32)
    images = torch.nan_to_num(torch.as_tensor(samples[:count]), nan=0.0).clamp(-1.0, 1.0)
    grid = make_grid((images + 1.0) / 2.0, nrow=int(np.ceil(np.sqrt(len(images)))), padding=1)
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def scatter_png(samples: np.ndarray, real: np.ndarray, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:orange", alpha=0.4, label="real")
    finite = samples[np.isfinite(samples).all(axis=1)]
    ax.scatter(finite[:, 0], finite[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
    ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), aspect="equal", title=title)
    ax.legend(loc="upper right", markerscale=4, fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
