"""`wganbench train|theory|evaluate|extractor ...`: one command per workflow step.

Bad input ends with one line on stderr (``wganbench: error: ...``) and exit code 2, before any
data is loaded or anything already computed is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from .registry import ConfigError


def _train(args: argparse.Namespace) -> int:
    from .config import load_cells, load_grid_config, parse_overrides, resolve_cell
    from .train import EXIT_REQUEUE, Interrupted, member_folders, train, train_seeds

    if args.cell:  # resolved cells (the workflow writes one per seed): validated, never resolved again
        cfg, seeds = load_cells(args.cell, threads=args.threads)
        seeds = seeds if len(seeds) > 1 else None
    else:
        given = {"objective": args.objective, "arch": args.arch, "dataset": args.dataset, "iterations": args.iterations}
        missing = [f"--{key}" for key, value in given.items() if value is None]
        if missing:
            raise ConfigError(f"{', '.join(missing)} required (or --cell FILE, a resolved cell)")
        cell = {**given, "seed": args.seed}
        if args.critic is not None:
            cell["critic"] = args.critic
        overrides = parse_overrides(args.set + ([f"threads={args.threads}"] if args.threads else []))
        cfg, seeds = resolve_cell(cell, load_grid_config(args.config), overrides), args.seeds
    flags = {"restart": args.restart, "restart_if_changed": args.restart_if_changed,
             "restart_if_corrupt": args.restart_if_corrupt}
    try:
        if seeds is None:
            print(json.dumps(train(cfg, args.out, **flags)))
            return 0
        member_folders(args.out, seeds)  # a bad pattern is an error before anything is loaded
        for seed, status in zip(seeds, train_seeds(cfg, seeds, args.out, **flags)):
            print(json.dumps({"seed": seed, **status}))
    except Interrupted as exc:
        print(f"wganbench: interrupted by {exc}", file=sys.stderr)
        return EXIT_REQUEUE
    return 0


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of seeds, e.g. 0,1,2") from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: seeds are integers >= 0")
    return seeds


def _data_cache(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .data.cache import build_cache, cache_folder
    from .data.images import TorchvisionImages

    source = load_dataset(args.dataset, image_size=args.image_size, data_root=args.data_root, workers=args.workers)
    if not isinstance(source, TorchvisionImages):
        raise ConfigError(f"--dataset {args.dataset}: only data sets read from a data root are cached "
                          "(the others are generated or held in memory)")
    print(json.dumps(build_cache(source, cache_folder(args.out, args.dataset, args.image_size))))
    return 0


def _theory(args: argparse.Namespace) -> int:
    from .theory import EXPERIMENTS

    experiment = EXPERIMENTS.get(args.name, key="theory")
    for path in experiment(Path(args.out), seed=args.seed):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wganbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one grid cell into a run folder")
    train.add_argument("--cell", action="append", default=[], metavar="FILE",
                       help="a resolved cell (a run folder's config.yaml; the workflow writes results/cells/...): "
                            "instead of --objective/--arch/--dataset/--iterations/--config/--set; given once "
                            "per seed, the seeds train in one process (--out must contain {seed})")
    train.add_argument("--objective", help="built-in or configured objective name")
    train.add_argument("--arch", help="generator architecture: dcgan, dcgan-nobn, mlp, standard-cnn")
    train.add_argument("--critic", default=None, help="critic architecture (default: the paper's pairing)")
    train.add_argument("--dataset")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0)
    seeds.add_argument("--seeds", type=_seed_list, default=None, metavar="0,1,2",
                       help="train these seeds in one process as a batched ensemble; --out must contain {seed}")
    train.add_argument("--iterations", type=int, help="generator iterations")
    train.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads (what the job was given; does not change the numbers a run resumes to)")
    train.add_argument("--out", required=True, help="run folder ('results/runs/x/seed{seed}' with --seeds)")
    train.add_argument("--config", default=None, help="grid config file with `objectives:` and `defaults:`")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a resolved-config key, dotted for nesting (optimizer.lr=1e-3)")
    train.add_argument("--restart", action="store_true", help="ignore any checkpoint and train from iteration 0")
    train.add_argument("--restart-if-changed", action="store_true",
                       help="start over when the checkpoint was written under another config (else an error)")
    train.add_argument("--restart-if-corrupt", action="store_true",
                       help="start over when the checkpoint is unreadable (else an error naming it)")
    train.set_defaults(func=_train)

    cache = sub.add_parser("data-cache", help="decode a torchvision data set once into uint8 arrays (cell key data_cache)")
    cache.add_argument("--dataset", required=True, help="mnist, cifar10, lsun-bedroom, celeba or image-folder")
    cache.add_argument("--image-size", type=int, required=True)
    cache.add_argument("--data-root", required=True, help="the data set's folder, as the cell's data_root")
    cache.add_argument("--out", required=True, help="cache folder (the cell's data_cache); <dataset>-<size>px/ goes in it")
    cache.add_argument("--workers", type=int, default=4, help="decoding processes")
    cache.set_defaults(func=_data_cache)

    from .theory import EXPERIMENTS  # names only: the experiments' modules load on first use

    theory = sub.add_parser("theory", help="run a theory experiment (table + figure)")
    theory.add_argument("name", help=", ".join(EXPERIMENTS))
    theory.add_argument("--out", required=True)
    theory.add_argument("--seed", type=int, default=0)
    theory.set_defaults(func=_theory)

    for register in _plugin_commands():
        register(sub)
    return parser


def _plugin_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Sub-commands that live with their subsystem (evaluate, aggregate, ...)."""
    found = []
    for module in ("wganbench.evaluate.commands", "wganbench.workflow_commands"):
        try:
            imported = __import__(module, fromlist=["register_commands"])
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        found.append(imported.register_commands)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        parser.exit(2, f"wganbench: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "wganbench: interrupted\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
