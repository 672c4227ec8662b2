"""Train several seeds of one cell in one process, as one batched ensemble.

Why: a grid is mostly small runs, each paying seconds of start-up for a model a GPU runs in
microseconds. Here K seeds share one process and one ``torch.func.vmap`` over stacked parameters.

Each member is exactly its single run (``wganbench.train.train``): built after
``torch.manual_seed(seed)``, with its own noise generator (noise and penalty numbers drawn outside
vmap, in the single run's order), its own data stream, its own run folder and checkpoint in the
single-run format (a member resumes alone), its own status. The members' own modules hold the
state: each step stacks their parameters into fresh leaves (gradients come back per member, and a
NaN in one member's slice never reaches another's), their buffers *are* views of stacked buffers
(batch-norm statistics and power-iteration vectors update in place), and one optimiser holds all
members' parameters in one group (elementwise optimisers step them all with the same foreach
kernels; per-parameter state, so each member's state dict is cut out of it).

A loss or Lipschitz method whose class does not declare ``ensemble_safe = True``, ``compile``, or
anything that fails in a dry vmapped step makes the members train one after another in this
process instead (still one start-up), with the reason printed and recorded in provenance.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm import tqdm

from . import provenance
from .data import load_dataset
from .device import autocast, pick_device, to_device
from .objectives import Batch, Objective, build_objective, build_optimizer
from .objectives.losses import ensemble_safe
from .registry import ConfigError
from .rundir import COMPLETED, DIVERGED, FAILED, RunDir, write_json
from .train import (
    Diverged,
    Interrupted,
    StopRequest,
    build_models,
    check_bound,
    check_finite,
    draw_samples,
    is_out_of_memory,
    make_deterministic,
    one_line,
    random_streams,
    resume_point,
    start_run_folder,
    train,
    write_sample_figure,
)

VMAP, SEQUENTIAL = "vmap", "sequential"


class NotVmappable(Exception):
    """The cell cannot be trained as a vmapped ensemble; the message says why."""


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


def train_seeds(cfg: dict, seeds: list[int], out: str, restart: bool = False, progress: bool | None = None,
                restart_if_changed: bool = False, restart_if_corrupt: bool = False) -> list[dict]:
    """Train ``cfg`` for every seed into ``out`` (with ``{seed}`` filled in); one status per seed."""
    folders = member_folders(out, seeds)
    cfgs = [{**cfg, "seed": seed} for seed in seeds]
    flags = {"restart": restart, "restart_if_changed": restart_if_changed, "restart_if_corrupt": restart_if_corrupt}
    reason = why_not_vmapped(cfg, build_objective(cfg))
    if reason is None:
        try:
            return Ensemble(cfgs, folders, flags, progress).run()
        except NotVmappable as exc:
            reason = str(exc)
    print(f"wganbench: training seeds {seeds} one after another in this process: {reason}", file=sys.stderr)
    record = {"seeds": seeds, "members": len(seeds), "method": SEQUENTIAL, "reason": reason}
    return [train(c, folder, progress=progress, ensemble=record, **flags) for c, folder in zip(cfgs, folders)]


def why_not_vmapped(cfg: dict, objective: Objective) -> str | None:
    """Why this cell does not run as a vmapped ensemble (None: it does), known before building anything."""
    method = cfg.get("ensemble_method", "auto")
    if method == SEQUENTIAL:
        return "ensemble_method: sequential"
    if method == "auto" and pick_device(cfg["device"]).type == "cpu":
        return ("ensemble_method: auto on the CPU, where a vmapped step costs more than the members' "
                "own steps (set ensemble_method: vmap to force it)")
    if not ensemble_safe(objective.loss):
        return f"loss {type(objective.loss).__name__} does not declare ensemble_safe = True in its class"
    for method in objective.lipschitz:
        if not ensemble_safe(method):
            return f"Lipschitz method {type(method).__name__} does not declare ensemble_safe = True in its class"
    if cfg.get("compile"):
        return "compile: true (torch.compile of a vmapped ensemble step is not supported)"
    if cfg.get("channels_last"):
        return "channels_last: true (stacked parameters are contiguous; the layout applies to single runs)"
    return None


# --- the members' own state ---------------------------------------------------------------------

@dataclass(eq=False)  # members are dict keys by identity
class Member:
    """One seed's run: its modules, generator of random numbers, data stream and bookkeeping."""

    cfg: dict
    run: RunDir
    generator: nn.Module
    critic: nn.Module
    rng: torch.Generator
    fixed_noise: torch.Tensor
    data: Iterator[torch.Tensor]
    record: dict
    iteration: int = 0
    batches_used: int = 0
    log_rows: list = field(default_factory=list)
    elapsed_before: float = 0.0
    real: torch.Tensor | None = None  # the last critic step's real batch (the Cramér generator loss uses it)
    status: str = COMPLETED
    reason: str | None = None


