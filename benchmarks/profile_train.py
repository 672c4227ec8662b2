"""Profiles of the training hot path: torch.profiler operators and cProfile Python functions.

    python benchmarks/profile_train.py [--cell toy|dcgan|all] [--iterations 30] [--top 20]

Cells: ``toy`` = 8gaussians, mlp, wgan-gp; ``dcgan`` = digits 32 px, dcgan, wgan-gp (the user's
defaults otherwise, one torch thread). The first ``--skip`` iterations are excluded from the operator
table through the profiler's schedule (wait/warm-up steps driven by the log.csv appends); cProfile
covers the whole ``train`` call and is sorted by cumulative time, so wganbench's own helpers
(check_finite, total_grad_norm, OutputMonitor, the data batch, checkpoints) show beside the model's
forward and backward. Prints only; nothing is saved unless ``--trace DIR`` asks for a Chrome trace.

For native stacks use py-spy on the same cell (``pip install py-spy``):

    py-spy record --native -o /tmp/toy.svg -- python benchmarks/profile_train.py --cell toy --no-torch-profiler
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
from pathlib import Path

import torch

from wganbench.config import parse_overrides, resolve_cell
from wganbench.train import train

# wganbench's own per-step work beside the math (cProfile function names; missing ones are skipped)
BOOKKEEPING = {
    "total_grad_norm": "critic gradient norm (torch.cat of every gradient) per critic step",
    "finite": "DivergenceGuard.finite: loss / grad-norm checks",
    "check_finite": "float() of each checked value (the host sync on a GPU)",
    "bounded": "DivergenceGuard.bounded: critic output bound",
    "_hook": "OutputMonitor forward hook on every critic call",
    "batch": "data batch (seeded per index)",
    "batch_generator": "per-batch seeded torch.Generator (SeedSequence)",
    "to_device": "moving the batch to the device",
    "<lambda>": "noise draw (CPU generator, then .to(device)) and other lambdas",
    "append_log": "log.csv row",
    "save_checkpoint": "checkpoint.pt",
    "flush": "deferred divergence checks",
    "keep": "generator copy kept for a late divergence",
    "update": "tqdm progress bar",
    "draw_samples": "final fixed-noise samples",
    "write_sample_figure": "samples.png",
}

CELLS = {
    "toy": {"objective": "wgan-gp", "arch": "mlp", "dataset": "8gaussians"},
    "dcgan": {"objective": "wgan-gp", "arch": "dcgan", "dataset": "digits", "image_size": 32},
}


def profile_cell(name: str, args: argparse.Namespace) -> None:
    objective = {"objective": args.objective} if args.objective else {}
    cfg = resolve_cell({**CELLS[name], **objective, "iterations": args.iterations},
                       overrides=parse_overrides([f"threads={args.threads}", f"device={args.device}"]))
    print(f"\n## {name}: {cfg['objective']} / {cfg['arch']} / {cfg['dataset']}"
          f"{'' if cfg['image_size'] is None else ' ' + str(cfg['image_size']) + ' px'}, {args.iterations} iterations")
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        if args.torch_profiler:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if cfg["device"] != "cpu" and torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            with torch.profiler.profile(activities=activities) as prof:
                profiler.enable()
                train(cfg, tmp, progress=False)
                profiler.disable()
            sort = "self_cuda_time_total" if len(activities) > 1 else "self_cpu_time_total"
            print(prof.key_averages().table(sort_by=sort, row_limit=args.top, max_name_column_width=48))
            if args.trace:
                Path(args.trace).mkdir(parents=True, exist_ok=True)
                prof.export_chrome_trace(str(Path(args.trace) / f"{name}.json"))
        else:
            profiler.enable()
            train(cfg, tmp, progress=False)
            profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative")
    stats.print_stats(args.top)
    print("cProfile, cumulative:\n" + "\n".join(text.getvalue().splitlines()[4:]))
    print_bookkeeping(stats)


def print_bookkeeping(stats: pstats.Stats) -> None:
    """Seconds of wganbench's own bookkeeping, by function, as a share of the whole train call."""
    own = ("train.py", "rundir.py", "base.py", "toy.py", "images.py", "std.py", "device.py")
    totals: dict[str, list[float]] = {}
    whole = 0.0
    for (filename, _, name), (_, calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "train.py" and name == "train":
            whole = cumulative
        if filename in own and name in BOOKKEEPING:
            entry = totals.setdefault(name, [0, 0.0])
            entry[0] += calls
            entry[1] += cumulative
    print(f"wganbench bookkeeping inside train() ({whole:.2f} s in all):")
    print("| function | calls | s | % of train() | what |\n|---|---:|---:|---:|---|")
    for name, (calls, seconds) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(f"| {name} | {calls:.0f} | {seconds:.3f} | {100 * seconds / whole:.1f} | {BOOKKEEPING[name]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=[*CELLS, "all"], default="all")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--objective", default=None, help="another objective for the same cells (default wgan-gp)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--no-torch-profiler", dest="torch_profiler", action="store_false")
    parser.add_argument("--trace", default=None, help="folder for Chrome traces (large: not kept in git)")
    args = parser.parse_args()
    for name in CELLS if args.cell == "all" else [args.cell]:
        profile_cell(name, args)


if __name__ == "__main__":
    main()
