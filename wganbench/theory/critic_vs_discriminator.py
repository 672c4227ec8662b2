"""`wganbench theory critic-vs-discriminator`: the WGAN paper's figure 2, measured.

Two 1-D Gaussians far apart (real to the right, fake to the left). A minimax-GAN discriminator
trained towards optimality, D = sigmoid(V), tends to the optimal D* = p / (p + q), which is flat at
0 and 1 everywhere but in a thin band between the modes: where the fake samples are, and beyond,
its input gradient vanishes. A WGAN critic (weight clipping or gradient penalty) tends to a
linear function with the same slope everywhere. The table holds values and input gradients on a
grid; the figure shows both; the tests check the gradient ratio far from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from scipy.special import expit
from scipy.stats import norm

from .critics import CRITICS, Critic, Sampler, torch_generator, train_critic, values_and_input_gradients
from .output import save_figure, single_thread, styled, write_table

Fn = Callable[[torch.Tensor], torch.Tensor]

# What each trained model contributes to the table, as a function of its raw output V, with that
# function's derivative: the discriminator's probability D = sigmoid(V) (what the WGAN paper
# plots), the critics' f = V. dD/dV = sigmoid(V) sigmoid(-V) is written with softplus so that it
# stays a (tiny) positive number where sigmoid(V) rounds to 1 and autograd's D (1 - D) gives 0.
OUTPUTS: dict[str, tuple[Fn, Fn]] = {
    "discriminator": (torch.sigmoid, lambda v: torch.exp(-F.softplus(v) - F.softplus(-v))),
    "critic_clip": (lambda v: v, torch.ones_like),
    "critic_gp": (lambda v: v, torch.ones_like),
}


@dataclass(frozen=True)
class CriticVsDiscriminatorConfig:
    real_mean: float = 2.0
    fake_mean: float = -2.0
    std: float = 0.5
    grid: tuple[float, float, int] = (-6.0, 6.0, 241)  # start, stop, points
    steps: int = 500
    batch_size: int = 128
    hidden: int = 32


def optimal_discriminator(x: np.ndarray, cfg: CriticVsDiscriminatorConfig) -> np.ndarray:
    """D*(x) = p(x) / (p(x) + q(x)) = sigmoid(log p - log q), for the table's reference column."""
    return expit(norm.logpdf(x, cfg.real_mean, cfg.std) - norm.logpdf(x, cfg.fake_mean, cfg.std))


def gaussian_sampler(mean: float, std: float) -> Sampler:
    """N(mean, std^2) in one dimension."""
    return lambda n, g: mean + std * torch.randn(n, 1, generator=g)


def trained(name: str, cfg: CriticVsDiscriminatorConfig, seed: int) -> Critic:
    """The critic ``name`` (of ``CRITICS``) trained between the two Gaussians."""
    spec = replace(CRITICS.get(name), steps=cfg.steps, batch_size=cfg.batch_size, hidden=cfg.hidden)
    return train_critic(spec, gaussian_sampler(cfg.real_mean, cfg.std), gaussian_sampler(cfg.fake_mean, cfg.std),
                        in_features=1, generator=torch_generator(seed, "critic-vs-discriminator", name))


def table(cfg: CriticVsDiscriminatorConfig, seed: int) -> pd.DataFrame:
    """Densities, the optimal discriminator, and each trained model's value and d value / dx on the grid."""
    x = np.linspace(*cfg.grid)
    frame = pd.DataFrame({"x": x, "real_density": norm.pdf(x, cfg.real_mean, cfg.std),
                          "fake_density": norm.pdf(x, cfg.fake_mean, cfg.std),
                          "discriminator_optimal": optimal_discriminator(x, cfg)})
    points = torch.tensor(x, dtype=torch.float64).view(-1, 1)
    for name, (output, derivative) in OUTPUTS.items():
        critic = trained(name, cfg, seed)
        critic.net.double()  # evaluate in float64: D is within 1e-8 of 0 or 1 over most of the grid
        raw, raw_grads = values_and_input_gradients(critic.scores, points)
        frame[name] = output(raw).numpy()
        frame[f"{name}_gradient"] = (derivative(raw) * raw_grads.view(-1)).numpy()
    return frame


def far_from_data(frame: pd.DataFrame, cfg: CriticVsDiscriminatorConfig, stds: float = 5.0) -> pd.Series:
    """Grid points at least ``stds`` standard deviations beyond the outer side of either mode."""
    low, high = sorted((cfg.real_mean, cfg.fake_mean))
    return (frame["x"] <= low - stds * cfg.std) | (frame["x"] >= high + stds * cfg.std)


@styled
def make_figure(frame: pd.DataFrame, cfg: CriticVsDiscriminatorConfig) -> Figure:
    import matplotlib.pyplot as plt
    import seaborn as sns

    labels = {"discriminator": "GAN discriminator D(x)", "critic_clip": CRITICS.get("critic_clip").label,
              "critic_gp": CRITICS.get("critic_gp").label}
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    ax = axes[0]
    scale = frame[["real_density", "fake_density"]].to_numpy().max()
    ax.fill_between(frame["x"], frame["real_density"] / scale, color="tab:green", alpha=0.2, label="real density")
    ax.fill_between(frame["x"], frame["fake_density"] / scale, color="tab:red", alpha=0.2, label="fake density")
    ax.plot(frame["x"], frame["discriminator_optimal"], "k:", label="optimal D* = p / (p + q)")
    rescaled = pd.DataFrame({"x": frame["x"]})
    for name in OUTPUTS:  # critics rescaled to [0, 1] so the shapes compare with D's
        values = frame[name]
        rescaled[labels[name]] = (values - values.min()) / (values.max() - values.min())
    long = rescaled.melt(id_vars="x", var_name="model", value_name="value (rescaled to [0, 1])")
    sns.lineplot(long, x="x", y="value (rescaled to [0, 1])", hue="model", ax=ax)
    ax.set(title="Values (each critic min–max rescaled to [0, 1])", xlabel="x")
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[1]
    grads = frame.melt(id_vars="x", value_vars=[f"{n}_gradient" for n in OUTPUTS], var_name="model",
                       value_name="gradient")
    grads["model"] = grads["model"].str.removesuffix("_gradient").map(labels)
    grads["|input gradient|"] = grads["gradient"].abs()
    sns.lineplot(grads, x="x", y="|input gradient|", hue="model", ax=ax)
    far = frame.loc[far_from_data(frame, cfg), "x"]
    for side in (far[far < 0], far[far > 0]):
        ax.axvspan(side.min(), side.max(), color="0.85", zorder=0)
    ax.set(yscale="log", xlabel="x", title="|d value / dx| (raw, log scale; grey: ≥ 5σ beyond the modes)")
    ax.legend(fontsize=8, loc="lower center")
    fig.suptitle(f"Discriminator vs critic on N({cfg.fake_mean:g}, {cfg.std:g}²) (fake) and "
                 f"N({cfg.real_mean:g}, {cfg.std:g}²) (real): the discriminator saturates, the critics stay linear")
    return fig


def run(out_dir: Path, seed: int = 0, config: CriticVsDiscriminatorConfig | None = None) -> list[Path]:
    """Write critic_vs_discriminator.csv and the figure."""
    cfg = config or CriticVsDiscriminatorConfig()
    with single_thread():
        frame = table(cfg, seed)
    out_dir = Path(out_dir)
    return [write_table(frame, out_dir / "critic_vs_discriminator.csv"),
            *save_figure(make_figure(frame, cfg), out_dir / "critic_vs_discriminator")]
