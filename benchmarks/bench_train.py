"""Seconds per generator iteration of representative cells on this machine (prints, asserts nothing).

    python benchmarks/bench_train.py [--iterations 20] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from wganbench.config import parse_overrides, resolve_cell
from wganbench.train import train

CELLS = [
    ("wgan-gp", "mlp", "8gaussians", []),
    ("nsgan", "dcgan", "digits", ["image_size=32"]),
    ("wgan", "dcgan", "digits", ["image_size=32", "critic_warmup=null"]),
    ("wgan-gp", "dcgan", "digits", ["image_size=32"]),
    ("cramer", "dcgan", "digits", ["image_size=32"]),
    ("sngan", "dcgan-nobn", "digits", ["image_size=32"]),
    ("nsgan", "mlp", "digits", ["image_size=32"]),
    ("wgan", "dcgan", "stacked-digits", ["image_size=64", "critic_warmup=null"]),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"{'objective':10} {'arch':11} {'dataset':15} {'s/iter':>8} {'critic steps/iter':>18}")
    for objective, arch, dataset, sets in CELLS:
        cfg = resolve_cell({"objective": objective, "arch": arch, "dataset": dataset, "iterations": args.iterations},
                           overrides=parse_overrides(sets + [f"device={args.device}", "log_every=1",
                                                             "checkpoint_every=100000", "sample_count=64"]))
        with tempfile.TemporaryDirectory() as tmp:
            train(cfg, tmp, progress=False)
            wall = json.loads((Path(tmp) / "provenance.json").read_text())["wall_seconds"]
        per_iter = wall / args.iterations
        print(f"{objective:10} {arch:11} {dataset:15} {per_iter:8.3f} {cfg['n_critic']:>18}")


if __name__ == "__main__":
    main()
