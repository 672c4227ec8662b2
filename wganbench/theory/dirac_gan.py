"""`wganbench theory dirac-gan`: Mescheder, Geiger & Nowozin 2018 ("Which training methods for
GANs do actually converge?", §2-3), measured through wganbench's own loss and penalty classes.

The Dirac-GAN: the data is a point mass at 0, the generator a point mass at theta, the critic
D(x) = psi * x. Each objective's gradient vector field v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi)
is differentiated by autograd through ``build_loss`` / ``build_lipschitz`` exactly as training
calls them, on one-sample batches (real [0], fake [theta]). The experiment records

- the eigenvalues of the Jacobian of v at the equilibrium (0, 0), against Mescheder et al.'s
  closed forms: for a 2x2 Jacobian with no theta-theta term, lambda = d/2 +- sqrt(d^2/4 + p),
  with p the product of its off-diagonal entries (-f'(0)^2 for the GAN family, f'(0) = 1/2 for the
  logistic losses and 1 for WGAN and hinge) and d its psi-psi entry (-gamma for R1 or R2, -2 gamma
  for R1 + R2, 2 f''(0) sigma^2 = -sigma^2/2 for instance noise, 0 unregularised). The equilibrium
  is locally convergent when every real part is negative (their Theorem 3.1 / Lemma 2.2);
- trajectories from (theta, psi) = (1, 1), step 0.2, 500 generator iterations (``DiracConfig``), under simultaneous
  and alternating gradient descent with 1 and 5 critic steps, and whether they reach the
  equilibrium;
- a figure of each vector field with its trajectories.

Choices recorded: clipping at c = 1 (in the Dirac-GAN every |psi| <= 1 is 1-Lipschitz; the
WGAN default 0.01 only slows time 100-fold); the gradient penalty at weight 1 (at weight 10 an
explicit step of 0.2 is unstable in psi by itself); gamma = 2 for R1 and R2 and 1 for R3GAN's
R1 + R2 (both give d = -2, so the closed form has distinct roots); instance noise sigma = 1 as the
two samples +-sigma on each side (the Jacobian at the equilibrium depends on the noise only through
its mean and variance, which two points match exactly, so the table is exact and not Monte Carlo).
Simultaneous descent with k critic steps: the generator's step uses the gradient at the start of
the iteration, together with the first of the k critic steps. WGAN-GP has no Jacobian at (0, 0):
the penalty lambda (|psi| - 1)^2 is not differentiable at psi = 0, which is therefore not a
stationary point (Mescheder et al. §3.2). Cramér and MMD GAN compare batches of feature vectors and
have no Dirac form with a scalar critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..objectives import Batch, build_lipschitz, build_loss
from ..objectives.lipschitz import InstanceNoise
from .output import save_figure, single_thread, styled, write_table

CRITIC_STEPS = (1, 5)
SCHEMES = ("simultaneous", "alternating")


@dataclass(frozen=True)
class DiracConfig:
    start: tuple[float, float] = (1.0, 1.0)  # (theta, psi), Mescheder et al.'s figures
    step: float = 0.2
    iterations: int = 500  # generator iterations
    converged_below: float = 1e-3  # reached the equilibrium: the distance stayed below this over the last 50
    objectives: tuple[str, ...] | None = None  # None: all


@dataclass(frozen=True)
class DiracObjective:
    label: str
    loss: str | dict
    lipschitz: dict | None = None
    # closed form of the Jacobian at (0, 0): (p, d) with lambda = d/2 +- sqrt(d^2/4 + p); None: none exists
    closed_form: tuple[float, float] | None = None
    why_no_closed_form: str = ""


LOGISTIC = -0.25  # -f'(0)^2 with f'(0) = 1/2 (f(t) = -log(1 + exp(-t)))
OBJECTIVES: dict[str, DiracObjective] = {
    "gan": DiracObjective("GAN (minimax)", "minimax", closed_form=(LOGISTIC, 0.0)),
    "nsgan": DiracObjective("GAN (non-saturating)", "nonsaturating", closed_form=(LOGISTIC, 0.0)),
    "wgan": DiracObjective("WGAN, clipping c = 1", "wasserstein", {"clip": 1.0}, closed_form=(-1.0, 0.0)),
    "wgan-gp": DiracObjective("WGAN-GP, λ = 1", "wasserstein", {"gradient_penalty": 1.0},
                              why_no_closed_form="(0, 0) is not stationary: λ(|ψ| - 1)² has no derivative at ψ = 0"),
    "hinge": DiracObjective("hinge", "hinge", closed_form=(-1.0, 0.0)),
    "lsgan": DiracObjective("LSGAN", "least_squares", closed_form=(0.0, 0.0)),
    "rpgan": DiracObjective("RpGAN", "relativistic_pairing", closed_form=(LOGISTIC, 0.0)),
    "r1": DiracObjective("GAN + R1, γ = 2", "nonsaturating", {"r1": 2.0}, closed_form=(LOGISTIC, -2.0)),
    "r2": DiracObjective("GAN + R2, γ = 2", "nonsaturating", {"r2": 2.0}, closed_form=(LOGISTIC, -2.0)),
    "rpgan-r1r2": DiracObjective("RpGAN + R1 + R2, γ = 1", "relativistic_pairing", {"r1": 1.0, "r2": 1.0},
                                 closed_form=(LOGISTIC, -2.0)),
    "instance-noise": DiracObjective("GAN + instance noise, σ = 1", "nonsaturating", {"instance_noise": {"sigma": 1.0}},
                                     closed_form=(LOGISTIC, -0.5)),
}
NO_DIRAC_FORM = {
    "cramer": "the Cramér critic is a feature vector compared across two generated batches",
    "mmd-gan": "MMD compares batches of critic features through a kernel",
}


class DiracCritic(nn.Module):
    """D(x) = psi * x: one parameter, so Lipschitz methods act on it as on any critic."""

    def __init__(self, psi: float) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.tensor(psi, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.psi * x.view(-1)


class PointCritic:
    """D(x) = psi * x with psi any tensor in a graph (the Jacobian differentiates through it)."""

    def __init__(self, psi: torch.Tensor) -> None:
        self.psi = psi

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.psi * x.view(-1)


@dataclass
class Game:
    """One objective's Dirac-GAN: its loss and methods as training builds them."""

    objective: DiracObjective
    loss: object = field(init=False)
    methods: list = field(init=False)
    noise: float = field(init=False)  # instance noise: the InstanceNoise method's sigma at the start

    def __post_init__(self) -> None:
        self.loss = build_loss(self.objective.loss)
        built = build_lipschitz(self.objective.lipschitz)
        self.methods = [m for m in built if not isinstance(m, InstanceNoise)]
        self.noise = next((m.sigma_at(0) for m in built if isinstance(m, InstanceNoise)), 0.0)

    def offsets(self) -> torch.Tensor:
        sigma = self.noise
        return torch.tensor([[sigma], [-sigma]] if sigma else [[0.0]], dtype=torch.float64)

    def batch(self, theta: torch.Tensor) -> Batch:
        offsets = self.offsets()
        return Batch(offsets, [theta + offsets])

    def critic_gradient(self, theta: torch.Tensor, critic: DiracCritic | PointCritic, create_graph: bool = False) -> torch.Tensor:
        """-dL_D/dpsi at (theta, psi) with the penalties (their random numbers from a fixed seed)."""
        batch = self.batch(theta.detach() if not create_graph else theta)
        loss, _ = self.loss.critic_loss(critic, batch)
        for method in self.methods:
            penalty = method.penalty(self.loss, critic, batch, torch.Generator().manual_seed(0))
            if penalty is not None:
                loss = loss + penalty
        (grad,) = torch.autograd.grad(loss, critic.psi, create_graph=create_graph)
        return -grad

    def generator_gradient(self, theta: torch.Tensor, critic: DiracCritic | PointCritic, create_graph: bool = False) -> torch.Tensor:
        theta = theta if create_graph else theta.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.loss.generator_loss(critic, self.batch(theta)), theta,
                                      create_graph=create_graph)
        return -grad

    def field(self, point: torch.Tensor) -> torch.Tensor:
        """v(theta, psi), differentiable in the point (for the Jacobian)."""
        theta, critic = point[0], PointCritic(point[1])
        return torch.stack([self.generator_gradient(theta, critic, True), self.critic_gradient(theta, critic, True)])

    def eigenvalues(self) -> np.ndarray:
        point = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        jacobian = torch.autograd.functional.jacobian(self.field, point)
        return sort_eigenvalues(np.linalg.eigvals(jacobian.detach().numpy()))

    def trajectory(self, scheme: str, critic_steps: int, cfg: DiracConfig) -> np.ndarray:
        """(theta, psi) after each generator iteration, the start included."""
        theta = torch.tensor(cfg.start[0], dtype=torch.float64)
        critic = DiracCritic(cfg.start[1])
        points = [cfg.start]
        for _ in range(cfg.iterations):
            generator_step = self.generator_gradient(theta, critic) if scheme == "simultaneous" else None
            for _ in range(critic_steps):
                update = self.critic_gradient(theta, critic)
                with torch.no_grad():
                    critic.psi += cfg.step * update
                for method in self.methods:
                    method.after_critic_step(critic)
            if generator_step is None:
                generator_step = self.generator_gradient(theta, critic)
            theta = (theta + cfg.step * generator_step).detach()
            points.append((float(theta), float(critic.psi.detach())))
            if not all(map(math.isfinite, points[-1])) or max(map(abs, points[-1])) > 1e6:
                break  # diverged: the rest of the trajectory is infinite
        return np.asarray(points)


