"""Train a grid cell: one seed (``train``) or several in one process (``train_seeds``), through one
loop over K >= 1 members. How the members step (one after another, or as one vmapped ensemble)
is ``wganbench.steps``; what is written when (log rows, snapshots, checkpoints, the end of a run)
is here, once.

Reproducibility: every random draw comes from (a) ``torch.manual_seed(seed)`` for the initial
weights, (b) one CPU ``torch.Generator`` per member for noise and penalty interpolation, whose
state is checkpointed, and (c) data batches that are a pure function of (seed, batch index). So a
resumed run replays exactly what an uninterrupted run would have done, and a member of an
ensemble is its single run.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import provenance
from .data import is_toy, load_dataset
from .device import pick_device, to_device
from .divergence import Diverged, is_out_of_memory
from .models import build_critic, build_generator
from .objectives import Objective, build_objective
from .registry import ConfigError, one_line
from .resume import RESUME_INDEPENDENT, resume_point, start_run_folder
from .rundir import DIVERGED, FAILED, RunDir, write_json
from .sample_plot import image_grid_png, scatter_png
from .steps import ONE_BY_ONE, Member, NotVmappable, OneByOne, Steps, Vmapped, clone_state, why_not_vmapped

__all__ = ["EXIT_REQUEUE", "RESUME_INDEPENDENT", "Interrupted", "train", "train_seeds", "member_folders"]

# SLURM sends SIGTERM at a time limit or preemption, and the signal asked for with --signal (USR1)
# ahead of it: both mean "checkpoint now and leave so the job can be requeued"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_REQUEUE = 75  # EX_TEMPFAIL: try again later; Snakemake's retries / SLURM's requeue rerun the job


class Interrupted(Exception):
    """A stop signal arrived; the checkpoint of ``iteration`` is on disk and a rerun resumes there."""

    def __init__(self, signal_name: str, iteration: int, checkpoint: Path) -> None:
        super().__init__(f"{signal_name} at generator iteration {iteration}: checkpoint {checkpoint} written; "
                         "rerun the same command to resume")


def train(cfg: dict, out: str | Path, restart: bool = False, progress: bool | None = None,
          restart_if_changed: bool = False, restart_if_corrupt: bool = False) -> dict:
    """Run (or resume) the cell ``cfg`` into ``out``; returns the status dict written.

    ``restart_if_changed`` starts over when the checkpoint was written under another config (the
    workflow reruns a cell only when its settings changed); ``restart_if_corrupt`` when it is unreadable.
    """
    flags = {"restart": restart, "restart_if_changed": restart_if_changed, "restart_if_corrupt": restart_if_corrupt}
    return train_members([cfg], [Path(out)], flags, progress, ensemble=None)[0]


def train_seeds(cfg: dict, seeds: list[int], out: str, restart: bool = False, progress: bool | None = None,
                restart_if_changed: bool = False, restart_if_corrupt: bool = False) -> list[dict]:
    """Train ``cfg`` for every seed into ``out`` (with ``{seed}`` filled in); one status per seed."""
    folders = member_folders(out, seeds)
    flags = {"restart": restart, "restart_if_changed": restart_if_changed, "restart_if_corrupt": restart_if_corrupt}
    return train_members([{**cfg, "seed": seed} for seed in seeds], folders, flags, progress,
                         ensemble={"seeds": seeds, "members": len(seeds)})


def member_folders(pattern: str, seeds: list[int]) -> list[Path]:
    """``results/runs/x/seed{seed}`` -> one folder per seed; a one-line error before any work."""
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {seeds}: a seed is listed twice")
    if len(seeds) > 1 and "{seed}" not in pattern:
        raise ConfigError(f"--out {pattern!r}: with several --seeds the folder must contain '{{seed}}', "
                          "e.g. --out 'results/runs/x/seed{seed}'")
    try:
        return [Path(pattern.format(seed=seed)) for seed in seeds]
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"--out {pattern!r}: only '{{seed}}' may be filled in ({exc})") from None


def train_members(cfgs: list[dict], folders: list[Path], flags: dict, progress: bool | None,
                  ensemble: dict | None) -> list[dict]:
    """The cells ``cfgs`` (one cell, one seed each) into ``folders``; ``ensemble``: recorded in
    each member's provenance (None for a single run)."""
    cfg = cfgs[0]
    # where each run starts, before anything is loaded: a finished run returns its status at once
    points = [(c, RunDir(folder), *resume_point(RunDir(folder), c, **flags)) for c, folder in zip(cfgs, folders)]
    if all(finished is not None for *_, finished in points):
        return [finished for *_, finished in points]
    device = pick_device(cfg["device"])
    make_deterministic(cfg)
    dataset = load_dataset(cfg["dataset"], image_size=cfg["image_size"], data_root=cfg["data_root"],
                           workers=cfg["workers"], data_cache=cfg["data_cache"])
    objective = build_objective(cfg)
    dataset = dataset.to(device)  # small sets keep their tensors on the device: a batch is an index
    opened = [finished if finished is not None else open_member(c, run, state, dataset, objective, device)
              for c, run, state, finished in points]
    members = [m for m in opened if isinstance(m, Member)]
    if members:
        steps = choose_steps(cfg, objective, device, members, dataset.sample_shape, ensemble)
        for m in members:
            m.record = start_run_folder(m.run, m.cfg, device, m.iteration, m.log_rows, ensemble)
        Loop(cfg, objective, steps, dataset, device, progress).run(members)
    return [m.run.read_status() if isinstance(m, Member) else m for m in opened]


