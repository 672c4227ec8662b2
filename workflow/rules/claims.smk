# Tables + theory tables -> the scorecard: every claim of the catalogues (config key `claims`)
# decided against this grid, as results/tables/claims.csv, results/scorecard.md and the report's
# landing page (results/report/workflow.rst, which the Snakefile's `report:` then points to).


rule claims:
    localrule: True
    input:
        runs=rules.aggregate.output.runs,
        curves=rules.aggregate.output.curves,
        theory=theory_targets(),
        catalogues=config["claims"],
        description="workflow/report/workflow.rst",
        # an equal-budget study's curves open the report too (rule `study`)
        study_budget=["results/tables/study_budget_curves.csv"] if SEARCHED else [],
    output:
        csv="results/tables/claims.csv",
        markdown=report(
            "results/scorecard.md",
            category="Scorecard",
            caption="../report/scorecard.rst",
            labels={"table": "scorecard (Markdown)"},
        ),
        landing=SCORECARD_PAGE,
        over_budget="results/tables/claims_over_budget.csv",
        over_budget_figure=report(
            "results/figures/verdicts-over-budget.png",
            category="Scorecard",
            caption="../report/verdicts-over-budget.rst",
            labels={"figure": "verdict over budget"},
        ),
    params:
        catalogues=lambda wc, input: [part for path in input.catalogues for part in ("--catalogue", path)],
        alpha=config["claims_alpha"],
        resamples=config["aggregate"]["bootstrap_resamples"],
        seed=config["aggregate"]["seed"],
        still_improving=[f"--still-improving={key}={value}"
                         for key, value in config["aggregate"]["still_improving"].items()],
        study_budget=lambda wc, input: [part for path in input.study_budget for part in ("--study-budget", path)],
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../environment.yml"
    shell:
        "wganbench claims {params.catalogues:q} --tables \"$(dirname {input.runs:q})\" --results results"
        " --markdown {output.markdown:q} --landing {output.landing:q} --landing-extra {input.description:q}"
        " --alpha {params.alpha:q} --resamples {params.resamples:q} --seed {params.seed:q} {params.still_improving:q}"
        " --over-budget-figure {output.over_budget_figure:q} {params.study_budget:q} > {log:q} 2>&1"
