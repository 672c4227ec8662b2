"""Train one grid cell. The whole loop reads top to bottom in ``train``; helpers below it.

Reproducibility: every random draw comes from (a) ``torch.manual_seed(seed)`` for the initial
weights, (b) one CPU ``torch.Generator`` for noise and penalty interpolation, whose state is
checkpointed, and (c) data batches that are a pure function of (seed, batch index). So a resumed
run replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import copy
import math
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
from .device import autocast, pick_device, prepare_model, to_device
from .models import build_critic, build_generator
from .objectives import Batch, Objective, build_objective, build_optimizer
from .registry import ConfigError
from .rundir import COMPLETED, DIVERGED, FAILED, CheckpointError, RunDir, write_json
from .sample_plot import image_grid_png, scatter_png

# keys that do not change what a run computes: a checkpoint written under other values resumes
RESUME_INDEPENDENT = frozenset({"iterations", "checkpoint_every", "device", "threads", "workers", "channels_last",
                                "compile", "ensemble_method"})


# SLURM sends SIGTERM at a time limit or preemption, and the signal asked for with --signal (USR1)
# ahead of it: both mean "checkpoint now and leave so the job can be requeued"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_REQUEUE = 75  # EX_TEMPFAIL: try again later; Snakemake's retries / SLURM's requeue rerun the job


class Diverged(Exception):
    """Raised inside the loop when a loss is not finite or the critic output explodes."""

    def __init__(self, message: str, iteration: int | None = None) -> None:
        super().__init__(message)
        self.iteration = iteration  # the generator iteration (1-based) that went bad


class Interrupted(Exception):
    """A stop signal arrived; the checkpoint of ``iteration`` is on disk and a rerun resumes there."""

    def __init__(self, signal_name: str, iteration: int, checkpoint: Path) -> None:
        super().__init__(f"{signal_name} at generator iteration {iteration}: checkpoint {checkpoint} written; "
                         "rerun the same command to resume")


def train(cfg: dict, out: str | Path, restart: bool = False, progress: bool | None = None,
          restart_if_changed: bool = False, restart_if_corrupt: bool = False, ensemble: dict | None = None) -> dict:
    """Run (or resume) the cell ``cfg`` into ``out``; returns the status dict written.

    ``ensemble``: recorded in provenance when this run is one seed of ``wganbench train --seeds``.

    ``restart_if_changed`` starts over when the checkpoint was written under another config (the
    workflow reruns a cell only when its settings changed); ``restart_if_corrupt`` when it is unreadable.
    """
    run = RunDir(out)
    state, finished = resume_point(run, cfg, restart, restart_if_changed, restart_if_corrupt)
    if finished is not None:
        return finished

    device = pick_device(cfg["device"])
    make_deterministic(cfg)
    dataset = load_dataset(cfg["dataset"], image_size=cfg["image_size"], data_root=cfg["data_root"],
                           workers=cfg["workers"])
    shape = dataset.sample_shape
    objective = build_objective(cfg)

    dataset = dataset.to(device)  # small sets keep their tensors on the device: a batch is an index

    generator, critic = build_models(cfg, shape, objective, device)
    # what the loop calls: the same modules, optionally channels-last and compiled (state stays in them)
    run_generator, run_critic = prepare_model(generator, cfg), prepare_model(critic, cfg)
    opt_critic = build_optimizer(cfg["optimizer"], critic.parameters())
    opt_generator = build_optimizer(cfg["generator_optimizer"] or cfg["optimizer"], generator.parameters())
    rng, fixed_noise = random_streams(cfg)
    monitor = OutputMonitor(critic)
    guard = DivergenceGuard(cfg["divergence_bound"], immediate=checks_each_step(device))

    iteration, batches_used, log_rows, elapsed_before = 0, 0, [], 0.0
    if state is not None:
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_generator.load_state_dict(state["opt_generator"])
        opt_critic.load_state_dict(state["opt_critic"])
        rng.set_state(state["rng"])
        iteration, batches_used = state["iteration"], state["batches_used"]
        log_rows, elapsed_before = state["log"], state["wall_seconds"]

    record = start_run_folder(run, cfg, device, iteration, log_rows, ensemble)
    guard.keep(generator)  # the state a run found diverged late falls back to, at worst

    data = dataset.batches(cfg["batch_size"], cfg["seed"], start=batches_used)
    noise = lambda: torch.randn(cfg["batch_size"], cfg["nz"], generator=rng).to(device)  # noqa: E731
    mixed = autocast(device, cfg["precision"])  # forward passes only; a no-op in fp32
    started = time.perf_counter()
    bar = tqdm(total=cfg["iterations"], initial=iteration, desc=f"{cfg['objective']}/{cfg['arch']}",
               disable=not (sys.stderr.isatty() if progress is None else progress), dynamic_ncols=True)
    status, reason = COMPLETED, None
    stop = StopRequest()
    try:
        while iteration < cfg["iterations"]:
            # --- critic steps -------------------------------------------------------------------
            critic.requires_grad_(True)
            steps = objective.critic_steps(iteration)
            for _ in range(steps):
                real = to_device(next(data), device, cfg)
                batches_used += 1
                with torch.no_grad(), mixed:
                    fakes = [run_generator(noise()) for _ in range(objective.loss.fake_batches)]
                batch = Batch(real, fakes)
                monitor.reset()
                with mixed:
                    critic_loss, estimate = objective.loss.critic_loss(run_critic, batch)
                    for method in objective.lipschitz:
                        penalty = method.penalty(objective.loss, run_critic, batch, rng)
                        if penalty is not None:
                            critic_loss = critic_loss + penalty
                opt_critic.zero_grad(set_to_none=True)
                critic_loss.backward()
                grad_norm = total_grad_norm(critic)
                guard.finite(iteration, critic_loss=critic_loss, critic_grad_norm=grad_norm)
                guard.bounded(iteration, monitor.largest)
                opt_critic.step()
                for method in objective.lipschitz:
                    method.after_critic_step(critic)

            # --- generator step -----------------------------------------------------------------
            critic.requires_grad_(False)
            with mixed:
                fakes = [run_generator(noise()) for _ in range(objective.loss.fake_batches)]
                generator_loss = objective.loss.generator_loss(run_critic, Batch(real, fakes))
            opt_generator.zero_grad(set_to_none=True)
            generator_loss.backward()
            guard.finite(iteration, generator_loss=generator_loss)
            opt_generator.step()
            iteration += 1
            bar.update(1)

            # --- bookkeeping --------------------------------------------------------------------
            wall = elapsed_before + time.perf_counter() - started
            logged = iteration % cfg["log_every"] == 0 or iteration == cfg["iterations"]
            snapshot = cfg["snapshot_every"] and iteration % cfg["snapshot_every"] == 0
            checkpoint = iteration % cfg["checkpoint_every"] == 0 or iteration == cfg["iterations"] or stop.signal_name
            if logged or snapshot or checkpoint:  # nothing is written from a state not known finite
                guard.flush()
                guard.keep(generator)
            if logged:
                row = {"iteration": iteration, "critic_loss": float(critic_loss.detach()), "generator_loss":
                       float(generator_loss.detach()), "distance_estimate": float(estimate),
                       "critic_grad_norm": float(grad_norm), "critic_steps": steps, "wall_seconds": wall}
                log_rows.append(row)
                run.append_log(row)
                bar.set_postfix(estimate=f"{float(estimate):.4g}")
            if snapshot:
                run.write_samples(draw_samples(generator, fixed_noise, device), iteration,
                                  run.snapshot_path(iteration))
            if checkpoint:
                run.save_checkpoint({
                    "config": cfg, "iteration": iteration, "batches_used": batches_used,
                    "generator": generator.state_dict(), "critic": critic.state_dict(),
                    "opt_generator": opt_generator.state_dict(), "opt_critic": opt_critic.state_dict(),
                    "rng": rng.get_state(), "log": log_rows, "wall_seconds": wall})
            if stop.signal_name:
                write_json(run.provenance, {**record, "interrupted": provenance.now(), "wall_seconds": wall})
                raise Interrupted(stop.signal_name, iteration, run.checkpoint)
    except Diverged as exc:
        status, reason = DIVERGED, str(exc)
        if exc.iteration is not None and exc.iteration <= iteration:  # found late (no per-step sync):
            iteration = exc.iteration - 1  # the run ends where it went bad,
            guard.restore(generator)  # with the generator of the last state known finite
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        status, reason = FAILED, f"out of memory at generator iteration {iteration + 1}: {one_line(exc)}"
    finally:
        stop.restore()
        bar.close()

    try:
        samples = draw_samples(generator, fixed_noise, device)
    except Exception as exc:  # the run is a result even if its samples do not fit in memory
        if not is_out_of_memory(exc):
            raise
        samples = np.empty((0, *shape), dtype=np.float32)
        status, reason = FAILED, reason or f"out of memory drawing samples: {one_line(exc)}"
    run.write_samples(samples, iteration)
    write_sample_figure(run, samples, dataset, cfg)
    wall = elapsed_before + time.perf_counter() - started
    write_json(run.provenance, {**record, "end": provenance.now(), "wall_seconds": wall})
    run.write_status(status, iteration, reason)
    return run.read_status()


# --- helpers -------------------------------------------------------------------------------------

def resume_point(run: RunDir, cfg: dict, restart: bool, restart_if_changed: bool,
                 restart_if_corrupt: bool) -> tuple[dict | None, dict | None]:
    """(checkpoint state to resume from or None, the status to return at once or None): a cell
    trained this far, or one that diverged (it diverges again, deterministically), is not rerun."""
    state = None
    if not restart:
        state, restart = load_usable_checkpoint(run, cfg, restart_if_changed, restart_if_corrupt)
    finished = None if restart else run.read_status()
    if finished and state is not None and state["iteration"] >= cfg["iterations"]:
        return state, finished
    if finished and finished["status"] == DIVERGED:
        return state, finished
    return state, None


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


def start_run_folder(run: RunDir, cfg: dict, device: torch.device, iteration: int, log_rows: list,
                     ensemble: dict | None = None) -> dict:
    """Config, provenance and the log as of ``iteration`` (rows logged after the checkpoint are
    dropped), and no status until the run ends; returns the provenance record."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(cfg)
    run.status.unlink(missing_ok=True)
    record = {"versions": provenance.versions(), "git_commit": provenance.git_commit(),
              **provenance.device_description(device), "start": provenance.now(),
              "resumed_from_iteration": iteration, "precision": cfg["precision"]}
    if ensemble is not None:
        record["ensemble"] = ensemble
    write_json(run.provenance, record)
    run.write_log(log_rows)
    return record


