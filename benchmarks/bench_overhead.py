"""wganbench's training loop against a bare PyTorch loop: generator iterations/s, peak memory, ratio.

    python benchmarks/bench_overhead.py --quick            # toy + 32 px rows, a few minutes on 2 CPU cores
    python benchmarks/bench_overhead.py --device cuda      # every row, 32 and 64 px, on the GPU

Each row is one architecture x objective family x image size. In the same process it times
(a) ``wganbench.train.train`` on a cell from ``resolve_cell`` with the defaults a user gets
(log every 10, checkpoint every 100, divergence checks, progress bar on; its output goes to
/dev/null), and (b) a bare loop written here as a paper's reference code would be: the same
networks (``build_generator``/``build_critic`` and the same Lipschitz ``prepare``), the same losses
written inline, the same optimisers and n_critic, a shuffled in-memory batch, nothing else.

Steady state only: wganbench's time is the ``wall_seconds`` difference between two logged
iterations of ``log.csv`` (start-up, final samples and figures fall outside); the bare loop is timed
over the same iterations after the same warm-up. Runs alternate (a b, b a, ...) and each figure is
the median over ``--repeats``. ratio = wganbench it/s / bare it/s (target >= 0.95), from wall
time and from main-thread CPU time (``time.thread_time``, read at the same log rows through a
wrapper of ``RunDir.append_log``): with one torch thread all compute runs on the main thread, so on
a machine shared with other work the CPU ratio is the one to trust, the wall ratio the one to
quote on an idle machine or a GPU (where the CPU ratio means little). The WGAN
warm-up schedule (100 critic steps for the first 25 iterations) is switched off in both, so every
measured iteration has n_critic critic steps. Both run under wganbench's determinism settings and
the same ``--threads``.

Peak memory: CUDA ``torch.cuda.max_memory_allocated`` above the allocation at the run's start; CPU
the largest resident set size (``/proc/self/statm``, sampled every 2 ms by a thread) above the RSS at
the run's start, so memory freed by an earlier run and reused reads lower; compare rows, not digits.
``ckpt ms`` is one ``RunDir.save_checkpoint`` of the run's state (wganbench pays it every 100
iterations; it is inside the measured span only when the span crosses a multiple of 100).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn

from wganbench.config import parse_overrides, resolve_cell
from wganbench.data import is_toy, load_dataset
from wganbench.device import pick_device
from wganbench.models import build_critic, build_generator
from wganbench.objectives import build_lipschitz, build_optimizer
from wganbench.rundir import RunDir
from wganbench.train import make_deterministic, train

# --- the bare loop's losses, written out as reference code would -------------------------------

Critic = nn.Module


def gradient_penalty(value: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0) -> torch.Tensor:
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(value(x_hat).sum(), x_hat, create_graph=True)
    return weight * ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


class BareLoss:
    """One objective family's critic and generator losses; ``after_critic_step`` for clipping."""

    fake_batches = 1

    def critic_loss(self, critic: Critic, real: torch.Tensor, fakes: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, critic: Critic, real: torch.Tensor, fakes: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def after_critic_step(self, critic: Critic) -> None:
        pass


class WassersteinClip(BareLoss):
    def critic_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return critic(fakes[0]).mean() - critic(real).mean()

    def generator_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return -critic(fakes[0]).mean()

    @torch.no_grad()
    def after_critic_step(self, critic: Critic) -> None:
        for p in critic.parameters():
            p.clamp_(-0.01, 0.01)


class WassersteinGP(WassersteinClip):
    def critic_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        loss = critic(fakes[0]).mean() - critic(real).mean()
        return loss + gradient_penalty(lambda x: critic(x).view(-1), real, fakes[0])

    def after_critic_step(self, critic: Critic) -> None:
        pass


class NonSaturating(BareLoss):
    def critic_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return F.softplus(-critic(real)).mean() + F.softplus(critic(fakes[0])).mean()

    def generator_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return F.softplus(-critic(fakes[0])).mean()


class Cramer(BareLoss):
    """Bellemare et al. algorithm 1 with f(x) = ||h(x) - h(x'_g)|| - ||h(x)||."""

    fake_batches = 2

    @staticmethod
    def f(h_x: torch.Tensor, h_ref: torch.Tensor) -> torch.Tensor:
        return (h_x - h_ref).norm(dim=1) - h_x.norm(dim=1)

    def critic_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        h_real, h_fake, h_fake2 = critic(real), critic(fakes[0]), critic(fakes[1])
        loss = -(self.f(h_real, h_fake2) - self.f(h_fake, h_fake2)).mean()
        return loss + gradient_penalty(lambda x: self.f(critic(x), critic(fakes[1])), real, fakes[0])

    def generator_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        h_real, h_fake, h_fake2 = critic(real), critic(fakes[0]), critic(fakes[1])
        return ((h_real - h_fake).norm(dim=1) + (h_real - h_fake2).norm(dim=1) - (h_fake - h_fake2).norm(dim=1)).mean()


class ForwardKL(BareLoss):
    """f-GAN, KL: critic maximises E_P[v] - E_Q[exp(v - 1)]; generator the alternative -E_Q[v]."""

    def critic_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return torch.exp(critic(fakes[0]) - 1.0).mean() - critic(real).mean()

    def generator_loss(self, critic, real, fakes):  # type: ignore[no-untyped-def]
        return -critic(fakes[0]).mean()


# objective family -> (wganbench built-in objective, bare loss)
FAMILIES: dict[str, tuple[str, type[BareLoss]]] = {
    "clip": ("wgan", WassersteinClip),
    "gp": ("wgan-gp", WassersteinGP),
    "sn": ("sngan", NonSaturating),
    "cramer": ("cramer", Cramer),
    "f-gan": ("f-kl", ForwardKL),
}
IMAGE_ARCHS = ("dcgan", "dcgan-nobn", "mlp")


# --- the bare loop's data: a shuffled in-memory tensor or fresh mixture samples -----------------

def image_sampler(dataset: object, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    images = dataset.splits["train"][0].to(device)  # type: ignore[attr-defined]
    while True:
        order = torch.randperm(len(images), device=device)
        for start in range(0, len(images) - batch_size + 1, batch_size):
            yield images[order[start:start + batch_size]]


def mixture_sampler(dataset: object, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    centres, std = dataset.centres.to(device), dataset.std  # type: ignore[attr-defined]
    while True:
        modes = torch.randint(len(centres), (batch_size,), device=device)
        yield centres[modes] + std * torch.randn(batch_size, 2, device=device)


SAMPLERS = {"image": image_sampler, "toy": mixture_sampler}


# --- measurement helpers -------------------------------------------------------------------------

class PeakMemory:
    """Peak memory above the level at entry: CUDA allocator statistics, or sampled RSS on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak_mb = device, float("nan")

    def __enter__(self) -> Self:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        else:
            self._start = self._peak = rss_bytes()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, rss_bytes())
        self.peak_mb = (peak - self._start) / 2**20


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the lifetime peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@dataclass
class Row:
    arch: str
    dataset: str
    size: int | None
    family: str

    @property
    def objective(self) -> str:
        return FAMILIES[self.family][0]


@dataclass
class Timing:
    seconds: float  # wall time of the measured iterations
    cpu_seconds: float  # main-thread CPU time of the same iterations (robust to other processes' load)
    peak_mb: float


@contextlib.contextmanager
def cpu_clock_at_log_rows() -> Iterator[dict[int, float]]:
    """Main-thread CPU time at each log.csv append, keyed by iteration: the CPU counterpart of the
    log's wall_seconds (with one torch thread all compute runs on the calling thread)."""
    clock: dict[int, float] = {}
    original = RunDir.append_log

    def append_log(self: RunDir, row: dict) -> None:
        clock[int(row["iteration"])] = time.thread_time()
        original(self, row)

    RunDir.append_log = append_log  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        RunDir.append_log = original  # type: ignore[method-assign]


def cell(row: Row, args: argparse.Namespace, iterations: int) -> dict:
    sets = [f"device={args.device}", f"threads={args.threads}", "critic_warmup=null"]
    if row.size is not None:
        sets.append(f"image_size={row.size}")
    return resolve_cell({"objective": row.objective, "arch": row.arch, "dataset": row.dataset,
                         "iterations": iterations}, overrides=parse_overrides(sets))


def time_wganbench(cfg: dict, warmup: int, measure: int) -> tuple[Timing, float]:
    """(steady-state timing from log.csv, milliseconds of one checkpoint save)."""
    with tempfile.TemporaryDirectory(prefix="wganbench-overhead-") as tmp:
        with (open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull),
              PeakMemory(pick_device(cfg["device"])) as memory, cpu_clock_at_log_rows() as cpu):
            status = train(cfg, tmp, progress=True)
        if status["status"] != "completed":
            raise RuntimeError(f"{cfg['objective']}/{cfg['arch']}: {status}")
        with open(Path(tmp) / "log.csv", newline="") as handle:
            wall = {int(r["iteration"]): float(r["wall_seconds"]) for r in csv.DictReader(handle)}
        run = RunDir(tmp)
        state = run.load_checkpoint()
        start = time.perf_counter()
        run.save_checkpoint(state)
        checkpoint_ms = 1000 * (time.perf_counter() - start)
    end = warmup + measure
    return Timing(wall[end] - wall[warmup], cpu[end] - cpu[warmup], memory.peak_mb), checkpoint_ms


def time_bare(cfg: dict, family: str, warmup: int, measure: int) -> Timing:
    device = pick_device(cfg["device"])
    with PeakMemory(device) as memory:
        dataset = load_dataset(cfg["dataset"], image_size=cfg["image_size"])
        shape = dataset.sample_shape
        loss = FAMILIES[family][1]()
        torch.manual_seed(cfg["seed"])
        generator = build_generator(cfg, shape).to(device)
        outputs = cfg["loss"].get("features", 1) if isinstance(cfg["loss"], dict) else 1
        critic = build_critic(cfg, shape, outputs)
        for method in build_lipschitz(cfg["lipschitz"]):
            critic = method.prepare(critic)
        critic = critic.to(device)
        opt_critic = build_optimizer(cfg["optimizer"], critic.parameters())
        opt_generator = build_optimizer(cfg["generator_optimizer"] or cfg["optimizer"], generator.parameters())
        data = SAMPLERS["toy" if is_toy(cfg["dataset"]) else "image"](dataset, cfg["batch_size"], device)
        batch, nz, n_critic = cfg["batch_size"], cfg["nz"], cfg["n_critic"]

        def iterations(count: int) -> None:
            for _ in range(count):
                critic.requires_grad_(True)
                for _ in range(n_critic):
                    real = next(data)
                    with torch.no_grad():
                        fakes = [generator(torch.randn(batch, nz, device=device)) for _ in range(loss.fake_batches)]
                    critic_loss = loss.critic_loss(critic, real, fakes)
                    opt_critic.zero_grad(set_to_none=True)
                    critic_loss.backward()
                    opt_critic.step()
                    loss.after_critic_step(critic)
                critic.requires_grad_(False)
                fakes = [generator(torch.randn(batch, nz, device=device)) for _ in range(loss.fake_batches)]
                generator_loss = loss.generator_loss(critic, real, fakes)
                opt_generator.zero_grad(set_to_none=True)
                generator_loss.backward()
                opt_generator.step()

        iterations(warmup)
        sync(device)
        start, start_cpu = time.perf_counter(), time.thread_time()
        iterations(measure)
        sync(device)
        seconds, cpu_seconds = time.perf_counter() - start, time.thread_time() - start_cpu
    return Timing(seconds, cpu_seconds, memory.peak_mb)


def measure_row(row: Row, args: argparse.Namespace) -> dict:
    cfg = cell(row, args, args.warmup + args.measure)
    ours, bare, checkpoints = [], [], []
    for repeat in range(args.repeats):
        for variant in (("ours", "bare") if repeat % 2 == 0 else ("bare", "ours")):
            if variant == "ours":
                timing, checkpoint_ms = time_wganbench(cfg, args.warmup, args.measure)
                ours.append(timing)
                checkpoints.append(checkpoint_ms)
            else:
                bare.append(time_bare(cfg, row.family, args.warmup, args.measure))
    median = lambda timings, key: statistics.median(getattr(t, key) for t in timings)
    ours_s, bare_s = median(ours, "seconds"), median(bare, "seconds")
    return {"ours_its": args.measure / ours_s, "bare_its": args.measure / bare_s, "ratio": bare_s / ours_s,
            "cpu_ratio": median(bare, "cpu_seconds") / median(ours, "cpu_seconds"),
            "ours_mb": median(ours, "peak_mb"), "bare_mb": median(bare, "peak_mb"),
            "ckpt_ms": statistics.median(checkpoints)}


def rows(args: argparse.Namespace) -> list[Row]:
    families = args.families or list(FAMILIES)
    selected = []
    if "toy" in args.archs:
        selected += [Row("mlp", "8gaussians", None, f) for f in families]
    for size in args.sizes:
        selected += [Row(a, "digits", size, f) for a in IMAGE_ARCHS if a in args.archs for f in families]
    return selected


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy and 32 px rows, 10 + 10 iterations, 2 repeats")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both loops")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="image sizes (default 32 64)")
    parser.add_argument("--archs", nargs="+", default=["toy", *IMAGE_ARCHS], help="toy and/or image archs")
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=None)
    parser.add_argument("--warmup", type=int, default=None, help="iterations before timing (multiple of 10)")
    parser.add_argument("--measure", type=int, default=None, help="timed iterations (multiple of 10)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    quick = {"sizes": [32], "warmup": 10, "measure": 10, "repeats": 2}
    full = {"sizes": [32, 64], "warmup": 10, "measure": 100, "repeats": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("warmup", "measure"):
        if getattr(args, key) % 10:
            parser.error(f"--{key} must be a multiple of 10 (log.csv has a row every 10 iterations)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    make_deterministic({"threads": args.threads})  # the same flags and threads for both loops
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    memory = "CUDA max_memory_allocated" if device.type == "cuda" else "sampled RSS"
    print(f"device: {name}; torch {torch.__version__}; {args.warmup} warm-up + {args.measure} timed "
          f"iterations, median of {args.repeats}; peak memory = {memory} above the run's start\n")
    print("| arch | data | px | objective | wganbench it/s | bare it/s | ratio (wall) | ratio (CPU) "
          "| wganbench MB | bare MB | ckpt ms |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows(args):
        r = measure_row(row, args)
        print(f"| {row.arch} | {row.dataset} | {row.size or '-'} | {row.objective} | {r['ours_its']:.2f} | "
              f"{r['bare_its']:.2f} | {r['ratio']:.3f} | {r['cpu_ratio']:.3f} | {r['ours_mb']:.0f} | {r['bare_mb']:.0f} | "
              f"{r['ckpt_ms']:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