def open_member(cfg: dict, run: RunDir, state: dict | None, dataset: object, objective: Objective,
                device: torch.device) -> Member:
    """A member ready to train, resumed from its checkpoint ``state`` if there is one."""
    generator, critic = build_models(cfg, dataset.sample_shape, objective, device)  # type: ignore[attr-defined]
    rng, fixed_noise = random_streams(cfg)
    member = Member(cfg, run, generator, critic, rng, fixed_noise, lipschitz=copy.deepcopy(objective.lipschitz))
    if state is not None:
        for method, saved in zip(member.lipschitz, state.get("lipschitz", [])):
            method.load_state_dict(saved)
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        rng.set_state(state["rng"])
        member.iteration, member.batches_used = state["iteration"], state["batches_used"]
        member.log_rows, member.elapsed_before = state["log"], state["wall_seconds"]
        member.saved_optimizers = (state["opt_generator"], state["opt_critic"])
    member.data = dataset.batches(cfg["batch_size"], cfg["seed"], start=member.batches_used)  # type: ignore[attr-defined]
    return member


def choose_steps(cfg: dict, objective: Objective, device: torch.device, members: list[Member],
                 sample_shape: tuple, ensemble: dict | None) -> Steps:
    """Vmapped when the members can be (a dry probe passes), else one after another; the choice
    and its reason go into the ensemble record."""
    reason = why_not_vmapped(cfg, objective, len(members))
    if reason is None:
        vmapped = Vmapped(cfg, objective, device)
        try:
            vmapped.probe(members, sample_shape)
            if ensemble is not None:
                ensemble["method"] = vmapped.method
            return vmapped
        except NotVmappable as exc:
            reason = str(exc)
    if ensemble is not None:
        ensemble.update(method=ONE_BY_ONE, reason=reason)
        seeds = [m.cfg["seed"] for m in members]
        print(f"wganbench: training seeds {seeds} one after another in this process: {reason}", file=sys.stderr)
    return OneByOne(cfg, objective, device)


