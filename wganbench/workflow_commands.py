"""`wganbench aggregate` and `wganbench figures`: the workflow's last two steps as CLI commands.

Registered by ``wganbench.cli`` when this module exists; each Snakemake rule calls one command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .registry import ConfigError


def _aggregate(args: argparse.Namespace) -> int:
    from .aggregate import Settings, aggregate

    settings = Settings(baseline=args.baseline, confidence=args.confidence,
                        bootstrap_resamples=args.resamples, alpha=args.alpha, seed=args.seed)
    missing = [d for d in args.run_dirs if not (Path(d) / "config.yaml").exists()]
    if missing:
        raise ConfigError(f"run folder {missing[0]} has no config.yaml; train it first")
    for path in aggregate([Path(d) for d in args.run_dirs], Path(args.runs_root), Path(args.out), settings,
                          Path(args.benchmarks) if args.benchmarks else None):
        print(path)
    return 0


def _figures(args: argparse.Namespace) -> int:
    from .figures import Options, draw

    metrics = {}
    for pair in args.metric:
        experiment, sep, metric = pair.partition("=")
        if not sep or not experiment or not metric:
            raise ConfigError(f"--metric {pair!r}: expected EXPERIMENT=METRIC")
        metrics[experiment] = metric
    print(draw(args.kind, Path(args.tables), Path(args.out), Options(experiment=args.experiment, metrics=metrics)))
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:
    agg = sub.add_parser("aggregate", help="gather run folders into results/tables (runs, summary, curves)")
    agg.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders to include")
    agg.add_argument("--runs-root", required=True, help="folder the run folders live under (<experiment>/... below it)")
    agg.add_argument("--benchmarks", default=None, help="folder of Snakemake benchmark files (train/, evaluate/)")
    agg.add_argument("--out", required=True, help="tables folder")
    agg.add_argument("--baseline", default="nsgan", help="objective the others are tested against")
    agg.add_argument("--confidence", type=float, default=0.95, help="bootstrap interval level")
    agg.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    agg.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm's correction")
    agg.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    agg.set_defaults(func=_aggregate)

    fig = sub.add_parser("figures", help="draw one report figure from results/tables")
    fig.add_argument("kind", help="samples, curves, estimate-vs-quality, distributions, success")
    fig.add_argument("--tables", required=True, help="folder with runs/summary/curves tables")
    fig.add_argument("--out", required=True, help="image file to write (PNG)")
    fig.add_argument("--experiment", default=None, help="experiment of a sample grid")
    fig.add_argument("--metric", action="append", default=[], metavar="EXPERIMENT=METRIC",
                     help="metric plotted for an experiment (default: its first metric)")
    fig.set_defaults(func=_figures)
