"""K seeds as one `wganbench train --seeds` process vs K separate `wganbench train` processes run
one after another (sequentially, as a 1-core job slot would). Prints a markdown table; asserts nothing.

    python benchmarks/bench_ensemble.py [--iterations 20] [--ks 1,2,4,8] [--device auto]

Wall time is the whole process (start-up, imports, data, training, samples); "loop s/it" is the
training loop alone, from the runs' own log (wall_seconds at the last iteration / iterations).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS = {  # name -> (objective, arch, dataset, extra --set items)
    "toy wgan-gp (8gaussians, mlp 512, batch 256, n_critic 5)": ("wgan-gp", "mlp", "8gaussians", []),
    "digits 16px nsgan dcgan (batch 64)": ("nsgan", "dcgan", "digits", ["image_size=16"]),
}


def command(cell: tuple, seeds: list[int], out: Path, iterations: int, device: str) -> list[str]:
    objective, arch, dataset, sets = cell
    args = [sys.executable, "-m", "wganbench.cli", "train", "--objective", objective, "--arch", arch,
            "--dataset", dataset, "--iterations", str(iterations)]
    if out.name == "sep":  # a plain single run
        args += ["--seed", str(seeds[0]), "--out", str(out / f"seed{seeds[0]}")]
    else:
        args += ["--seeds", ",".join(map(str, seeds)), "--out", str(out / "seed{seed}")]
    for item in sets + [f"log_every={iterations}", "sample_count=256", f"device={device}", "threads=1"]:
        args += ["--set", item]
    return args


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def loop_seconds(run: Path) -> float:
    with (run / "log.csv").open() as handle:
        return float(list(csv.DictReader(handle))[-1]["wall_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--ks", default="1,2,4,8")
    parser.add_argument("--digits-ks", default="1,4")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"{args.iterations} generator iterations per run; separate runs are run sequentially.\n")
    print("| cell | K | ensemble wall s | K separate wall s | separate / ensemble | ensemble loop s/it | "
          "one run's loop s/it |")
    print("|---|---|---|---|---|---|---|")
    for (name, cell), ks in zip(CELLS.items(), (args.ks, args.digits_ks)):
        for k in [int(x) for x in ks.split(",")]:
            seeds = list(range(k))
            with tempfile.TemporaryDirectory() as tmp:
                ensemble = timed(command(cell, seeds, Path(tmp) / "ens", args.iterations, args.device))
                ens_loop = loop_seconds(Path(tmp) / "ens" / "seed0") / args.iterations
                separate = sum(timed(command(cell, [s], Path(tmp) / "sep", args.iterations, args.device))
                               for s in seeds)
                sep_loop = loop_seconds(Path(tmp) / "sep" / "seed0") / args.iterations
            print(f"| {name} | {k} | {ensemble:.1f} | {separate:.1f} | {separate / ensemble:.2f} | "
                  f"{ens_loop:.3f} | {sep_loop:.3f} |", flush=True)


if __name__ == "__main__":
    main()