class Loop:
    """The training loop over the members still running: critic steps, a generator step, then each
    member's log row, snapshot and checkpoint; a member that diverges is finished and leaves."""

    def __init__(self, cfg: dict, objective: Objective, steps: Steps, dataset: object, device: torch.device,
                 progress: bool | None) -> None:
        self.cfg, self.objective, self.steps, self.dataset, self.device = cfg, objective, steps, dataset, device
        self.progress = progress
        self.active: list[Member] = []
        self.started = time.perf_counter()

    def run(self, members: list[Member]) -> None:
        cfg = self.cfg
        pending = sorted(members, key=lambda m: m.iteration)  # resumed members join at their iteration
        iteration = pending[0].iteration
        label = f"{cfg['objective']}/{cfg['arch']}" + (f" x{len(members)}" if len(members) > 1 else "")
        bar = tqdm(total=cfg["iterations"], initial=iteration, desc=label, dynamic_ncols=True,
                   disable=not (sys.stderr.isatty() if self.progress is None else self.progress))
        stop = StopRequest()
        try:
            while (self.active or pending) and iteration < cfg["iterations"]:
                if not self.active:  # every running member diverged: skip ahead to the next resumed one
                    iteration = pending[0].iteration
                joining = [m for m in pending if m.iteration == iteration]
                if joining:
                    pending = [m for m in pending if m not in joining]
                    self.steps.join(joining)
                    self.active += joining
                if not self.train_iteration(iteration):
                    continue
                iteration += 1
                bar.update(1)
                self.bookkeeping(iteration, stop)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            for m in self.active:
                m.status, m.reason = FAILED, f"out of memory at generator iteration {m.iteration + 1}: {one_line(exc)}"
        finally:
            stop.restore()
            bar.close()
        self.finish(self.active + pending)  # pending: checkpointed at the end, killed before their status

    def train_iteration(self, iteration: int) -> bool:
        """The critic steps and the generator step of generator iteration ``iteration`` (0-based);
        False when no member is left to take them."""
        steps = self.objective.critic_steps(iteration)
        for _ in range(steps):
            for m in self.active:
                m.real = to_device(next(m.data), self.device, self.cfg)
                m.batches_used += 1
            self.diverged(self.steps.critic_step(iteration, self.active))
            if not self.active:
                return False
        self.diverged(self.steps.generator_step(iteration, self.active))
        for m in self.active:
            m.iteration = iteration + 1
            m.critic_steps = steps
        return bool(self.active)

    def diverged(self, bad: dict[Member, str]) -> None:
        """Finish the members that diverged and go on without them."""
        if not bad:
            return
        for m, reason in bad.items():
            m.status, m.reason = DIVERGED, reason
        self.finish(list(bad))
        self.active = [m for m in self.active if m not in bad]

    def bookkeeping(self, iteration: int, stop: StopRequest) -> None:
        """Each active member's log row, snapshot and checkpoint after generator iteration ``iteration``."""
        cfg = self.cfg
        logged = iteration % cfg["log_every"] == 0 or iteration == cfg["iterations"]
        snapshot = cfg["snapshot_every"] and iteration % cfg["snapshot_every"] == 0
        checkpoint = iteration % cfg["checkpoint_every"] == 0 or iteration == cfg["iterations"] or stop.signal_name
        if not (logged or snapshot or checkpoint):
            return
        late: dict[Member, str] = {}
        for m in self.active:  # nothing is written from a state not known finite
            try:
                self.steps.flush(m)
            except Diverged as exc:
                late[m] = str(exc)
                if exc.iteration is not None and exc.iteration <= m.iteration:  # found late (no per-step sync):
                    m.iteration = exc.iteration - 1  # the run ends where it went bad,
                    self.steps.restore(m)  # with the generator of the last state known finite
                continue
            self.steps.keep(m)
        self.diverged(late)
        wall = self.wall_seconds
        for m in self.active:
            if logged:
                critic_loss, estimate, grad_norm = (float(v.detach()) for v in m.critic_values)
                row = {"iteration": iteration, "critic_loss": critic_loss,
                       "generator_loss": float(m.generator_loss.detach()), "distance_estimate": estimate,
                       "critic_grad_norm": grad_norm, "critic_steps": m.critic_steps,
                       "wall_seconds": m.elapsed_before + wall}
                m.log_rows.append(row)
                m.run.append_log(row)
            if snapshot:
                snapshot_noise = m.fixed_noise[:cfg["snapshot_count"] or len(m.fixed_noise)]
                m.run.write_samples(draw_samples(m.generator, snapshot_noise, self.device), iteration,
                                    m.run.snapshot_path(iteration))
            if checkpoint:
                opt_generator, opt_critic = self.steps.optimizer_states(m)
                m.run.save_checkpoint({
                    "config": m.cfg, "iteration": iteration, "batches_used": m.batches_used,
                    "generator": clone_state(m.generator.state_dict()), "critic": clone_state(m.critic.state_dict()),
                    "opt_generator": opt_generator, "opt_critic": opt_critic,
                    "rng": m.rng.get_state(), "log": m.log_rows, "wall_seconds": m.elapsed_before + wall,
                    "lipschitz": [method.state_dict() for method in m.lipschitz]})
        if stop.signal_name and self.active:
            for m in self.active:
                write_json(m.run.provenance, {**m.record, "interrupted": provenance.now(),
                                              "wall_seconds": m.elapsed_before + wall})
            raise Interrupted(stop.signal_name, iteration, self.active[0].run.checkpoint)

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    def finish(self, members: list[Member]) -> None:
        """The end of each member's run: samples, figure, provenance, status."""
        for m in members:
            try:
                samples = draw_samples(m.generator, m.fixed_noise, self.device)
            except Exception as exc:  # the run is a result even if its samples do not fit in memory
                if not is_out_of_memory(exc):
                    raise
                samples = np.empty((0, *self.dataset.sample_shape), dtype=np.float32)  # type: ignore[attr-defined]
                m.status, m.reason = FAILED, m.reason or f"out of memory drawing samples: {one_line(exc)}"
            m.run.write_samples(samples, m.iteration)
            write_sample_figure(m.run, samples, self.dataset, m.cfg)
            wall = m.elapsed_before + self.wall_seconds
            write_json(m.run.provenance, {**m.record, "end": provenance.now(), "wall_seconds": wall})
            m.run.write_status(m.status, m.iteration, m.reason)
        self.steps.leave(members)