def load_usable_checkpoint(run: RunDir, cfg: dict, restart_if_changed: bool,
                           restart_if_corrupt: bool) -> tuple[dict | None, bool]:
    """(checkpoint state or None, whether to start over). A corrupt checkpoint or one written under
    another config is an error naming the file, unless the caller asked to start over instead."""
    try:
        state = run.load_checkpoint()
    except CheckpointError as exc:
        if not restart_if_corrupt:
            raise
        print(f"wganbench: {exc}; starting over (--restart-if-corrupt)", file=sys.stderr)
        return None, True
    if state is None:
        return None, False
    try:
        check_resumable(state["config"], cfg, run)
    except ConfigError as exc:
        if not restart_if_changed:
            raise
        print(f"wganbench: {str(exc).split(';')[0]}; starting over (--restart-if-changed)", file=sys.stderr)
        return None, True
    return state, False


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


OUT_OF_MEMORY_MARKERS = ("out of memory", "can't allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError; the CPU allocator a RuntimeError saying so."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OUT_OF_MEMORY_MARKERS)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]


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


def check_resumable(saved: dict, cfg: dict, run: RunDir) -> None:
    for key in sorted(set(saved) | set(cfg)):
        if key not in RESUME_INDEPENDENT and saved.get(key) != cfg.get(key):
            raise ConfigError(
                f"config key '{key}': {run.checkpoint} was written with {saved.get(key)!r}, not "
                f"{cfg.get(key)!r}; use another --out or --restart to train from iteration 0")


