"""How the members of a training loop take their critic and generator steps: one after another
(``OneByOne``, a single run is a loop of one member) or as one ``torch.func.vmap`` over their
stacked parameters (``Vmapped``). The loop itself (``wganbench.train``) does not know which.

Either way each member is exactly its single run: built after ``torch.manual_seed(seed)``, with
its own noise generator (noise and penalty numbers drawn in the same order), its own data stream,
optimiser state and divergence checks. A step returns the members that diverged in it, with the
reason; the loop finishes them and goes on with the others.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, vmap

from .device import autocast, pick_device, prepare_model
from .divergence import Diverged, DivergenceGuard, OutputMonitor, check_bound, check_finite, checks_each_step
from .objectives import Batch, Objective, build_optimizer
from .registry import one_line
from .rundir import COMPLETED, RunDir

ONE_BY_ONE, VMAP = "sequential", "vmap"


@dataclass(eq=False)  # members are dict keys by identity
class Member:
    """One seed's run: its modules, random numbers, data stream and bookkeeping."""

    cfg: dict
    run: RunDir
    generator: nn.Module
    critic: nn.Module
    rng: torch.Generator
    fixed_noise: torch.Tensor
    data: Iterator[torch.Tensor] = field(default_factory=lambda: iter(()))
    record: dict = field(default_factory=dict)
    iteration: int = 0
    batches_used: int = 0
    log_rows: list = field(default_factory=list)
    elapsed_before: float = 0.0
    saved_optimizers: tuple[dict, dict] | None = None  # from the checkpoint, loaded when the member joins
    lipschitz: list = field(default_factory=list)  # the member's own copies of the objective's methods (their state)
    real: torch.Tensor | None = None  # the last critic step's real batch (the Cramér generator loss uses it)
    critic_values: list = field(default_factory=list)  # critic loss, estimate, gradient norm of the last step
    generator_loss: torch.Tensor | None = None
    critic_steps: int = 0  # critic steps of the last generator iteration
    status: str = COMPLETED
    reason: str | None = None


class Steps:
    """Base: the members' optimisers and steps. ``join``/``leave`` are called as members start
    (or resume) and as they diverge or finish."""

    method: str

    def __init__(self, cfg: dict, objective: Objective, device: torch.device) -> None:
        self.cfg, self.objective, self.device = cfg, objective, device
        self.mixed = autocast(device, cfg["precision"])  # forward passes only; a no-op in fp32

    def noise(self, member: Member) -> torch.Tensor:
        return torch.randn(self.cfg["batch_size"], self.cfg["nz"], generator=member.rng).to(self.device)

    def join(self, members: list[Member]) -> None:
        raise NotImplementedError

    def leave(self, members: list[Member]) -> None:
        raise NotImplementedError

    def critic_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        raise NotImplementedError

    def generator_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        raise NotImplementedError

    def optimizer_states(self, member: Member) -> tuple[dict, dict]:
        """(generator, critic) optimiser state dicts in the single-run format."""
        raise NotImplementedError

    def flush(self, member: Member) -> None:
        """Divergence checks left pending on the device are read now (raises ``Diverged``)."""

    def keep(self, member: Member) -> None:
        """The member's state is known finite here: keep its generator for a late divergence."""

    def restore(self, member: Member) -> None:
        """Put back the generator ``keep`` kept (a divergence found at ``flush``)."""


# --- one after another -------------------------------------------------------------------------

@dataclass(eq=False)
class _Own:
    """A member's own optimisers, checks and the modules its steps call (compiled or channels-last)."""

    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    guard: DivergenceGuard
    monitor: OutputMonitor
    run_generator: nn.Module
    run_critic: nn.Module


