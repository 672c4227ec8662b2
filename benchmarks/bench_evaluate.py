"""Timings of evaluation: classifier training, a 1,000-sample digits run (cold and warm cache), toy W1.

    python benchmarks/bench_evaluate.py [--image-size 32] [--out /tmp/wganbench-bench]

Prints numbers only; nothing is asserted. Everything goes to a scratch folder, not results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from wganbench.data import load_dataset
from wganbench.evaluate import evaluate_run, values
from wganbench.evaluate.classifier.files import _fit, extractor_path, train_extractor
from wganbench.evaluate.toy import wasserstein1
from wganbench.rundir import RunDir

T = TypeVar("T")


def timed(label: str, action: Callable[..., T], *args: object) -> T:
    start = time.perf_counter()
    result = action(*args)
    print(f"{label:<52} {time.perf_counter() - start:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="wganbench-bench-"))
    size = args.image_size
    settings = {"extractor_dir": str(root / "extractors"), "cache_dir": str(root / "cache"),
                "feature_extractor": "wganbench-classifier", "train_extractor": False}

    for dataset in ("digits", "stacked-digits"):
        _fit.cache_clear()
        info = timed(f"train {dataset} classifier ({size}px)", train_extractor, dataset, size,
                     extractor_path(root / "extractors", dataset, size))
        print(f"    class test accuracy {info['class_test_accuracy']:.4f}, mode test accuracy "
              f"{info['mode_test_accuracy']:.4f}, training alone {info['train_seconds']:.1f} s")

    data = load_dataset("digits", image_size=size)
    run = RunDir(root / "runs" / "digits")
    run.write_config({"dataset": "digits", "image_size": size, "data_root": None, "seed": 0,
                      "objective": "wgan", "arch": "dcgan", "iterations": 1})
    run.write_samples(data.batch(args.samples, seed=0, index=0).numpy(), 1)
    run.write_status("completed", 1)
    timed(f"evaluate digits run, {args.samples} samples, cold cache", evaluate_run, run.path, settings)
    metrics = timed(f"evaluate digits run, {args.samples} samples, warm cache", evaluate_run, run.path, settings)
    print("    " + ", ".join(f"{name} {value:.4g}" for name, value in values(metrics).items()))

    rng = np.random.default_rng(0)
    for points in (1000, 2000):
        x, y = rng.normal(size=(points, 2)), rng.normal(size=(points, 2))
        timed(f"exact W1 (POT emd2), {points} points a side", wasserstein1, x, y)
    print(f"scratch folder: {root}")


if __name__ == "__main__":
    main()
