"""`wganbench theory divergences`: divergences between N(0, s^2) and N(mu, s^2) as mu moves.

The picture behind the WGAN argument in its smooth form: KL grows quadratically without bound,
JS saturates at log 2 (so its gradient vanishes once the laws stop overlapping), W1 grows like
|mu| with a constant gradient, and Cramér (l2^2 of the CDFs) is quadratic near 0 and linear far
out. Each value comes from a closed form where one exists and from numerical integration always;
the table keeps both so that their agreement is visible (and tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..registry import Registry
from .gaussians import (
    Gaussian,
    cramer_closed,
    cramer_numerical,
    js_numerical,
    kl_closed,
    kl_numerical,
    w1_closed,
    w1_numerical,
)
from .output import save_figure, styled, write_table

Pair = Callable[[Gaussian, Gaussian], float]  # (P, Q) -> value


@dataclass(frozen=True)
class Divergence:
    label: str
    numerical: Pair
    closed_form: Pair | None = None


MEAN_SHIFT: Registry[Divergence] = Registry("divergence")
MEAN_SHIFT.add("kl", Divergence("KL(P‖Q)", kl_numerical, kl_closed))
MEAN_SHIFT.add("reverse_kl", Divergence("KL(Q‖P)", lambda p, q: kl_numerical(q, p), lambda p, q: kl_closed(q, p)))
MEAN_SHIFT.add("js", Divergence("JS (½-weighted)", js_numerical))  # no closed form for Gaussians
MEAN_SHIFT.add("w1", Divergence("W1", w1_numerical, w1_closed))
MEAN_SHIFT.add("cramer", Divergence("Cramér (l2² of CDFs)", cramer_numerical, cramer_closed))


@dataclass(frozen=True)
class DivergencesConfig:
    mus: tuple[float, ...] = tuple(np.round(np.linspace(-4.0, 4.0, 41), 10))
    std: float = 1.0
    divergences: tuple[str, ...] = ("kl", "reverse_kl", "js", "w1", "cramer")


def table(cfg: DivergencesConfig) -> pd.DataFrame:
    """One row per (mu, divergence): the closed form (NaN where none), the numerical value, their
    absolute difference, and ``value`` (the closed form where it exists)."""
    rows = []
    for mu in cfg.mus:
        p, q = Gaussian(0.0, cfg.std), Gaussian(float(mu), cfg.std)
        for name in cfg.divergences:
            div = MEAN_SHIFT.get(name)
            numerical = div.numerical(p, q)
            closed = div.closed_form(p, q) if div.closed_form else np.nan
            rows.append({"mu": float(mu), "std": cfg.std, "divergence": name,
                         "value": numerical if np.isnan(closed) else closed, "closed_form": closed,
                         "numerical": numerical, "abs_difference": abs(closed - numerical)})
    return pd.DataFrame(rows)


@styled
def make_figure(frame: pd.DataFrame, cfg: DivergencesConfig) -> Figure:
    import matplotlib.pyplot as plt
    import seaborn as sns

    labelled = frame.assign(divergence=frame["divergence"].map(lambda n: MEAN_SHIFT.get(n).label))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    sns.lineplot(labelled, x="mu", y="value", hue="divergence", ax=axes[0])
    sns.scatterplot(labelled, x="mu", y="numerical", hue="divergence", marker="x", s=18, ax=axes[0],
                    legend=False)
    axes[0].axhline(np.log(2.0), color="0.6", ls=":", lw=1)
    axes[0].set(xlabel="μ (mean shift)", ylabel="divergence between N(0, σ²) and N(μ, σ²)",
                title="Lines: closed form (JS: quadrature); ×: quadrature (dotted: log 2)")
    exact = labelled[labelled["closed_form"].notna() & (labelled["abs_difference"] > 0)]
    sns.scatterplot(exact, x="mu", y="abs_difference", hue="divergence", style="divergence", ax=axes[1])
    axes[1].set(yscale="log", xlabel="μ (mean shift)", ylabel="|closed form − numerical|",
                title="Agreement of closed forms and numerical integration (0 not shown)")
    fig.suptitle(f"Divergences against a mean shift, σ = {cfg.std:g}: KL explodes, JS saturates at log 2, "
                 "W1 = |μ| grows linearly")
    return fig


def run(out_dir: Path, seed: int = 0, config: DivergencesConfig | None = None) -> list[Path]:
    """Write divergences.csv and the figure. Deterministic: ``seed`` is accepted and unused."""
    cfg = config or DivergencesConfig()
    frame = table(cfg)
    out_dir = Path(out_dir)
    return [write_table(frame, out_dir / "divergences.csv"),
            *save_figure(make_figure(frame, cfg), out_dir / "divergences")]
