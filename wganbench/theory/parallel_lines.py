"""`wganbench theory parallel-lines`: the WGAN paper's example 1 and figure 1.

P0 is uniform on {0} x [0, 1] and P_theta on {theta} x [0, 1] (g_theta(z) = (theta, z)). The
supports are disjoint for theta != 0, so TV, KL and JS jump at 0 and are flat elsewhere, while
W1 = |theta| is continuous with gradient sign(theta). The closed forms sit beside estimates from
critics actually trained on samples, and beside d estimate / d theta, the signal a generator
would get: the trained WGAN critics give about sign(theta), the saturated discriminator about 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .critics import CRITICS, Critic, Sampler, torch_generator, train_critic
from .output import save_figure, single_thread, styled, write_table

LOG2 = math.log(2.0)


def _off_zero(value: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda theta: np.where(theta == 0.0, 0.0, value)


# Closed forms from the definitions (WGAN paper section 2, example 1); JS with the 1/2 weights
# (Arjovsky et al. 2017, example 1: log 2 off theta = 0, the usual half-weighted JS; the v3 text's
# definition without the 1/2 factors would give 2 log 2).
CLOSED_FORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tv": _off_zero(1.0),
    "kl": _off_zero(math.inf),  # KL(P0||P_theta) = KL(P_theta||P0)
    "js": _off_zero(LOG2),
    "w1": np.abs,
}


@dataclass(frozen=True)
class Estimator:
    """A trained estimate: the critic (a name in ``CRITICS``) whose loss's own estimate it is
    (E_P0 f - E_Ptheta f for the WGAN critics, the JS lower bound for the discriminator), and
    whether that estimate is W1 only up to the critic's unknown Lipschitz constant (clipping)."""

    critic: str
    up_to_scale: bool = False


ESTIMATORS: dict[str, Estimator] = {  # column prefix -> estimator
    "w1_gp": Estimator("critic_gp"),
    "w1_clip_raw": Estimator("critic_clip", up_to_scale=True),
    "js_discriminator": Estimator("discriminator"),
}


@dataclass(frozen=True)
class ParallelLinesConfig:
    thetas: tuple[float, ...] = (-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0)
    steps: int = 500
    batch_size: int = 64  # rows per theta and step
    hidden: int = 32
    eval_samples: int = 4096


def real_sampler(members: int) -> Sampler:
    """P0 for each of ``members`` critics: (0, z), z ~ U[0, 1]."""
    return lambda n, g: torch.stack([torch.zeros(members * n), torch.rand(members * n, generator=g)], dim=1)