def sort_eigenvalues(values: np.ndarray) -> np.ndarray:
    return np.asarray(sorted(np.asarray(values, dtype=complex), key=lambda z: (round(z.real, 9), z.imag)))


def closed_form_eigenvalues(p: float, d: float) -> np.ndarray:
    root = np.sqrt(complex(d * d / 4 + p))
    return sort_eigenvalues(np.array([d / 2 + root, d / 2 - root]))


def chosen(cfg: DiracConfig) -> dict[str, DiracObjective]:
    return {name: OBJECTIVES[name] for name in (cfg.objectives or OBJECTIVES)}


def eigen_table(cfg: DiracConfig) -> pd.DataFrame:
    rows = []
    for name, objective in chosen(cfg).items():
        row: dict = {"objective": name, "label": objective.label, "has_dirac_form": True}
        if objective.closed_form is None:
            rows.append({**row, "has_closed_form": False, "reason": objective.why_no_closed_form})
            continue
        found = Game(objective).eigenvalues()
        expected = closed_form_eigenvalues(*objective.closed_form)
        rows.append({**row, "has_closed_form": True, "reason": "",
                     "eig1_real": found[0].real, "eig1_imag": found[0].imag,
                     "eig2_real": found[1].real, "eig2_imag": found[1].imag,
                     "closed1_real": expected[0].real, "closed1_imag": expected[0].imag,
                     "closed2_real": expected[1].real, "closed2_imag": expected[1].imag,
                     "eigen_error": float(np.abs(found - expected).max()),
                     "max_real_part": float(found.real.max()),
                     "locally_convergent": bool(found.real.max() < -1e-9)})
    rows += [{"objective": name, "label": name, "has_dirac_form": False, "has_closed_form": False, "reason": reason}
             for name, reason in NO_DIRAC_FORM.items()]
    return pd.DataFrame(rows)