class StopRequest:
    """Turns SIGTERM/SIGUSR1 into a flag the loop reads after each generator iteration, so the
    checkpoint it then writes is consistent; ``restore`` puts the previous handlers back."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous = {number: signal.signal(number, self._handle) for number in STOP_SIGNALS}

    def _handle(self, number: int, frame: object) -> None:
        self.signal_name = signal.Signals(number).name

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


# --- a member's parts ----------------------------------------------------------------------------

def build_models(cfg: dict, shape: tuple, objective: Objective, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Generator and Lipschitz-prepared critic with the seed's initial weights (the same whether
    the seed trains alone or in an ensemble)."""
    torch.manual_seed(cfg["seed"])
    generator = build_generator(cfg, shape).to(device)
    critic = build_critic(cfg, shape, objective.loss.critic_outputs)
    for method in objective.lipschitz:
        critic = method.prepare(critic)
    return generator, critic.to(device)


def random_streams(cfg: dict) -> tuple[torch.Generator, torch.Tensor]:
    """The run's own random stream (noise and penalty draws; checkpointed) and its fixed sample noise."""
    rng = torch.Generator().manual_seed(cfg["seed"])
    fixed = torch.randn(cfg["sample_count"], cfg["nz"], generator=torch.Generator().manual_seed(10**6 + cfg["seed"]))
    return rng, fixed


def make_deterministic(cfg: dict) -> None:
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    if cfg.get("compile"):
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        # the same switch without the public function's import of torch._inductor.config, which
        # pulls in dynamo and inductor: ~1.5 CPU-s of every job's start-up (benchmarks/README.md)
        torch._C._set_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def draw_samples(generator: nn.Module, fixed_noise: torch.Tensor, device: torch.device) -> np.ndarray:
    """Samples from the fixed noise, with batch statistics of the whole fixed batch (as the WGAN
    code draws its fixed-noise samples), on a copy so the model's running statistics stay put."""
    copy_ = copy.deepcopy(generator).train()
    return copy_(fixed_noise.to(device)).float().cpu().numpy()


def write_sample_figure(run: RunDir, samples: np.ndarray, dataset: object, cfg: dict) -> None:
    if is_toy(cfg["dataset"]):
        real = dataset.reference("train", 2000).samples.numpy()  # type: ignore[attr-defined]
        scatter_png(samples, real, run.samples_png, f"{cfg['objective']} / {cfg['dataset']}")
    else:
        image_grid_png(samples, run.samples_png)
