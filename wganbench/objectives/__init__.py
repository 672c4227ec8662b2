"""An objective = loss + Lipschitz methods + optimiser(s) + critic schedule, built from config."""

from __future__ import annotations

from dataclasses import dataclass

from .fdivergences import F_DIVERGENCES, FDivergence
from .lipschitz import LIPSCHITZ, LipschitzMethod, build_lipschitz
from .losses import LOSSES, Batch, Loss, build_loss
from .optim import OPTIMIZERS, build_optimizer


@dataclass
class Objective:
    loss: Loss
    lipschitz: list[LipschitzMethod]
    n_critic: int
    warmup: dict | None

    def critic_steps(self, generator_iteration: int) -> int:
        """Critic steps before generator iteration ``generator_iteration`` (0-based).

        The official WGAN code runs 100 critic steps for the first 25 generator iterations and
        every 500th, so the critic is near-optimal when the generator learns from it.
        """
        w = self.warmup
        if w and (generator_iteration < w["first"] or (w["every"] and generator_iteration % w["every"] == 0)):
            return w["steps"]
        return self.n_critic


def build_objective(cfg: dict) -> Objective:
    return Objective(build_loss(cfg["loss"]), build_lipschitz(cfg["lipschitz"]), cfg["n_critic"],
                     cfg["critic_warmup"])


__all__ = ["Batch", "F_DIVERGENCES", "FDivergence", "LIPSCHITZ", "LOSSES", "LipschitzMethod", "Loss",
           "OPTIMIZERS", "Objective", "build_lipschitz", "build_loss", "build_objective", "build_optimizer"]
