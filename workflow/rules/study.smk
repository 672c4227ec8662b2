# Equal-budget comparison (config/README.md, "Equal-budget comparison"): where an experiment has a
# `search:` key, each objective ran as trials <objective>--t<k> (wganbench/search.py expanded them
# when the DAG was built). These rules list the trials' hyperparameters and draw the budget curves.

if SEARCHED:

    checkpoint study_best_trials:
        localrule: True
        input:
            status=lambda wc: [f"{RUN}/status.json".format(**c) for c in experiment_cells(wc.experiment)],
            metrics=lambda wc: [f"{RUN}/metrics.json".format(**c) for c in experiment_cells(wc.experiment)],
        output:
            "results/tables/study_best_trials_{experiment}.csv",
        params:
            metric=lambda wc: study_metric(wc.experiment),
            run_dirs=lambda wc, input: sorted({os.path.dirname(f) for f in input.status}),
        log:
            "results/logs/study_best_trials_{experiment}.log",
        shell:
            "wganbench study-best --metric {params.metric:q} --out {output:q} {params.run_dirs:q} > {log:q} 2>&1"

    rule study_settings:
        localrule: True
        output:
            report(
                "results/tables/study_settings.csv",
                category="Study",
                caption="../report/study-settings.rst",
                labels={"table": "trial hyperparameters"},
            ),
        params:
            trials=SEARCH_TRIALS,
        run:
            import pandas as pd

            rows = [{"name": name, **values} for name, values in params.trials.items()]
            pd.DataFrame(rows).to_csv(output[0], index=False)

    rule study:
        localrule: True
        input:
            runs=rules.aggregate.output.runs,
            settings=rules.study_settings.output,
        output:
            trials="results/tables/study_trials.csv",
            budget=report(
                "results/tables/study_budget_curves.csv",
                category="Study",
                caption="../report/study-budget.rst",
                labels={"table": "budget curves"},
            ),
            comparisons="results/tables/study_comparisons.csv",
            rerun=report(
                "results/tables/study_rerun.csv",
                category="Study",
                caption="../report/study-rerun.rst",
                labels={"table": "best trials, more seeds"},
            ),
            budget_figure=report(
                "results/figures/study-budget.png",
                category="Study",
                caption="../report/study-budget.rst",
                labels={"figure": "budget curves"},
            ),
            trials_figure=report(
                "results/figures/study-trials.png",
                category="Study",
                caption="../report/study-trials.rst",
                labels={"figure": "trial distribution"},
            ),
            rerun_figure=report(
                "results/figures/study-rerun.png",
                category="Study",
                caption="../report/study-rerun.rst",
                labels={"figure": "own setting against best trial"},
            ),
        params:
            metrics=[part for name in STUDY_EXPERIMENTS for part in ("--metric", f"{name}={study_metric(name)}")],
            reruns=[part for rerun, name in RERUNS.items() for part in ("--rerun", f"{rerun}={name}")],
            defaults=[part for rerun, name in DEFAULT_RERUNS.items() for part in ("--defaults", f"{rerun}={name}")],
            baseline=config["aggregate"]["baseline"],
            resamples=config["aggregate"]["bootstrap_resamples"],
            seed=config["aggregate"]["seed"],
        log:
            "results/logs/study.log",
        benchmark:
            "results/benchmarks/study.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        conda:
            "../../environment.yml"
        shell:
            "wganbench study --tables \"$(dirname {input.runs:q})\" {params.metrics:q} {params.reruns:q} {params.defaults:q}"
            " --baseline {params.baseline:q}"
            " --out \"$(dirname {output.trials:q})\" --budget-figure {output.budget_figure:q}"
            " --trials-figure {output.trials_figure:q} --rerun-figure {output.rerun_figure:q} --resamples {params.resamples:q} --seed {params.seed:q}"
            " > {log:q} 2>&1"