class OneByOne(Steps):
    """Each member's steps in turn, on its own modules and optimisers."""

    method = ONE_BY_ONE

    def __init__(self, cfg: dict, objective: Objective, device: torch.device) -> None:
        super().__init__(cfg, objective, device)
        self.own: dict[Member, _Own] = {}

    def join(self, members: list[Member]) -> None:
        cfg = self.cfg
        for m in members:
            own = _Own(build_optimizer(cfg["generator_optimizer"] or cfg["optimizer"], m.generator.parameters()),
                       build_optimizer(cfg["optimizer"], m.critic.parameters()),
                       DivergenceGuard(cfg["divergence_bound"], immediate=checks_each_step(self.device)),
                       OutputMonitor(m.critic), prepare_model(m.generator, cfg), prepare_model(m.critic, cfg))
            if m.saved_optimizers is not None:
                own.opt_generator.load_state_dict(m.saved_optimizers[0])
                own.opt_critic.load_state_dict(m.saved_optimizers[1])
                m.saved_optimizers = None
            own.guard.keep(m.generator)  # the state a run found diverged late falls back to, at worst
            self.own[m] = own

    def leave(self, members: list[Member]) -> None:
        for m in members:
            self.own.pop(m, None)

    def critic_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        loss_fn = self.objective.loss
        bad = {}
        for m in members:
            own, lipschitz = self.own[m], m.lipschitz
            m.critic.requires_grad_(True)
            with torch.no_grad(), self.mixed:
                fakes = [own.run_generator(self.noise(m)) for _ in range(loss_fn.fake_batches)]
            batch = perturbed(Batch(m.real, fakes), m, iteration)
            own.monitor.reset()
            with self.mixed:
                critic_loss, estimate = loss_fn.critic_loss(own.run_critic, batch)
                for method in lipschitz:
                    penalty = method.penalty(loss_fn, own.run_critic, batch, m.rng)
                    if penalty is not None:
                        critic_loss = critic_loss + penalty
            own.opt_critic.zero_grad(set_to_none=True)
            critic_loss.backward()
            grad_norm = total_grad_norm(m.critic)
            try:
                own.guard.finite(iteration, critic_loss=critic_loss, critic_grad_norm=grad_norm)
                own.guard.bounded(iteration, own.monitor.largest)
            except Diverged as exc:
                bad[m] = str(exc)
                continue
            own.opt_critic.step()
            for method in lipschitz:
                method.after_critic_step(m.critic)
            m.critic_values = [critic_loss, estimate, grad_norm]
        return bad

    def generator_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        loss_fn = self.objective.loss
        bad = {}
        for m in members:
            own = self.own[m]
            m.critic.requires_grad_(False)
            with self.mixed:
                fakes = [own.run_generator(self.noise(m)) for _ in range(loss_fn.fake_batches)]
                generator_loss = loss_fn.generator_loss(own.run_critic, perturbed(Batch(m.real, fakes), m, iteration))
            own.opt_generator.zero_grad(set_to_none=True)
            generator_loss.backward()
            try:
                own.guard.finite(iteration, generator_loss=generator_loss)
            except Diverged as exc:
                bad[m] = str(exc)
                continue
            own.opt_generator.step()
            m.generator_loss = generator_loss
        return bad

    def optimizer_states(self, member: Member) -> tuple[dict, dict]:
        own = self.own[member]
        return own.opt_generator.state_dict(), own.opt_critic.state_dict()

    def flush(self, member: Member) -> None:
        self.own[member].guard.flush()

    def keep(self, member: Member) -> None:
        self.own[member].guard.keep(member.generator)

    def restore(self, member: Member) -> None:
        self.own[member].guard.restore(member.generator)


def perturbed(batch: Batch, member: Member, iteration: int) -> Batch:
    """The batch as the member's critic sees it (instance noise, from the member's generator)."""
    for method in member.lipschitz:
        batch = method.perturb(batch, member.rng, iteration)
    return batch


def total_grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return torch.cat(grads).norm() if grads else torch.zeros(())


# --- as one vmapped ensemble -------------------------------------------------------------------

class NotVmappable(Exception):
    """The cell cannot be trained as a vmapped ensemble; the message says why."""