def clone_state(state: dict) -> dict:
    """A state dict that owns its tensors: members' buffers are views into stacked tensors, and
    torch.save of a view would write the whole stack."""
    return {key: value.clone() for key, value in state.items()}


class Stacked:
    """K members' copies of one module seen as one functional module for vmap."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules
        self.base = copy.deepcopy(modules[0]).to("meta")  # structure only; vmap passes the tensors
        self.member_params = [dict(m.named_parameters()) for m in modules]
        with torch.no_grad():
            self.buffers = {name: torch.stack([m.get_buffer(name) for m in modules])
                            for name, _ in modules[0].named_buffers()}
        for k, module in enumerate(modules):
            for name, stacked in self.buffers.items():
                set_buffer(module, name, stacked[k])

    def parameters(self, requires_grad: bool) -> dict[str, torch.Tensor]:
        """The members' current parameters stacked into new leaves (gradients are read from these)."""
        with torch.no_grad():
            stacked = {name: torch.stack([params[name] for params in self.member_params])
                       for name in self.member_params[0]}
        return {name: value.requires_grad_(requires_grad) for name, value in stacked.items()}

    def release(self) -> None:
        """Give every member its own buffers again, so a later stack leaves them alone."""
        for module in self.modules:
            for name in self.buffers:
                set_buffer(module, name, module.get_buffer(name).clone())


def set_buffer(module: nn.Module, name: str, value: torch.Tensor) -> None:
    owner, _, leaf = name.rpartition(".")
    module.get_submodule(owner)._buffers[leaf] = value


class GroupOptimizer:
    """One optimiser over every member's parameters in one group (so foreach kernels step all
    members at once), with each member's state dict in the single-run format."""

    def __init__(self, spec: dict, modules: list[nn.Module], previous: GroupOptimizer | None = None) -> None:
        self.spec = spec
        parameters = [p for m in modules for p in m.parameters()]
        self.optimizer = build_optimizer(spec, parameters)
        if previous is not None:  # members that stay keep their state (moments, step counts)
            kept = {id(p) for p in parameters}
            for parameter, state in previous.optimizer.state.items():
                if id(parameter) in kept:
                    self.optimizer.state[parameter] = state

    def member_state(self, module: nn.Module) -> dict:
        single = build_optimizer(self.spec, module.parameters())
        for parameter in module.parameters():
            if parameter in self.optimizer.state:
                single.state[parameter] = self.optimizer.state[parameter]
        return single.state_dict()

    def load_member(self, module: nn.Module, saved: dict) -> None:
        single = build_optimizer(self.spec, module.parameters())
        single.load_state_dict(saved)
        self.optimizer.state.update(single.state)

    def step(self) -> None:
        self.optimizer.step()


class MemberCritic:
    """The critic with one member's tensors, callable as the losses call a module (inside vmap);
    records each call's largest |output| for the divergence bound, as train's forward hook does."""

    def __init__(self, base: nn.Module, params: dict, buffers: dict, largest: list | None) -> None:
        self.base, self.tensors, self.largest = base, (params, buffers), largest

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        output = functional_call(self.base, self.tensors, (x,))
        if self.largest is not None:
            self.largest.append(output.detach().abs().amax().float())
        return output


# --- the ensemble -------------------------------------------------------------------------------

