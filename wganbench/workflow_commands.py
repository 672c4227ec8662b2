"""`wganbench aggregate` and `wganbench figures`: the workflow's last two steps as CLI commands.

Registered by ``wganbench.cli`` when this module exists; each Snakemake rule calls one command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .registry import ConfigError


def _aggregate(args: argparse.Namespace) -> int:
    from .aggregate import Settings, aggregate
    from .trend import TrendRule

    settings = Settings(baseline=args.baseline, confidence=args.confidence,
                        bootstrap_resamples=args.resamples, alpha=args.alpha, seed=args.seed,
                        still_improving=_trend_rule(args.still_improving, TrendRule))
    missing = [d for d in args.run_dirs if not (Path(d) / "config.yaml").exists()]
    if missing:
        raise ConfigError(f"run folder {missing[0]} has no config.yaml; train it first")
    folds = _pairs(args.fold, "--fold", "EXTENDING_EXPERIMENT=PARENT_EXPERIMENT")
    for path in aggregate([Path(d) for d in args.run_dirs], Path(args.runs_root), Path(args.out), settings,
                          Path(args.benchmarks) if args.benchmarks else None, [Path(p) for p in args.levels],
                          folds=folds):
        print(path)
    return 0


def _trend_rule(pairs: list[str], rule_class: type) -> Any:
    """``--still-improving KEY=VALUE`` pairs (the grid config's ``aggregate.still_improving``)."""
    fields = {name: field.type for name, field in rule_class.__dataclass_fields__.items()}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in fields:
            raise ConfigError(f"--still-improving {pair!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        try:
            values[key] = int(text) if fields[key] in (int, "int") else float(text)
        except ValueError:
            raise ConfigError(f"--still-improving {pair!r}: {text!r} is not a number") from None
    return rule_class(**values)


def _pairs(given: list[str], flag: str, form: str) -> dict[str, str]:
    """``["a=b", ...]`` of a repeatable flag as a mapping; a malformed pair is one line naming the flag."""
    found = {}
    for pair in given:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{flag} {pair!r}: expected {form}")
        found[key] = value
    return found


def _figures(args: argparse.Namespace) -> int:
    from .figures import Options, draw

    metrics = _pairs(args.metric, "--metric", "EXPERIMENT=METRIC")
    print(draw(args.kind, Path(args.tables), Path(args.out), Options(experiment=args.experiment, metrics=metrics)))
    return 0


def _claims(args: argparse.Namespace) -> int:
    import pandas as pd

    from .claims.budget import draw_over_budget, settle, verdicts_over_budget
    from .claims.catalogue import load_catalogues
    from .claims.rules import Tables
    from .trend import TrendRule
    from .claims.scorecard import write_scorecard
    from .claims.verdicts import decide

    if not 0 < args.alpha < 0.5:
        raise ConfigError(f"--alpha {args.alpha}: expected a number between 0 and 0.5")
    claims = load_catalogues(args.catalogue)
    tables_dir = Path(args.tables)
    runs_file, curves_file = tables_dir / "runs.parquet", tables_dir / "curves.parquet"
    for path in (runs_file, curves_file):
        if not path.exists():
            raise ConfigError(f"{path} does not exist; run `wganbench aggregate` (or the workflow's aggregate rule) first")
    tables = Tables(pd.read_parquet(runs_file), pd.read_parquet(curves_file), Path(args.results),
                    confidence=1 - 2 * args.alpha, resamples=args.resamples, seed=args.seed)
    verdicts = decide(claims, tables, args.alpha)
    rule = _trend_rule(args.still_improving, TrendRule)
    over_budget = verdicts_over_budget(claims, tables, args.alpha, rule)
    tables_dir.mkdir(parents=True, exist_ok=True)
    over_budget.to_csv(tables_dir / "claims_over_budget.csv", index=False)
    if args.over_budget_figure:
        print(draw_over_budget(over_budget, Path(args.over_budget_figure)))
    settle(verdicts, over_budget, tables.runs, rule.window)
    extra = Path(args.landing_extra).read_text() if args.landing_extra else ""
    if args.study_budget:  # an equal-budget study: its budget curves open the report beside the scorecard
        from .claims.scorecard import budget_block

        extra = budget_block(pd.read_csv(args.study_budget)) + "\n" + extra
    for path in write_scorecard(verdicts, args.alpha, tables_dir, Path(args.markdown),
                                Path(args.landing) if args.landing else None, args.title, extra):
        print(path)
    for verdict in verdicts:
        print(f"{verdict.claim.id}: {verdict.verdict}" + (f" ({verdict.reason})" if verdict.reason else ""))
    return 0


def _study(args: argparse.Namespace) -> int:
    import pandas as pd

    from .study_figures import budget_figure, rerun_figure, trials_figure
    from .study_tables import write_study_tables

    runs_file = Path(args.tables) / "runs.parquet"
    if not runs_file.exists():
        raise ConfigError(f"{runs_file} does not exist; run `wganbench aggregate` first")
    metrics = _pairs(args.metric, "--metric", "EXPERIMENT=METRIC")
    reruns = _pairs(args.rerun, "--rerun", "RERUN_EXPERIMENT=SEARCHED_EXPERIMENT")
    defaults = _pairs(args.defaults, "--defaults", "DEFAULTS_EXPERIMENT=SEARCHED_EXPERIMENT")
    written = write_study_tables(pd.read_parquet(runs_file), metrics, args.baseline, Path(args.out),
                                 resamples=args.resamples, seed=args.seed, reruns=reruns, defaults=defaults)
    for path in written.values():
        print(path)
    print(budget_figure(pd.read_csv(written["budget"]), Path(args.budget_figure)))
    print(trials_figure(pd.read_csv(written["trials"]), Path(args.trials_figure)))
    print(rerun_figure(pd.read_csv(written["rerun"]), Path(args.rerun_figure)))
    return 0


def _study_best(args: argparse.Namespace) -> int:
    from .study_tables import best_trials

    missing = [d for d in args.run_dirs if not (Path(d) / "status.json").exists()]
    if missing:
        raise ConfigError(f"{missing[0]}/status.json does not exist: train and evaluate the trials first")
    table = best_trials([Path(d) for d in args.run_dirs], args.metric)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
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
    agg.add_argument("--levels", action="append", default=[], metavar="FILE",
                     help="reference levels (`wganbench evaluate-levels`) that decide each run's outcome")
    agg.add_argument("--still-improving", action="append", default=[], metavar="KEY=VALUE",
                     help="the still-improving rule (window, min_points, confidence, min_gain; wganbench/trend.py)")
    agg.add_argument("--fold", action="append", default=[], metavar="CHILD=PARENT",
                     help="list an extending experiment's runs under its parent (config key `extends`)")
    agg.set_defaults(func=_aggregate)

    claims = sub.add_parser("claims", help="decide the claims catalogue against results/tables: the scorecard")
    claims.add_argument("--catalogue", action="append", default=[], metavar="FILE",
                        help="claims file(s); none: an empty scorecard (a grid that decides no claim, e.g. a sweep)")
    claims.add_argument("--tables", default="results/tables", help="folder with runs and curves tables")
    claims.add_argument("--results", default="results", help="results folder (theory tables are read below it)")
    claims.add_argument("--markdown", default="results/scorecard.md", help="Markdown scorecard to write")
    claims.add_argument("--landing", default=None, help="reStructuredText landing page for `snakemake --report`")
    claims.add_argument("--landing-extra", default=None, help="reStructuredText appended to the landing page")
    claims.add_argument("--study-budget", default=None, metavar="CSV",
                        help="study_budget_curves.csv of an equal-budget study: its table joins the landing page")
    claims.add_argument("--title", default="wganbench scorecard", help="title of the scorecard")
    claims.add_argument("--alpha", type=float, default=0.05, help="false discovery rate of decided verdicts")
    claims.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    claims.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    claims.add_argument("--still-improving", action="append", default=[], metavar="KEY=VALUE",
                        help="the still-improving rule, as for `wganbench aggregate` (for the verdicts over budget)")
    claims.add_argument("--over-budget-figure", default=None, metavar="PNG",
                        help="draw the verdict-over-budget figure here (claims x snapshot iterations)")
    claims.set_defaults(func=_claims)

    study = sub.add_parser("study", help="equal-budget tables and figures of searched experiments (search:)")
    study.add_argument("--tables", default="results/tables", help="folder with the runs table")
    study.add_argument("--metric", action="append", default=[], required=True, metavar="EXPERIMENT=METRIC",
                       help="the metric each searched experiment is compared by")
    study.add_argument("--baseline", default="nsgan", help="objective every other one is compared with")
    study.add_argument("--rerun", action="append", default=[], metavar="RERUN=SEARCHED",
                       help="an experiment that reran the searched one's best trials with more seeds")
    study.add_argument("--defaults", action="append", default=[], metavar="DEFAULTS=SEARCHED",
                       help="an experiment that reran the searched one's trial 0 (each objective's own setting) "
                            "with the rerun seeds")
    study.add_argument("--out", default="results/tables", help="folder for study_*.csv")
    study.add_argument("--budget-figure", default="results/figures/study-budget.png")
    study.add_argument("--trials-figure", default="results/figures/study-trials.png")
    study.add_argument("--rerun-figure", default="results/figures/study-rerun.png")
    study.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    study.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    study.set_defaults(func=_study)

    best = sub.add_parser("study-best", help="each searched objective's best trial per cell (the rerun checkpoint)")
    best.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="the trials' run folders")
    best.add_argument("--metric", required=True, help="the metric trials are ranked by")
    best.add_argument("--out", required=True, help="CSV to write")
    best.set_defaults(func=_study_best)

    fig = sub.add_parser("figures", help="draw one report figure from results/tables")
    fig.add_argument("kind", help="samples, curves, estimate-vs-quality, estimate-tracking, distributions, success")
    fig.add_argument("--tables", required=True, help="folder with runs/summary/curves tables")
    fig.add_argument("--out", required=True, help="image file to write (PNG)")
    fig.add_argument("--experiment", default=None, help="experiment of a sample grid")
    fig.add_argument("--metric", action="append", default=[], metavar="EXPERIMENT=METRIC",
                     help="metric plotted for an experiment (default: its first metric)")
    fig.set_defaults(func=_figures)
