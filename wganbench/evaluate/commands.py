"""CLI: `wganbench evaluate RUN_DIR [RUN_DIR ...]` and `wganbench extractor train --dataset NAME`."""

from __future__ import annotations

import argparse
import json

from .settings import read_settings_file, resolve_settings, schema


def _overrides(pairs: list[str]) -> dict:
    from ..config import parse_overrides  # the same KEY=VALUE typing as `wganbench train --set`

    return parse_overrides(pairs)


def _evaluate(args: argparse.Namespace) -> int:
    from .records import curves, values
    from .run import evaluate_run

    given = read_settings_file(args.settings_file) if args.settings_file else {}
    settings = resolve_settings(given, _overrides(args.set))
    for run_dir in args.run_dirs:  # several runs in one process: one start-up for all seeds of a cell
        metrics = evaluate_run(run_dir, settings)
        report = {"run": run_dir, "metrics": values(metrics), "curve_points": len(curves(metrics))}
        print(json.dumps(report, sort_keys=True, default=str))
    return 0


def _train_extractor(args: argparse.Namespace) -> int:
    from .classifier.files import extractor_path, train_extractor
    from .classifier.training import TrainingSettings

    out = args.out or extractor_path(schema()["properties"]["extractor_dir"]["default"], args.dataset,
                                     args.image_size)
    info = train_extractor(args.dataset, args.image_size, out, args.data_root, TrainingSettings(seed=args.seed))
    print(json.dumps({"path": str(out), **{key: info[key] for key in (
        "sha256", "class_test_accuracy", "mode_test_accuracy", "num_modes", "train_seconds")}}, sort_keys=True))
    return 0


def _levels(args: argparse.Namespace) -> int:
    from .levels import write_levels

    given = read_settings_file(args.settings_file) if args.settings_file else {}
    settings = resolve_settings(given, _overrides(args.set))
    result = write_levels(args.out, args.dataset, args.image_size, args.count, settings, args.data_root)
    print(json.dumps({"path": args.out, "levels": result["levels"]}, sort_keys=True, default=str))
    return 0


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `evaluate` and `extractor train` to the `wganbench` parser."""
    evaluate = subparsers.add_parser("evaluate", help="measure a run folder into RUN_DIR/metrics.json")
    evaluate.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders written by `wganbench train`")
    evaluate.add_argument("--settings-file", default=None, metavar="FILE",
                          help="YAML with the evaluation settings, or a workflow config with an `evaluation:` key")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override one evaluation setting (e.g. feature_extractor=wganbench-classifier)")
    evaluate.set_defaults(func=_evaluate)

    levels = subparsers.add_parser(
        "evaluate-levels", help="measure a perfect (real train) and a constant generator: the learned threshold's ends")
    levels.add_argument("--dataset", required=True)
    levels.add_argument("--image-size", type=int, default=None, help="image size of the runs (image data sets)")
    levels.add_argument("--count", type=int, required=True, help="samples per generator: the runs' sample_count")
    levels.add_argument("--out", required=True, help="JSON file to write")
    levels.add_argument("--data-root", default=None, help="folder of torchvision data sets, where needed")
    levels.add_argument("--settings-file", default=None, metavar="FILE", help="as for `wganbench evaluate`")
    levels.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as for `wganbench evaluate`")
    levels.set_defaults(func=_levels)

    extractor = subparsers.add_parser("extractor", help="the offline feature extractor (a classifier)")
    actions = extractor.add_subparsers(dest="extractor_command", required=True)
    train = actions.add_parser("train", help="train the classifier of a labelled data set (deterministic)")
    train.add_argument("--dataset", required=True, help="digits, stacked-digits or any data set with labels")
    train.add_argument("--image-size", type=int, default=32, help="the image size of the runs it will measure")
    train.add_argument("--out", default=None,
                       help="file to write (default: results/extractors/<dataset>-<size>px-v<N>.pt)")
    train.add_argument("--data-root", default=None, help="folder of torchvision data sets, where needed")
    train.add_argument("--seed", type=int, default=0, help="training seed (changes the weights and their hash)")
    train.set_defaults(func=_train_extractor)

