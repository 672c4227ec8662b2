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
    from .config import load_grid_config, parse_overrides, resolve_cell
    from .train import EXIT_REQUEUE, Interrupted, train

    cell = {"objective": args.objective, "arch": args.arch, "dataset": args.dataset,
            "seed": args.seed, "iterations": args.iterations}
    if args.critic is not None:
        cell["critic"] = args.critic
    cfg = resolve_cell(cell, load_grid_config(args.config), parse_overrides(args.set))
    try:
        status = train(cfg, args.out, restart=args.restart, restart_if_changed=args.restart_if_changed,
                       restart_if_corrupt=args.restart_if_corrupt)
    except Interrupted as exc:
        print(f"wganbench: interrupted by {exc}", file=sys.stderr)
        return EXIT_REQUEUE
    print(json.dumps(status))
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
    train.add_argument("--objective", required=True, help="built-in or configured objective name")
    train.add_argument("--arch", required=True, help="generator architecture: dcgan, dcgan-nobn, mlp")
    train.add_argument("--critic", default=None, help="critic architecture (default: the paper's pairing)")
    train.add_argument("--dataset", required=True)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--iterations", type=int, required=True, help="generator iterations")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--config", default=None, help="grid config file with `objectives:` and `defaults:`")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a resolved-config key, dotted for nesting (optimizer.lr=1e-3)")
    train.add_argument("--restart", action="store_true", help="ignore any checkpoint and train from iteration 0")
    train.add_argument("--restart-if-changed", action="store_true",
                       help="start over when the checkpoint was written under another config (else an error)")
    train.add_argument("--restart-if-corrupt", action="store_true",
                       help="start over when the checkpoint is unreadable (else an error naming it)")
    train.set_defaults(func=_train)

    theory = sub.add_parser("theory", help="run a theory experiment (table + figure)")
    theory.add_argument("name", help="bernoulli, parallel-lines, critic-vs-discriminator, divergences, f-divergences")
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