class Ensemble:
    """The vmapped training loop over the members that are still running."""

    def __init__(self, cfgs: list[dict], folders: list[Path], flags: dict, progress: bool | None) -> None:
        self.cfgs, self.folders, self.flags, self.progress = cfgs, folders, flags, progress
        self.cfg = cfgs[0]
        self.seeds = [c["seed"] for c in cfgs]
        self.record = {"seeds": self.seeds, "members": len(cfgs), "method": VMAP}
        self.dry = False  # True while probing: no member is finished or written
        self.critics = self.generators = self.opt_generator = self.opt_critic = None
        self.active: list[Member] = []

    # setup --------------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        cfg = self.cfg
        self.device = pick_device(cfg["device"])
        make_deterministic(cfg)
        self.dataset = load_dataset(cfg["dataset"], image_size=cfg["image_size"], data_root=cfg["data_root"],
                                    workers=cfg["workers"]).to(self.device)
        self.objective = build_objective(cfg)
        self.mixed = autocast(self.device, cfg["precision"])
        opened = [self.open(c, folder) for c, folder in zip(self.cfgs, self.folders)]
        members = [m for m in opened if isinstance(m, Member)]
        if members:
            self.probe(members)
            self.train(members)
        return [m if isinstance(m, dict) else m.run.read_status() for m in opened]

    def open(self, cfg: dict, folder: Path) -> Member | dict:
        """A member ready to train (resumed from its checkpoint), or the status of a finished one."""
        run = RunDir(folder)
        state, finished = resume_point(run, cfg, **self.flags)
        if finished is not None:
            return finished
        generator, critic = build_models(cfg, self.dataset.sample_shape, self.objective, self.device)
        rng, fixed_noise = random_streams(cfg)
        member = Member(cfg, run, generator, critic, rng, fixed_noise, iter(()), {})
        if state is not None:
            generator.load_state_dict(state["generator"])
            critic.load_state_dict(state["critic"])
            rng.set_state(state["rng"])
            member.iteration, member.batches_used = state["iteration"], state["batches_used"]
            member.log_rows, member.elapsed_before = state["log"], state["wall_seconds"]
            member.saved_optimizers = (state["opt_generator"], state["opt_critic"])  # type: ignore[attr-defined]
        member.record = start_run_folder(run, cfg, self.device, member.iteration, member.log_rows, self.record)
        member.data = self.dataset.batches(cfg["batch_size"], cfg["seed"], start=member.batches_used)
        return member

    def probe(self, members: list[Member]) -> None:
        """One critic and one generator step of copies of two members, on made-up data: what vmap
        cannot do shows up here, before any member's state is touched or a file is written."""
        copies = []
        for m in members[:2]:
            rng = torch.Generator().manual_seed(0)
            real = torch.randn(self.cfg["batch_size"], *self.dataset.sample_shape, generator=rng).to(self.device)
            copies.append(Member(m.cfg, m.run, copy.deepcopy(m.generator), copy.deepcopy(m.critic), rng,
                                 m.fixed_noise, iter(()), {}, m.iteration, real=real))
        self.dry = True
        try:
            self.rebuild(copies)
            self.critic_step(copies[0].iteration, [m.real for m in copies])
            self.generator_step(copies[0].iteration)
        except Exception as exc:
            raise NotVmappable(f"a vmapped step failed ({type(exc).__name__}: {one_line(exc)})") from None
        finally:
            self.dry = False
            self.rebuild([])
            self.opt_generator = self.opt_critic = None

    def rebuild(self, active: list[Member]) -> None:
        """Stacks and optimisers over ``active`` (called when members join, diverge or finish)."""
        for name in ("critics", "generators"):
            if getattr(self, name, None) is not None:
                getattr(self, name).release()
        previous = (getattr(self, "opt_generator", None), getattr(self, "opt_critic", None))
        self.active = active
        if not active:
            self.critics = self.generators = None
            return
        cfg = self.cfg
        self.critics = Stacked([m.critic for m in active])
        self.generators = Stacked([m.generator for m in active])
        self.opt_generator = GroupOptimizer(cfg["generator_optimizer"] or cfg["optimizer"],
                                            [m.generator for m in active], previous[0])
        self.opt_critic = GroupOptimizer(cfg["optimizer"], [m.critic for m in active], previous[1])
        for m in active:
            saved = getattr(m, "saved_optimizers", None)
            if saved is not None:
                self.opt_generator.load_member(m.generator, saved[0])
                self.opt_critic.load_member(m.critic, saved[1])
                del m.saved_optimizers

    # the loop -----------------------------------------------------------------------------------
    def train(self, members: list[Member]) -> None:
        cfg = self.cfg
        pending = sorted(members, key=lambda m: m.iteration)
        iteration = pending[0].iteration
        self.started_at = time.perf_counter()
        bar = tqdm(total=cfg["iterations"], initial=iteration, desc=f"{cfg['objective']}/{cfg['arch']} x{len(members)}",
                   disable=not (sys.stderr.isatty() if self.progress is None else self.progress), dynamic_ncols=True)
        stop = StopRequest()
        try:
            while (self.active or pending) and iteration < cfg["iterations"]:
                if not self.active:  # every running member diverged: skip ahead to the next resumed one
                    iteration = pending[0].iteration
                joining = [m for m in pending if m.iteration == iteration]
                if joining:  # resumed members whose checkpoints are further on join at their iteration
                    pending = [m for m in pending if m not in joining]
                    self.rebuild(self.active + joining)
                steps = self.objective.critic_steps(iteration)
                values: dict[Member, list] = {}
                for _ in range(steps):
                    reals = []
                    for m in self.active:
                        m.real = to_device(next(m.data), self.device, cfg)
                        m.batches_used += 1
                        reals.append(m.real)
                    values = self.critic_step(iteration, reals)
                if not self.active:
                    continue
                generator_losses = self.generator_step(iteration)
                iteration += 1
                bar.update(1)
                self.bookkeeping(iteration, steps, values, generator_losses, stop)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            for m in self.active:
                m.status, m.reason = FAILED, f"out of memory at generator iteration {m.iteration + 1}: {one_line(exc)}"
        finally:
            stop.restore()
            bar.close()
        self.finish(self.active + pending)  # pending: checkpointed at the end, killed before their status
        self.rebuild([])

    def critic_step(self, iteration: int, reals: list[torch.Tensor]) -> dict[Member, list]:
        """One critic step of every active member; a member that diverges leaves before the update.
        Returns each remaining member's (critic loss, estimate, grad norm) as 0-d tensors."""
        active = self.active
        loss_fn, lipschitz = self.objective.loss, self.objective.lipschitz
        real = torch.stack(reals)
        noises = [self.noise(active) for _ in range(loss_fn.fake_batches)]  # each member's rng in
        draws = {}  # train()'s order: its noise batches, then each penalty's numbers
        for i, method in enumerate(lipschitz):
            drawn = [method.draw(r, m.rng) for m, r in zip(active, reals)]
            if drawn[0] is not None:
                draws[str(i)] = torch.stack(drawn)
        critic_params = self.critics.parameters(requires_grad=True)
        generator_params = self.generators.parameters(requires_grad=False)

        def member_loss(cp, cb, gp, gb, real, noises, draws):
            with torch.no_grad():
                fakes = [functional_call(self.generators.base, (gp, gb), (z,)) for z in noises]
            largest: list[torch.Tensor] = []
            critic = MemberCritic(self.critics.base, cp, cb, largest)
            batch = Batch(real, fakes)
            loss, estimate = loss_fn.critic_loss(critic, batch)
            for i, method in enumerate(lipschitz):
                penalty = method.penalty_from(loss_fn, critic, batch, draws.get(str(i)), functional=True)
                if penalty is not None:
                    loss = loss + penalty
            return loss, estimate, torch.stack(largest).amax()

        with self.mixed:
            losses, estimates, largest = vmap(member_loss)(critic_params, self.critics.buffers, generator_params,
                                                           self.generators.buffers, real, noises, draws)
        grads = torch.autograd.grad(losses.sum(), list(critic_params.values()), allow_unused=True)
        grad_norms = member_norms(grads, len(active))
        bad = self.check(active, iteration, critic_loss=losses, critic_grad_norm=grad_norms, largest=largest)
        self.apply(active, [m.critic for m in active], grads, bad, self.opt_critic)
        for m in active:
            if m not in bad:
                for method in lipschitz:
                    method.after_critic_step(m.critic)
        values = {m: [losses[k], estimates[k], grad_norms[k]] for k, m in enumerate(active) if m not in bad}
        self.drop(bad)
        return values

    def generator_step(self, iteration: int) -> dict[Member, torch.Tensor]:
        active = self.active
        loss_fn = self.objective.loss
        real = torch.stack([m.real for m in active])
        noises = [self.noise(active) for _ in range(loss_fn.fake_batches)]
        generator_params = self.generators.parameters(requires_grad=True)
        critic_params = self.critics.parameters(requires_grad=False)

        def member_loss(gp, gb, cp, cb, real, noises):
            fakes = [functional_call(self.generators.base, (gp, gb), (z,)) for z in noises]
            return loss_fn.generator_loss(MemberCritic(self.critics.base, cp, cb, None), Batch(real, fakes))

        with self.mixed:
            losses = vmap(member_loss)(generator_params, self.generators.buffers, critic_params,
                                       self.critics.buffers, real, noises)
        grads = torch.autograd.grad(losses.sum(), list(generator_params.values()), allow_unused=True)
        bad = self.check(active, iteration, generator_loss=losses)
        self.apply(active, [m.generator for m in active], grads, bad, self.opt_generator)
        self.drop(bad)
        return {m: losses[k] for k, m in enumerate(active) if m not in bad}

    def noise(self, active: list[Member]) -> torch.Tensor:
        nz, size = self.cfg["nz"], self.cfg["batch_size"]
        return torch.stack([torch.randn(size, nz, generator=m.rng) for m in active]).to(self.device)

    def check(self, active: list[Member], iteration: int, largest: torch.Tensor | None = None,
              **values: torch.Tensor) -> dict[Member, str]:
        """Members whose step is not finite or whose critic output passed the bound, with the reason
        train() would give (the same checks in the same order)."""
        bad = {}
        bound = self.cfg["divergence_bound"]
        for k, m in enumerate(active):
            try:
                check_finite(iteration, **{name: value[k] for name, value in values.items()})
                if largest is not None:
                    check_bound(iteration, float(largest[k]), bound)
            except Diverged as exc:
                bad[m] = str(exc)
        return bad

    def apply(self, active: list[Member], modules: list[nn.Module], grads: tuple, bad: dict,
              optimizer: GroupOptimizer) -> None:
        """Each member's gradient (a slice of the stacked one) on its own parameters, then one step;
        a diverged member gets no gradient, so the optimiser leaves it as it was."""
        for k, (m, module) in enumerate(zip(active, modules)):
            for parameter, grad in zip(module.parameters(), grads):
                parameter.grad = None if (m in bad or grad is None) else grad[k]
        optimizer.step()  # steps only parameters that have a gradient
        for module in modules:
            module.zero_grad(set_to_none=True)

    def drop(self, bad: dict) -> None:
        """Finish the members that diverged (in a dry probe: nothing) and go on without them."""
        if not bad or self.dry:
            return
        for m, reason in bad.items():
            m.status, m.reason = DIVERGED, reason
        self.finish(list(bad))
        self.rebuild([m for m in self.active if m not in bad])

    def bookkeeping(self, iteration: int, steps: int, values: dict[Member, list],
                    generator_losses: dict[Member, torch.Tensor], stop: StopRequest) -> None:
        """train()'s per-iteration log row, snapshot and checkpoint, for every active member."""
        cfg = self.cfg
        logged = iteration % cfg["log_every"] == 0 or iteration == cfg["iterations"]
        elapsed = time.perf_counter() - self.started_at
        for m in self.active:
            m.iteration = iteration
            wall = m.elapsed_before + elapsed
            if logged:
                critic_loss, estimate, grad_norm = (float(v.detach()) for v in values[m])
                row = {"iteration": iteration, "critic_loss": critic_loss,
                       "generator_loss": float(generator_losses[m].detach()), "distance_estimate": estimate,
                       "critic_grad_norm": grad_norm, "critic_steps": steps, "wall_seconds": wall}
                m.log_rows.append(row)
                m.run.append_log(row)
            if cfg["snapshot_every"] and iteration % cfg["snapshot_every"] == 0:
                m.run.write_samples(draw_samples(m.generator, m.fixed_noise, self.device), iteration,
                                    m.run.snapshot_path(iteration))
            if iteration % cfg["checkpoint_every"] == 0 or iteration == cfg["iterations"] or stop.signal_name:
                m.run.save_checkpoint({
                    "config": m.cfg, "iteration": iteration, "batches_used": m.batches_used,
                    "generator": clone_state(m.generator.state_dict()), "critic": clone_state(m.critic.state_dict()),
                    "opt_generator": self.opt_generator.member_state(m.generator),
                    "opt_critic": self.opt_critic.member_state(m.critic),
                    "rng": m.rng.get_state(), "log": m.log_rows, "wall_seconds": wall})
        if stop.signal_name and self.active:
            for m in self.active:
                write_json(m.run.provenance, {**m.record, "interrupted": provenance.now(),
                                              "wall_seconds": m.elapsed_before + elapsed})
            raise Interrupted(stop.signal_name, iteration, self.active[0].run.checkpoint)

    def finish(self, members: list[Member]) -> None:
        """train()'s ending for each member: samples, figure, provenance, status."""
        for m in members:
            try:
                samples = draw_samples(m.generator, m.fixed_noise, self.device)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                samples = torch.empty((0, *self.dataset.sample_shape)).numpy()
                m.status, m.reason = FAILED, m.reason or f"out of memory drawing samples: {one_line(exc)}"
            m.run.write_samples(samples, m.iteration)
            write_sample_figure(m.run, samples, self.dataset, m.cfg)
            wall = m.elapsed_before + time.perf_counter() - self.started_at
            write_json(m.run.provenance, {**m.record, "end": provenance.now(), "wall_seconds": wall})
            m.run.write_status(m.status, m.iteration, m.reason)


def member_norms(grads: tuple, members: int) -> torch.Tensor:
    """Each member's total gradient norm (train's ``total_grad_norm``) from the stacked gradients."""
    flat = [g.detach().flatten(1) for g in grads if g is not None]
    return torch.cat(flat, dim=1).norm(dim=1) if flat else torch.zeros(members)