def line_samples(theta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(theta_k, z_i) for every member k (one block of rows each) and every z_i."""
    return torch.stack([theta.repeat_interleave(z.numel()), z.repeat(theta.numel())], dim=1)


def estimate_and_gradient(critic: Critic, thetas: torch.Tensor, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each member's estimate at its theta and d estimate / d theta, through the fake samples."""
    theta = thetas.clone().requires_grad_(True)
    estimates = critic.estimates(line_samples(torch.zeros_like(theta), z), line_samples(theta, z))
    (grad,) = torch.autograd.grad(estimates.sum(), theta)
    return estimates.detach().numpy(), grad.numpy()


def lipschitz_constant(critic: Critic, thetas: torch.Tensor, z: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    """Each member's largest input-gradient norm on real, fake and interpolated points: the
    scale by which a weight-clipped critic's estimate exceeds W1 (it is K-Lipschitz for some K)."""
    members = thetas.numel()
    real, fake = line_samples(torch.zeros_like(thetas), z), line_samples(thetas, z)
    eps = torch.rand(real.shape[0], 1, generator=generator)
    # member k's real, fake and interpolated rows must form its block: (members, 3 n, 2)
    blocks = [x.view(members, -1, 2) for x in (real, fake, eps * real + (1.0 - eps) * fake)]
    points = torch.cat(blocks, dim=1).reshape(-1, 2).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic.scores(points).sum(), points)
    return grad.norm(dim=1).view(members, -1).amax(dim=1).numpy()


def table(cfg: ParallelLinesConfig, seed: int) -> pd.DataFrame:
    """One row per theta: closed forms, then each trained estimate and its d / d theta. All
    thetas train at once, one critic member each (see ``critics``)."""
    thetas = torch.tensor(cfg.thetas, dtype=torch.float32)
    members = thetas.numel()
    frame = pd.DataFrame({"theta": np.asarray(cfg.thetas, dtype=float)})
    for name, closed_form in CLOSED_FORMS.items():
        frame[name] = closed_form(frame["theta"].to_numpy())
    z = torch.rand(cfg.eval_samples, generator=torch_generator(seed, "parallel-lines", "eval"))
    fake = lambda n, g: line_samples(thetas, torch.rand(n, generator=g))  # noqa: E731
    for column, estimator in ESTIMATORS.items():
        spec = replace(CRITICS.get(estimator.critic), steps=cfg.steps, batch_size=cfg.batch_size, hidden=cfg.hidden)
        critic = train_critic(spec, real_sampler(members), fake, in_features=2, members=members,
                              generator=torch_generator(seed, "parallel-lines", estimator.critic))
        frame[column], frame[f"{column}_dtheta"] = estimate_and_gradient(critic, thetas, z)
        if estimator.up_to_scale:  # also report the scale, and the estimate divided by it
            stem = column.removesuffix("_raw")
            lipschitz = lipschitz_constant(critic, thetas, z, torch_generator(seed, "parallel-lines", column))
            frame[f"{stem}_lipschitz"] = lipschitz
            frame[f"{stem}_normalised"] = frame[column] / lipschitz
            frame[f"{stem}_normalised_dtheta"] = frame[f"{column}_dtheta"] / lipschitz
    return frame


@styled
def make_figure(frame: pd.DataFrame) -> Figure:
    """Closed forms, trained estimates, and their gradients in theta, side by side."""
    import matplotlib.pyplot as plt

    labels = {"w1_gp": "W1, WGAN-GP critic", "w1_clip_normalised": "W1, clipped critic ÷ its Lipschitz constant",
              "js_discriminator": "JS, GAN discriminator (lower bound)"}
    colours = dict(zip(["w1", "js", "tv"], plt.get_cmap("tab10").colors))
    colours.update(w1_gp=colours["w1"], w1_clip_normalised=plt.get_cmap("tab10").colors[4],
                   js_discriminator=colours["js"])
    markers = {"w1_gp": "o", "w1_clip_normalised": "X", "js_discriminator": "s"}
    low, high = frame["theta"].min(), frame["theta"].max()
    sides = [np.linspace(low, 0.0, 200)[:-1], np.linspace(0.0, high, 200)[1:]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
    ax = axes[0]
    for name, label in [("w1", "W1 = |θ|"), ("js", "JS (½-weighted)"), ("tv", "TV")]:
        for i, side in enumerate(sides):
            ax.plot(side, CLOSED_FORMS[name](side), color=colours[name], label=label if i == 0 else None,
                    ls="--" if name == "tv" else "-")
        if name != "w1":  # the jump: open circle for the limit, dot for the value at 0
            ax.plot([0.0], [CLOSED_FORMS[name](np.array([1.0]))[0]], "o", mfc="white", color=colours[name])
    ax.plot([0.0], [0.0], "ko", ms=4)
    ax.text(0.5, 0.98, "KL = +∞ for every θ ≠ 0 (and 0 at θ = 0)", transform=ax.transAxes, ha="center", va="top")
    ax.set(xlabel="θ", ylabel="divergence between P0 and Pθ", ylim=(-0.05, 1.2), title="Closed forms")

    for name, label in labels.items():
        axes[1].plot(frame["theta"], frame[name], marker=markers[name], color=colours[name], label=label)
        for side in (frame[frame["theta"] < 0], frame[frame["theta"] > 0]):  # not differentiable at 0
            axes[2].plot(side["theta"], side[f"{name}_dtheta"], marker=markers[name], color=colours[name])
    axes[1].plot(np.concatenate(sides), np.abs(np.concatenate(sides)), color="0.6", lw=0.8, zorder=0)
    axes[1].set(xlabel="θ", ylabel="estimate from a critic trained on samples",
                title="Estimates by trained critics (grey: |θ|)")
    axes[2].axhline(0.0, color="0.6", lw=0.8)
    axes[2].set(xlabel="θ (θ = 0 left out: not differentiable)", ylabel="d estimate / dθ through samples (θ, z)",
                title="The gradient a generator would get")
    handles = [h for ax in axes[:2] for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    fig.suptitle("Learning parallel lines (WGAN example 1): W1 is continuous with gradient ±1, "
                 "JS/TV/KL jump at θ = 0 and are flat elsewhere")
    return fig


def run(out_dir: Path, seed: int = 0, config: ParallelLinesConfig | None = None) -> list[Path]:
    """Write parallel_lines.csv and the figure."""
    cfg = config or ParallelLinesConfig()
    with single_thread():
        frame = table(cfg, seed)
    out_dir = Path(out_dir)
    return [write_table(frame, out_dir / "parallel_lines.csv"),
            *save_figure(make_figure(frame), out_dir / "parallel_lines")]
