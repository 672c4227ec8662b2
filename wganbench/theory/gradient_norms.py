"""`wganbench theory gradient-norms`: WGAN-GP §3.2 and figure 1b, measured.

Deep critics (12 ReLU layers, no batch norm, as in the paper) train on the Swiss roll against a fixed
"generator", the real data plus unit Gaussian noise (the WGAN-GP toy code's FIXED_GENERATOR, as in
its figure 1a), with weight clipping at c ∈ {0.1, 0.01, 0.001} and with the gradient penalty. For each
layer the table records the norm of the critic loss's gradient with respect to that layer's weights,
averaged over the last steps. The paper: with clipping these norms vanish or explode through depth
(the clipped weights set each layer's gain); with the penalty they stay within a small range.

The objective parts (loss, clipping, penalty, optimisers) are wganbench's own, built from the same
config vocabulary as training; the settings are those of the WGAN-GP toy code (width 512, RMSProp
5e-5 for clipping, Adam(1e-4, 0.5, 0.9) and λ = 0.1 for the penalty).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..data import load_dataset
from ..objectives import Batch, build_lipschitz, build_loss, build_optimizer
from .critics import torch_generator
from .output import save_figure, single_thread, styled, write_table


@dataclass(frozen=True)
class Method:
    label: str
    lipschitz: dict
    optimizer: dict


METHODS: dict[str, Method] = {
    "clip_0.1": Method("weight clipping c = 0.1", {"clip": 0.1}, {"name": "rmsprop", "lr": 5e-5}),
    "clip_0.01": Method("weight clipping c = 0.01", {"clip": 0.01}, {"name": "rmsprop", "lr": 5e-5}),
    "clip_0.001": Method("weight clipping c = 0.001", {"clip": 0.001}, {"name": "rmsprop", "lr": 5e-5}),
    "gp": Method("gradient penalty λ = 0.1", {"gradient_penalty": {"weight": 0.1}},
                 {"name": "adam", "lr": 1e-4, "betas": (0.5, 0.9)}),
}


@dataclass(frozen=True)
class GradientNormsConfig:
    depth: int = 12  # linear layers, ReLU between them
    width: int = 512
    steps: int = 60  # clipping holds every weight at ±c from the first step; the penalty settles fast
    measured_steps: int = 20  # the last steps, over which each layer's gradient norm is averaged
    batch_size: int = 256
    noise: float = 1.0  # the fixed generator: real + noise * N(0, I)


def deep_critic(cfg: GradientNormsConfig, generator: torch.Generator) -> nn.Sequential:
    """``depth`` linear layers with ReLU between, initialised like nn.Linear but from ``generator``."""
    widths = [2] + [cfg.width] * (cfg.depth - 1) + [1]
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
        layers.append(linear)
        if i < cfg.depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def layer_gradient_norms(name: str, cfg: GradientNormsConfig, seed: int) -> np.ndarray:
    """Mean over the last ``measured_steps`` of ||d critic loss / d W_layer|| for each layer."""
    method = METHODS[name]
    generator = torch_generator(seed, "gradient-norms", name)
    data = load_dataset("swissroll")
    loss = build_loss("wasserstein")
    methods = build_lipschitz(method.lipschitz)
    net: nn.Module = deep_critic(cfg, generator)
    for lipschitz in methods:
        net = lipschitz.prepare(net)
    weights = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    optimizer = build_optimizer(method.optimizer, net.parameters())
    for lipschitz in methods:  # clipping starts from clipped weights, as after the first step
        lipschitz.after_critic_step(net)
    norms = []
    for step in range(cfg.steps):
        real = data.batch(cfg.batch_size, seed, step)
        fake = real + cfg.noise * torch.randn(real.shape, generator=generator)
        batch = Batch(real=real, fakes=[fake])
        objective, _ = loss.critic_loss(net, batch)
        grads = torch.autograd.grad(objective, weights, retain_graph=True)
        if step >= cfg.steps - cfg.measured_steps:
            norms.append([float(g.norm()) for g in grads])
        for lipschitz in methods:
            penalty = lipschitz.penalty(loss, net, batch, generator)
            if penalty is not None:
                objective = objective + penalty
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        for lipschitz in methods:
            lipschitz.after_critic_step(net)
    return np.asarray(norms).mean(axis=0)


def table(cfg: GradientNormsConfig, seed: int) -> pd.DataFrame:
    rows = []
    for name, method in METHODS.items():
        for layer, norm in enumerate(layer_gradient_norms(name, cfg, seed), start=1):
            rows.append({"method": name, "label": method.label, "layer": layer, "grad_norm": norm,
                         "log10_grad_norm": math.log10(norm) if norm > 0 else -math.inf})
    return pd.DataFrame(rows)


@styled
def make_figure(frame: pd.DataFrame) -> Figure:
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4.6), layout="constrained")
    sns.lineplot(frame, x="layer", y="log10_grad_norm", hue="label", style="label", markers=True, dashes=False, ax=ax)
    ax.set(xlabel="critic layer (1 = input side)", ylabel="log10 ‖∂ critic loss / ∂ W_layer‖",
           title="Gradient norms through a 12-layer critic on the Swiss roll (WGAN-GP fig. 1b)")
    ax.legend(title=None, fontsize=8)
    return fig


def run(out_dir: Path, seed: int = 0, config: GradientNormsConfig | None = None) -> list[Path]:
    """Write gradient_norms.csv and the figure."""
    cfg = config or GradientNormsConfig()
    with single_thread():
        frame = table(cfg, seed)
    out_dir = Path(out_dir)
    return [write_table(frame, out_dir / "gradient_norms.csv"), *save_figure(make_figure(frame), out_dir / "gradient_norms")]