def trajectories(cfg: DiracConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every point of every trajectory, and one summary row per trajectory."""
    points, summary = [], []
    for name, objective in chosen(cfg).items():
        game = Game(objective)
        for scheme in SCHEMES:
            for steps in CRITIC_STEPS:
                path = game.trajectory(scheme, steps, cfg)
                distance = np.hypot(path[:, 0], path[:, 1])
                diverged = len(path) < cfg.iterations + 1
                tail = distance[-50:]
                summary.append({"objective": name, "label": objective.label, "scheme": scheme, "critic_steps": steps,
                                "start_distance": float(distance[0]), "final_distance": float(distance[-1]),
                                "final_theta": float(path[-1, 0]), "final_psi": float(path[-1, 1]),
                                "tail_max_distance": float(tail.max()), "diverged": diverged,
                                "converged": bool(not diverged and tail.max() < cfg.converged_below)})
                points += [{"objective": name, "scheme": scheme, "critic_steps": steps, "iteration": i,
                            "theta": t, "psi": p} for i, (t, p) in enumerate(path)]
    return pd.DataFrame(points), pd.DataFrame(summary)


def vector_field(game: Game, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, v = np.zeros((len(grid), len(grid))), np.zeros((len(grid), len(grid)))
    for i, psi in enumerate(grid):
        for j, theta in enumerate(grid):
            critic = DiracCritic(float(psi))
            theta_t = torch.tensor(float(theta), dtype=torch.float64)
            u[i, j] = float(game.generator_gradient(theta_t, critic))
            v[i, j] = float(game.critic_gradient(theta_t, critic))
    return u, v


@styled
def make_figure(points: pd.DataFrame, summary: pd.DataFrame, cfg: DiracConfig) -> Figure:
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = list(chosen(cfg))
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows), layout="constrained", squeeze=False)
    grid = np.linspace(-2, 2, 13)
    palette = dict(zip([f"{s}, {k}" for s in SCHEMES for k in CRITIC_STEPS], sns.color_palette("deep", 4)))
    for ax, name in zip(axes.flat, names):
        u, v = vector_field(Game(OBJECTIVES[name]), grid)
        ax.quiver(grid, grid, u, v, color="0.6", angles="xy", width=0.004)
        shown = points[points["objective"] == name].assign(
            run=lambda f: f["scheme"] + ", " + f["critic_steps"].astype(str))
        shown = shown[(shown["theta"].abs() <= 2.5) & (shown["psi"].abs() <= 2.5)]
        sns.lineplot(shown, x="theta", y="psi", hue="run", palette=palette, sort=False, estimator=None,
                     units="run", ax=ax, linewidth=1.0, legend=ax is axes.flat[0])
        ax.plot([0], [0], marker="*", color="black", markersize=9)
        done = summary[summary["objective"] == name]
        ax.set(xlim=(-2, 2), ylim=(-2, 2), xlabel="θ", ylabel="ψ",
               title=f"{OBJECTIVES[name].label}\nconverges in {int(done['converged'].sum())}/{len(done)}")
        ax.title.set_fontsize(9)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    if axes.flat[0].get_legend() is not None:
        axes.flat[0].legend(title="descent, critic steps", fontsize=7, title_fontsize=7, loc="lower left")
    fig.suptitle(f"Dirac-GAN (Mescheder et al. 2018): vector fields and trajectories from {cfg.start}, "
                 f"step {cfg.step:g}, {cfg.iterations} generator iterations")
    return fig


def eigen_text(row: pd.Series) -> str:
    if not row["has_dirac_form"]:
        return "no Dirac form"
    if not row["has_closed_form"]:
        return "no Jacobian at (0, 0)"
    values = [complex(row[f"eig{k}_real"], row[f"eig{k}_imag"]) for k in (1, 2)]
    text = ", ".join(f"{v.real:.3g}{v.imag:+.3g}i" if abs(v.imag) > 1e-12 else f"{v.real:.3g}" for v in values)
    return f"λ = {text} (|error| {row['eigen_error']:.0e})"


@styled
def make_table_figure(eigen: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """The convergence table: log10 of the final distance to the equilibrium per objective and
    descent scheme (✓: reached it), each row labelled with its Jacobian's eigenvalues."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    runs = summary.assign(run=summary["scheme"] + "\n" + summary["critic_steps"].astype(str) + " critic step(s)")
    distance = np.log10(runs["final_distance"].clip(lower=1e-12))
    grid = runs.assign(log10=distance).pivot(index="objective", columns="run", values="log10")
    marks = runs.assign(mark=np.where(runs["converged"], "✓ ", "✗ ") + distance.map(lambda d: f"{d:.1f}"))
    annotations = marks.pivot(index="objective", columns="run", values="mark")
    order = [name for name in eigen["objective"] if name in grid.index]
    grid, annotations = grid.loc[order], annotations.loc[order]
    labels = {row["objective"]: f"{row['label']}\n{eigen_text(row)}" for _, row in eigen.iterrows()}
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(order) + 1.8), layout="constrained")
    sns.heatmap(grid, annot=annotations, fmt="", cmap="RdYlGn_r", center=-3, vmin=-12, vmax=1, ax=ax,
                cbar_kws={"label": "log10 final distance to (0, 0)"}, annot_kws={"fontsize": 8})
    ax.set_yticklabels([labels[name] for name in order], rotation=0, fontsize=8)
    ax.tick_params(axis="x", labelsize=8, labelrotation=0)
    ax.set(xlabel="", ylabel="", title="Dirac-GAN: does training reach the equilibrium? (✓: distance < "
           "threshold over the last 50 iterations)")
    ax.title.set_fontsize(10)
    absent = eigen[~eigen["has_dirac_form"]]
    if len(absent):
        fig.supxlabel("Not in the table: " + "; ".join(f"{r['objective']} ({r['reason']})"
                                                       for _, r in absent.iterrows()), fontsize=7)
    return fig


def run(out_dir: Path, seed: int = 0, config: DiracConfig | None = None) -> list[Path]:
    """Write dirac_eigenvalues.csv, dirac_trajectories.csv (one row per run), dirac_paths.csv
    (every point), the vector-field figure and the convergence table as a figure (the report shows
    figures). Deterministic: ``seed`` is unused (no random numbers)."""
    cfg, out_dir = config or DiracConfig(), Path(out_dir)
    with single_thread():
        eigen = eigen_table(cfg)
        points, summary = trajectories(cfg)
        figure, table_figure = make_figure(points, summary, cfg), make_table_figure(eigen, summary)
    return [write_table(eigen, out_dir / "dirac_eigenvalues.csv"), write_table(summary, out_dir / "dirac_trajectories.csv"),
            write_table(points, out_dir / "dirac_paths.csv"), *save_figure(figure, out_dir / "dirac_gan"),
            *save_figure(table_figure, out_dir / "dirac_convergence")]
