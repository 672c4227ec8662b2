"""`wganbench theory bernoulli`: Bellemare et al.'s biased-Wasserstein-gradient test on Bernoulli laws.

Target P = Bernoulli(theta*), model Q_theta = Bernoulli(theta). SGD on a sample loss
d(P_hat_m, Q_theta) goes to the zero of the *expected sample* gradient, not of the true gradient.
This experiment writes both gradients on a grid of theta (exact, and by Monte Carlo as a check),
and SGD trajectories from several seeds, so a reader sees the Wasserstein-trained theta settle at
that zero, away from theta* for small minibatches, while Cramér and KL settle at theta*.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .bernoulli_losses import (
    BERNOULLI_LOSSES,
    BernoulliLoss,
    expected_gradient_zero,
    expected_sample_gradient,
    monte_carlo_sample_gradient,
    true_gradient,
)
from .output import save_figure, styled, write_table

_MONTE_CARLO, _SGD = 0, 1  # stream tags: the two uses of randomness draw from disjoint seeds


@dataclass(frozen=True)
class BernoulliConfig:
    theta_stars: tuple[float, ...] = (0.6, 0.9)
    sample_sizes: tuple[int, ...] = (1, 2, 5, 10, 100)
    losses: tuple[str, ...] = ("wasserstein", "cramer", "kl")
    grid_points: int = 200  # theta = (i + 1/2) / grid_points: never on a sample mean k/m for these m
    mc_draws: int = 4000  # minibatches per (m, theta*) for the Monte Carlo check
    seeds: int = 10  # SGD trajectories per (loss, m, theta*)
    steps: int = 20_000
    # Step size lr / (1 + t / decay): Robbins-Monro (sum lr_t = inf, sum lr_t^2 < inf), so the
    # iterate converges to the zero of the expected gradient. lr * decay = 2.5 lets Wasserstein
    # with m = 1 (mean drift only 1 - 2 theta* = -0.2) travel from theta0 to the boundary. lr is
    # small enough that a KL step near the clip boundary, where the gradient reaches 1/eps, moves
    # theta by at most lr / eps = 0.5: with lr / eps > 1, one unlucky sample throws theta from one
    # end of [eps, 1 - eps] to the other, and the next throws it back, until lr has decayed.
    lr: float = 0.005
    decay: float = 500.0
    theta0: float = 0.2
    eps: float = 0.01  # theta is projected onto [eps, 1 - eps] after each step
    log_points: int = 80  # logged steps per trajectory, geometrically spaced


def _ppm(x: float) -> int:
    return int(round(x * 1e6))


def gradients_table(cfg: BernoulliConfig, seed: int) -> pd.DataFrame:
    """Expected sample gradient (exact and Monte Carlo) beside the true gradient, on a theta grid."""
    theta = (np.arange(cfg.grid_points) + 0.5) / cfg.grid_points
    frames = []
    for theta_star in cfg.theta_stars:
        for m in cfg.sample_sizes:
            for name in cfg.losses:
                loss = BERNOULLI_LOSSES.get(name)
                # one stream per (m, theta*), shared by the losses: common random numbers
                rng = np.random.default_rng([seed, _MONTE_CARLO, m, _ppm(theta_star)])
                frames.append(pd.DataFrame({
                    "loss": name, "sample_size": m, "theta_star": theta_star, "theta": theta,
                    "expected_sample_gradient": expected_sample_gradient(loss, m, theta_star, theta),
                    "expected_sample_gradient_mc": monte_carlo_sample_gradient(
                        loss, m, theta_star, theta, cfg.mc_draws, rng),
                    "true_gradient": true_gradient(loss, theta_star, theta),
                }))
    return pd.concat(frames, ignore_index=True)


def logged_steps(steps: int, points: int) -> np.ndarray:
    """0 (the start), then ``points`` steps spaced geometrically up to ``steps``."""
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, steps, points)).astype(int)]))


def sgd_trajectories(loss: BernoulliLoss, p_hats: np.ndarray, cfg: BernoulliConfig) -> tuple[np.ndarray, np.ndarray]:
    """Projected SGD on the sample loss for every column of ``p_hats`` (steps x trajectories).

    Returns (logged steps, theta at those steps with shape (len(steps), trajectories)).
    """
    keep = logged_steps(cfg.steps, cfg.log_points)
    theta = np.full(p_hats.shape[1], cfg.theta0)
    logged = [theta.copy()]
    for t in range(cfg.steps):
        lr = cfg.lr / (1.0 + t / cfg.decay)
        theta = np.clip(theta - lr * loss.gradient(p_hats[t], theta), cfg.eps, 1.0 - cfg.eps)
        if t + 1 in keep:
            logged.append(theta.copy())
    return keep, np.stack(logged)


def sgd_table(cfg: BernoulliConfig, seed: int) -> pd.DataFrame:
    """theta along SGD for each (loss, m, theta*, seed). All losses see the same minibatches."""
    keys = [(ts, m, k) for ts in cfg.theta_stars for m in cfg.sample_sizes for k in range(cfg.seeds)]
    p_hats = np.stack([np.random.default_rng([seed, _SGD, m, _ppm(ts), k]).binomial(m, ts, cfg.steps) / m
                       for ts, m, k in keys], axis=1)
    frames = []
    for name in cfg.losses:
        steps, theta = sgd_trajectories(BERNOULLI_LOSSES.get(name), p_hats, cfg)
        for column, (ts, m, k) in enumerate(keys):
            frames.append(pd.DataFrame({"loss": name, "sample_size": m, "theta_star": ts, "seed": k,
                                        "step": steps, "theta": theta[:, column]}))
    return pd.concat(frames, ignore_index=True)


def final_table(sgd: pd.DataFrame, cfg: BernoulliConfig) -> pd.DataFrame:
    """Final theta per trajectory, its distance to theta*, and where theory says SGD should go."""
    last = sgd[sgd["step"] == sgd["step"].max()].drop(columns="step").rename(columns={"theta": "final_theta"})
    last = last.reset_index(drop=True)
    last["distance_to_theta_star"] = (last["final_theta"] - last["theta_star"]).abs()
    zeros = {(name, m, ts): expected_gradient_zero(BERNOULLI_LOSSES.get(name), m, ts, cfg.eps, 1.0 - cfg.eps)
             for name in cfg.losses for m in cfg.sample_sizes for ts in cfg.theta_stars}
    last["expected_gradient_zero"] = [zeros[key] for key in
                                      zip(last["loss"], last["sample_size"], last["theta_star"])]
    return last


@styled
def make_figure(gradients: pd.DataFrame, sgd: pd.DataFrame, final: pd.DataFrame, cfg: BernoulliConfig) -> Figure:
    """Rows: losses. Left columns: expected sample vs true gradient per theta*; right: SGD paths."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n_ts = len(cfg.theta_stars)
    palette = dict(zip(cfg.sample_sizes, sns.color_palette("viridis", len(cfg.sample_sizes))))
    ylims = {"wasserstein": (-1.15, 1.15), "cramer": (-2.1, 2.1), "kl": (-8.0, 8.0)}
    fig, axes = plt.subplots(len(cfg.losses), 2 * n_ts, figsize=(4.2 * 2 * n_ts, 3.2 * len(cfg.losses)),
                             squeeze=False, layout="constrained")
    for row, name in enumerate(cfg.losses):
        label = BERNOULLI_LOSSES.get(name).label
        for col, ts in enumerate(cfg.theta_stars):
            ax = axes[row, col]
            part = gradients[(gradients["loss"] == name) & (gradients["theta_star"] == ts)]
            sns.lineplot(part, x="theta", y="expected_sample_gradient", hue="sample_size", palette=palette,
                         ax=ax, legend=row == 0 and col == 0)
            mc = part.groupby("sample_size").nth(list(range(5, cfg.grid_points, 10)))  # every 10th theta
            sns.scatterplot(mc, x="theta", y="expected_sample_gradient_mc", hue="sample_size",
                            palette=palette, marker="x", s=14, ax=ax, legend=False)
            truth = part[part["sample_size"] == cfg.sample_sizes[0]]
            ax.plot(truth["theta"], truth["true_gradient"], "k--", lw=1.5, label="true gradient")
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.axvline(ts, color="k", lw=0.8, ls=":")
            ax.set(ylim=ylims.get(name), xlabel="θ", ylabel="∂θ loss",
                   title=f"{label}, θ* = {ts}: E[sample gradient]")
            if row == 0 and col == 0:
                ax.legend(title="m (lines exact, × MC)", fontsize=7, title_fontsize=7, loc="upper left")

            ax = axes[row, n_ts + col]
            part = sgd[(sgd["loss"] == name) & (sgd["theta_star"] == ts)]
            band = part.groupby(["sample_size", "step"])["theta"].agg(["mean", "min", "max"]).reset_index()
            band["step1"] = band["step"] + 1
            sns.lineplot(band, x="step1", y="mean", hue="sample_size", palette=palette, ax=ax, legend=False)
            for m, one in band.groupby("sample_size"):
                ax.fill_between(one["step1"], one["min"], one["max"], color=palette[m], alpha=0.2, lw=0)
            zeros = final[(final["loss"] == name) & (final["theta_star"] == ts)]
            for m, zero in zeros.groupby("sample_size")["expected_gradient_zero"].first().items():
                ax.axhline(zero, color=palette[m], lw=0.8, ls=":")
            ax.axhline(ts, color="k", lw=1.2, ls="--")
            ax.set(xscale="log", ylim=(0.0, 1.02), xlabel="SGD step + 1", ylabel="θ",
                   title=f"{label}, θ* = {ts}: SGD")
    fig.suptitle("Bernoulli(θ*) learned from minibatches of m samples: the Wasserstein sample gradient is biased\n"
                 "dashed black: true gradient and θ*; dotted: zero of the exact expected sample gradient; "
                 f"SGD: mean and min–max band of {cfg.seeds} seeds")
    return fig


def run(out_dir: Path, seed: int = 0, config: BernoulliConfig | None = None) -> list[Path]:
    """Write bernoulli_gradients.csv, bernoulli_sgd.csv, bernoulli_final.csv and the figure."""
    cfg = config or BernoulliConfig()
    out_dir = Path(out_dir)
    gradients = gradients_table(cfg, seed)
    sgd = sgd_table(cfg, seed)
    final = final_table(sgd, cfg)
    return [write_table(gradients, out_dir / "bernoulli_gradients.csv"),
            write_table(sgd, out_dir / "bernoulli_sgd.csv"),
            write_table(final, out_dir / "bernoulli_final.csv"),
            *save_figure(make_figure(gradients, sgd, final, cfg), out_dir / "bernoulli")]