def check_finite(iteration: int, **values: torch.Tensor) -> None:
    for name, value in values.items():
        if not math.isfinite(float(value.detach())):
            raise Diverged(f"{name} is {float(value.detach())} at generator iteration {iteration + 1}", iteration + 1)


def check_bound(iteration: int, largest: float, bound: float) -> None:
    if not largest <= bound:
        raise Diverged(f"critic output magnitude {largest:.4g} exceeds divergence_bound {bound:g} "
                       f"at generator iteration {iteration + 1}", iteration + 1)


def checks_each_step(device: torch.device) -> bool:
    """On the CPU a float() of a loss costs nothing; on an accelerator it waits for the queue."""
    return device.type == "cpu"


class DivergenceGuard:
    """train()'s divergence checks. ``immediate``: decided at once (the CPU). Otherwise each check
    is a flag left on the device and read at ``flush`` (log, snapshot, checkpoint iterations), one
    host synchronisation for all of them, still naming the exact first bad iteration; ``keep`` holds
    a device copy of the generator last known finite, for the samples of a run found diverged late."""

    def __init__(self, bound: float, immediate: bool) -> None:
        self.bound, self.immediate = bound, immediate
        self.pending: list[tuple[int, str, torch.Tensor, torch.Tensor]] = []
        self.kept: dict | None = None

    def finite(self, iteration: int, **values: torch.Tensor) -> None:
        if self.immediate:
            return check_finite(iteration, **values)
        for name, value in values.items():
            value = value.detach()
            self.pending.append((iteration, name, ~torch.isfinite(value), value))

    def bounded(self, iteration: int, largest: torch.Tensor | None) -> None:
        if largest is None:
            return
        if self.immediate:
            return check_bound(iteration, float(largest), self.bound)
        self.pending.append((iteration, "output", ~(largest <= self.bound), largest))

    def flush(self) -> None:
        if not self.pending:
            return
        flags = torch.stack([flag for _, _, flag, _ in self.pending]).tolist()
        for (iteration, name, _, value), bad in zip(self.pending, flags):
            if bad:
                self.pending.clear()
                if name == "output":
                    check_bound(iteration, float(value), self.bound)
                check_finite(iteration, **{name: value})
        self.pending.clear()

    def keep(self, generator: nn.Module) -> None:
        if not self.immediate:
            self.kept = {key: value.clone() for key, value in generator.state_dict().items()}

    def restore(self, generator: nn.Module) -> None:
        if self.kept is not None:
            generator.load_state_dict(self.kept)


def total_grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return torch.cat(grads).norm() if grads else torch.zeros(())


class OutputMonitor:
    """Tracks the largest |critic output| of the current step through a forward hook, so the
    divergence bound holds for every loss without the losses reporting their raw outputs."""

    def __init__(self, critic: nn.Module) -> None:
        self.largest: torch.Tensor | None = None  # on the device: no host synchronisation per forward
        critic.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        largest = output.detach().abs().amax().float()
        # fmax ignores NaN, as the Python max of floats did (a NaN output fails the loss check)
        self.largest = torch.fmax(largest if self.largest is None else self.largest, largest)

    def reset(self) -> None:
        self.largest = None


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