def why_not_vmapped(cfg: dict, objective: Objective, members: int) -> str | None:
    """Why this cell's members do not run as one vmapped ensemble (None: they do), known before
    building anything. A loss or Lipschitz method declares ``ensemble_safe = True`` in its own
    class body (a user's subclass of a built-in must say so itself)."""
    method = cfg.get("ensemble_method", "auto")
    if members < 2:
        return "a single run"
    if method == ONE_BY_ONE:
        return "ensemble_method: sequential"
    if method == "auto" and pick_device(cfg["device"]).type == "cpu":
        return ("ensemble_method: auto on the CPU, where a vmapped step costs more than the members' "
                "own steps (set ensemble_method: vmap to force it)")
    for part in (objective.loss, *objective.lipschitz):
        if not vars(type(part)).get("ensemble_safe", False):
            kind = "loss" if part is objective.loss else "Lipschitz method"
            return f"{kind} {type(part).__name__} does not declare ensemble_safe = True in its class"
    if cfg.get("compile"):
        return "compile: true (torch.compile of a vmapped ensemble step is not supported)"
    if cfg.get("channels_last"):
        return "channels_last: true (stacked parameters are contiguous; the layout applies to single runs)"
    return None


def clone_state(state: dict) -> dict:
    """A state dict that owns its tensors: members' buffers are views into stacked tensors, and
    torch.save of a view would write the whole stack."""
    return {key: value.clone() for key, value in state.items()}


