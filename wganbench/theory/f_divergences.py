"""`wganbench theory f-divergences`: f-GAN's variational bound, estimated, against quadrature.

For each f-divergence wganbench trains with, a small critic V maximises the training loss's own
bound E_P[g_f(V)] - E_Q[f*(g_f(V))] <= D_f(P||Q) (``FDivergenceLoss`` with the activation and
fused conjugate of ``objectives/fdivergences.py``), between two Gaussians close enough that every
divergence, Pearson chi^2 included, is finite and estimable. The maximised bound should reach the
quadrature value of D_f = ∫ q f(p/q). A second, training-free check evaluates the bound at the
known optimum T* = f'(p/q) by quadrature, which equals D_f exactly iff f* is f's conjugate. So
the table tests the f, the f*, the activation and the fused conjugate of each row the losses use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ..objectives.fdivergences import F_DIVERGENCES, FDivergence
from .critics import Critic, CriticSpec, torch_generator, train_critic
from .gaussians import Gaussian, f_divergence_numerical, quad
from .output import save_figure, single_thread, styled, write_table

# What D_f means with the table's generators f (see objectives/fdivergences.py).
MEANING = {"kl": "KL(P‖Q)", "reverse_kl": "KL(Q‖P)", "pearson": "Pearson χ²(P‖Q)",
           "hellinger": "∫(√p − √q)² (squared Hellinger)", "js": "2·JS (½-weighted JS)",
           "gan": "2·JS − log 4", "total_variation": "TV"}


@dataclass(frozen=True)
class FDivergencesConfig:
    divergences: tuple[str, ...] = ("kl", "reverse_kl", "pearson", "hellinger", "js")
    p: Gaussian = Gaussian(0.0, 1.0)
    q: Gaussian = Gaussian(0.5, 1.0)  # chi^2(P||Q) = exp(0.25) - 1: finite, with finite variance
    # the critic for every divergence; ``train`` sets its loss to {"f_divergence": name}
    critic: CriticSpec = CriticSpec("f-GAN critic", "kl", None, {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.999)},
                                    steps=300, batch_size=512, hidden=32)
    eval_samples: int = 1 << 18


def optimal_critic(div: FDivergence, ratio: float) -> float:
    """T* = f'(p/q), the maximiser of the bound, by autograd through the table's f."""
    u = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(div.f(u), u)
    return float(grad)


def bound_at_optimum(div: FDivergence, p: Gaussian, q: Gaussian) -> float:
    """∫ p T* - q f*(T*), with the table's conjugate f*: equals D_f iff f* is f's conjugate."""
    def integrand(x: float) -> float:
        lp, lq = p.logpdf(x), q.logpdf(x)
        t = optimal_critic(div, math.exp(lp - lq))
        return math.exp(lp) * t - math.exp(lq) * float(div.conjugate(torch.tensor(t, dtype=torch.float64)))

    return quad(integrand, p, q)


def train(name: str, cfg: FDivergencesConfig, seed: int) -> Critic:
    """A critic trained on the f-GAN loss for divergence ``name``, between P and Q."""
    spec = replace(cfg.critic, label=name, loss={"f_divergence": name})
    p, q = cfg.p, cfg.q
    return train_critic(spec, lambda n, g: p.mean + p.std * torch.randn(n, 1, generator=g),
                        lambda n, g: q.mean + q.std * torch.randn(n, 1, generator=g),
                        in_features=1, generator=torch_generator(seed, "f-divergences", name))


def evaluate(critic: Critic, div: FDivergence, cfg: FDivergencesConfig, seed: int, name: str) -> tuple[float, float]:
    """The loss's bound on fresh samples, and its standard error (the two means are independent)."""
    g = torch_generator(seed, "f-divergences", name, "eval")
    real = cfg.p.mean + cfg.p.std * torch.randn(cfg.eval_samples, 1, generator=g)
    fake = cfg.q.mean + cfg.q.std * torch.randn(cfg.eval_samples, 1, generator=g)
    scores_p, scores_q = critic.scores(real), critic.scores(fake)
    estimate = float(critic.loss.estimate_from_scores(scores_p, scores_q))
    # the loss's estimate is mean(g_f(V) on P) - mean(f*(g_f(V)) on Q): the SE of each mean
    variance = div.activation(scores_p).var() + div.conjugate_of_activation(scores_q).var()
    return estimate, math.sqrt(float(variance) / cfg.eval_samples)


