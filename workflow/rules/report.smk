# Tables -> seaborn figures, each marked for `snakemake --report` with a caption that says what to
# look for. Sample grids are one per experiment; the other figures cover every experiment.


rule figure_samples:
    localrule: True
    input:
        runs=rules.aggregate.output.runs,
        samples=lambda wc: [
            f"{RUN}/samples.npz".format(**cell)
            for cell in cells()
            if cell["experiment"] == wc.experiment
        ],
    output:
        report(
            "results/figures/samples/{experiment}.png",
            category="Samples",
            subcategory="{experiment}",
            caption="../report/samples.rst",
            labels={"experiment": "{experiment}", "figure": "samples"},
        ),
    log:
        "results/logs/figures/samples/{experiment}.log",
    benchmark:
        "results/benchmarks/figures/samples/{experiment}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../environment.yml"
    shell:
        "wganbench figures samples --experiment {wildcards.experiment:q}"
        " --tables \"$(dirname {input.runs:q})\" --out {output:q} > {log:q} 2>&1"


for _kind in FIGURES:

    rule:
        name:
            f"figure_{_kind.replace('-', '_')}"
        localrule: True
        input:
            runs=rules.aggregate.output.runs,
            summary=rules.aggregate.output.summary_parquet,
            curves=rules.aggregate.output.curves,
        output:
            report(
                f"results/figures/{_kind}.png",
                category="Metrics",
                caption=f"../report/{_kind}.rst",
                labels={"figure": _kind},
            ),
        params:
            kind=_kind,
            metrics=metric_options(),
        log:
            f"results/logs/figures/{_kind}.log",
        benchmark:
            f"results/benchmarks/figures/{_kind}.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../environment.yml"
        shell:
            "wganbench figures {params.kind:q} --tables \"$(dirname {input.runs:q})\""
            " --out {output:q} {params.metrics:q} > {log:q} 2>&1"
