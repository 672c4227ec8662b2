# Run folders -> results/tables (runs.csv with each run's outcome, summary.csv, levels.csv,
# curves.parquet) in one job.


rule aggregate:
    localrule: True
    input:
        status=lambda wc: run_files("status.json"),  # functions: a rerun's runs wait for its checkpoint
        metrics=lambda wc: run_files("metrics.json"),
        levels=level_files(),
        # every searched experiment's checkpoint, named up front: the functions above stop at the
        # first incomplete one, which would leave the other experiments' trials out of the DAG
        # until that one's trials had all finished
        best_trials=[f"results/tables/study_best_trials_{name}.csv" for name in dict.fromkeys(RERUNS.values())],
    output:
        runs_csv="results/tables/runs.csv",
        runs="results/tables/runs.parquet",
        runs_html=report(
            "results/tables/runs.html",
            category="Tables",
            caption="../report/runs.rst",
            labels={"table": "runs"},
        ),
        summary=report(
            "results/tables/summary.csv",
            category="Tables",
            caption="../report/summary.rst",
            labels={"table": "summary"},
        ),
        summary_parquet="results/tables/summary.parquet",
        levels="results/tables/levels.csv",
        curves="results/tables/curves.parquet",
    params:
        run_dirs=lambda wc, input: sorted({os.path.dirname(f) for f in input.status}),
        baseline=config["aggregate"]["baseline"],
        confidence=config["aggregate"]["confidence"],
        resamples=config["aggregate"]["bootstrap_resamples"],
        alpha=config["aggregate"]["alpha"],
        seed=config["aggregate"]["seed"],
        levels=lambda wc, input: [part for path in input.levels for part in ("--levels", path)],
        still_improving=[f"--still-improving={key}={value}"
                         for key, value in config["aggregate"]["still_improving"].items()],
        folds=[f"--fold={child}={parent}" for child, parent in EXTENSIONS.items()],
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../environment.yml"
    shell:
        "wganbench aggregate --runs-root results/runs --benchmarks results/benchmarks"
        " --out \"$(dirname {output.runs:q})\" --baseline {params.baseline:q} --confidence {params.confidence:q}"
        " --resamples {params.resamples:q} --alpha {params.alpha:q} --seed {params.seed:q}"
        " {params.levels:q} {params.still_improving:q} {params.folds:q} {params.run_dirs:q} > {log:q} 2>&1"