def table(cfg: FDivergencesConfig, seed: int) -> tuple[pd.DataFrame, dict[str, Critic]]:
    """One row per divergence (and the trained critics, for the figure)."""
    rows, critics = [], {}
    for name in cfg.divergences:
        div = F_DIVERGENCES.get(name)
        critics[name] = critic = train(name, cfg, seed)
        estimate, se = evaluate(critic, div, cfg, seed, name)
        truth = f_divergence_numerical(div.f, cfg.p, cfg.q)
        rows.append({"divergence": name, "meaning": MEANING.get(name, name),
                     "p_mean": cfg.p.mean, "p_std": cfg.p.std, "q_mean": cfg.q.mean, "q_std": cfg.q.std,
                     "estimate": estimate, "standard_error": se, "truth": truth,
                     "relative_error": (estimate - truth) / truth,
                     "bound_at_optimum": bound_at_optimum(div, cfg.p, cfg.q)})
    return pd.DataFrame(rows), critics


@styled
def make_figure(frame: pd.DataFrame, critics: dict[str, Critic], cfg: FDivergencesConfig) -> Figure:
    """Estimate vs truth per divergence; then, per divergence, the learned T = g_f(V) vs T*."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = list(frame["divergence"])
    cols = 3
    rows = math.ceil((len(names) + 1) / cols)
    x = np.linspace(min(cfg.p.mean, cfg.q.mean) - 3.5, max(cfg.p.mean, cfg.q.mean) + 3.5, 201)
    log_ratio = cfg.p.logpdf(x) - cfg.q.logpdf(x)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), layout="constrained", squeeze=False)
    axes = axes.ravel()
    bars = frame.melt(id_vars="divergence", value_vars=["truth", "estimate"], var_name="value from",
                      value_name="D_f(P‖Q)")
    sns.barplot(bars, x="divergence", y="D_f(P‖Q)", hue="value from", ax=axes[0])
    for i, row in frame.iterrows():
        axes[0].annotate(f"{100 * row['relative_error']:+.1f}%", (i, max(row["truth"], row["estimate"])),
                         ha="center", va="bottom", fontsize=8)
    axes[0].set(xlabel="f-divergence", ylim=(0.0, 1.15 * bars["D_f(P‖Q)"].max()),
                title="Variational estimate vs quadrature (relative error)")
    axes[0].tick_params(axis="x", labelrotation=30)
    grid = torch.tensor(x, dtype=torch.float64).view(-1, 1)
    for ax, name in zip(axes[1:], names):
        div, critic = F_DIVERGENCES.get(name), critics[name]
        critic.net.double()
        learned = div.activation(critic.scores(grid)).numpy()
        optimum = [optimal_critic(div, math.exp(r)) for r in log_ratio]
        ax.plot(x, optimum, "k--", label="T* = f′(p/q)")
        ax.plot(x, learned, label="learned T = g_f(V)")
        ax.set(xlabel="x", ylabel="T(x)", title=f"{name}: D_f = {MEANING.get(name, name)}")
        ax.legend(fontsize=8)
    for ax in axes[len(names) + 1:]:
        ax.set_visible(False)
    fig.suptitle(f"f-GAN variational bounds between P = N({cfg.p.mean:g}, {cfg.p.std:g}²) and "
                 f"Q = N({cfg.q.mean:g}, {cfg.q.std:g}²), with wganbench's training losses")
    return fig


def run(out_dir: Path, seed: int = 0, config: FDivergencesConfig | None = None) -> list[Path]:
    """Write f_divergences.csv and the figure."""
    cfg = config or FDivergencesConfig()
    out_dir = Path(out_dir)
    with single_thread():
        frame, critics = table(cfg, seed)
        paths = [write_table(frame, out_dir / "f_divergences.csv")]
        return paths + save_figure(make_figure(frame, critics, cfg), out_dir / "f_divergences")