class Stacked:
    """K members' copies of one module seen as one functional module for vmap: each step stacks
    their parameters into fresh leaves (gradients come back per member, and a NaN in one member's
    slice never reaches another's); their buffers *are* views of stacked buffers (batch-norm
    statistics and power-iteration vectors update in place)."""

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
    records each call's largest |output| for the divergence bound, as OutputMonitor's hook does."""

    def __init__(self, base: nn.Module, params: dict, buffers: dict, largest: list | None) -> None:
        self.base, self.tensors, self.largest = base, (params, buffers), largest

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        output = functional_call(self.base, self.tensors, (x,))
        if self.largest is not None:
            self.largest.append(output.detach().abs().amax().float())
        return output


class Vmapped(Steps):
    """The active members' steps as one vmapped call over stacked parameters, with one optimiser
    for all (elementwise optimisers step them all with the same foreach kernels)."""

    method = VMAP

    def __init__(self, cfg: dict, objective: Objective, device: torch.device) -> None:
        super().__init__(cfg, objective, device)
        self.active: list[Member] = []
        self.critics: Stacked | None = None
        self.generators: Stacked | None = None
        self.opt_generator: GroupOptimizer | None = None
        self.opt_critic: GroupOptimizer | None = None

    def probe(self, members: list[Member], sample_shape: tuple) -> None:
        """One critic and one generator step of copies of two members, on made-up data: what vmap
        cannot do shows up here, before any member's state is touched or a file is written."""
        copies = []
        for m in members[:2]:
            rng = torch.Generator().manual_seed(0)
            real = torch.randn(self.cfg["batch_size"], *sample_shape, generator=rng).to(self.device)
            copies.append(Member(m.cfg, m.run, copy.deepcopy(m.generator), copy.deepcopy(m.critic), rng,
                                 m.fixed_noise, iteration=m.iteration, real=real))
        try:
            self.rebuild(copies)
            self.critic_step(copies[0].iteration, copies)
            self.generator_step(copies[0].iteration, copies)
        except Exception as exc:
            raise NotVmappable(f"a vmapped step failed ({type(exc).__name__}: {one_line(exc)})") from None
        finally:
            self.rebuild([])
            self.opt_generator = self.opt_critic = None

    def join(self, members: list[Member]) -> None:
        self.rebuild(self.active + members)

    def leave(self, members: list[Member]) -> None:
        self.rebuild([m for m in self.active if m not in members])

    def rebuild(self, active: list[Member]) -> None:
        """Stacks and optimisers over ``active`` (called when members join, diverge or finish)."""
        for stacked in (self.critics, self.generators):
            if stacked is not None:
                stacked.release()
        previous = (self.opt_generator, self.opt_critic)
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
            if m.saved_optimizers is not None:
                self.opt_generator.load_member(m.generator, m.saved_optimizers[0])
                self.opt_critic.load_member(m.critic, m.saved_optimizers[1])
                m.saved_optimizers = None

    def stacked_noise(self, members: list[Member]) -> torch.Tensor:
        return torch.stack([self.noise(m) for m in members])

    def critic_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        assert members == self.active
        loss_fn, lipschitz = self.objective.loss, self.objective.lipschitz
        real = torch.stack([m.real for m in members])
        noises = [self.stacked_noise(members) for _ in range(loss_fn.fake_batches)]  # each member's rng in
        draws = {}  # the single run's order: its noise batches, then each penalty's numbers
        for i, method in enumerate(lipschitz):
            drawn = [method.draw(m.real, m.rng) for m in members]
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
        grad_norms = member_norms(grads, len(members))
        bad = self.check(members, iteration, critic_loss=losses, critic_grad_norm=grad_norms, largest=largest)
        self.apply(members, [m.critic for m in members], grads, bad, self.opt_critic)
        for k, m in enumerate(members):
            if m not in bad:
                for method in lipschitz:
                    method.after_critic_step(m.critic)
                m.critic_values = [losses[k], estimates[k], grad_norms[k]]
        return bad

    def generator_step(self, iteration: int, members: list[Member]) -> dict[Member, str]:
        assert members == self.active
        loss_fn = self.objective.loss
        real = torch.stack([m.real for m in members])
        noises = [self.stacked_noise(members) for _ in range(loss_fn.fake_batches)]
        generator_params = self.generators.parameters(requires_grad=True)
        critic_params = self.critics.parameters(requires_grad=False)

        def member_loss(gp, gb, cp, cb, real, noises):
            fakes = [functional_call(self.generators.base, (gp, gb), (z,)) for z in noises]
            return loss_fn.generator_loss(MemberCritic(self.critics.base, cp, cb, None), Batch(real, fakes))

        with self.mixed:
            losses = vmap(member_loss)(generator_params, self.generators.buffers, critic_params,
                                       self.critics.buffers, real, noises)
        grads = torch.autograd.grad(losses.sum(), list(generator_params.values()), allow_unused=True)
        bad = self.check(members, iteration, generator_loss=losses)
        self.apply(members, [m.generator for m in members], grads, bad, self.opt_generator)
        for k, m in enumerate(members):
            if m not in bad:
                m.generator_loss = losses[k]
        return bad

    def check(self, members: list[Member], iteration: int, largest: torch.Tensor | None = None,
              **values: torch.Tensor) -> dict[Member, str]:
        """Members whose step is not finite or whose critic output passed the bound, with the reason
        a single run gives (the same checks in the same order)."""
        bad = {}
        bound = self.cfg["divergence_bound"]
        for k, m in enumerate(members):
            try:
                check_finite(iteration, **{name: value[k] for name, value in values.items()})
                if largest is not None:
                    check_bound(iteration, float(largest[k]), bound)
            except Diverged as exc:
                bad[m] = str(exc)
        return bad

    def apply(self, members: list[Member], modules: list[nn.Module], grads: tuple, bad: dict,
              optimizer: GroupOptimizer) -> None:
        """Each member's gradient (a slice of the stacked one) on its own parameters, then one step;
        a diverged member gets no gradient, so the optimiser leaves it as it was."""
        for k, (m, module) in enumerate(zip(members, modules)):
            for parameter, grad in zip(module.parameters(), grads):
                parameter.grad = None if (m in bad or grad is None) else grad[k]
        optimizer.step()  # steps only parameters that have a gradient
        for module in modules:
            module.zero_grad(set_to_none=True)

    def optimizer_states(self, member: Member) -> tuple[dict, dict]:
        return self.opt_generator.member_state(member.generator), self.opt_critic.member_state(member.critic)


def member_norms(grads: tuple, members: int) -> torch.Tensor:
    """Each member's total gradient norm (``total_grad_norm``) from the stacked gradients."""
    flat = [g.detach().flatten(1) for g in grads if g is not None]
    return torch.cat(flat, dim=1).norm(dim=1) if flat else torch.zeros(members)
