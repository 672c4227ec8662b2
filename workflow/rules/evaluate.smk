# One job per run: `wganbench evaluate RUN_DIR` writes RUN_DIR/metrics.json. The offline feature
# extractor (a classifier per image data set and size) is trained once, by its own job, before
# any evaluation that needs it; evaluation is told not to train it itself.


rule evaluation_settings:
    # The `evaluation` block as a file (params-tracked: a change reruns every evaluation).
    localrule: True
    output:
        settings="results/grid/evaluation.yaml",
    params:
        settings=lambda wc: config["evaluation"],
    log:
        "results/logs/grid/evaluation.log",
    benchmark:
        "results/benchmarks/grid/evaluation.tsv"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    run:
        write_yaml(params.settings, output.settings, log[0])


rule extractor:
    output:
        f"{EXTRACTORS}/{{dataset}}-{{size}}px-v{EXTRACTOR_VERSION}.pt",
    log:
        "results/logs/extractor/{dataset}-{size}px.log",
    benchmark:
        "results/benchmarks/extractor/{dataset}-{size}px.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../environment.yml"
    shell:
        "wganbench extractor train --dataset {wildcards.dataset} --image-size {wildcards.size}"
        " --out {output} > {log} 2>&1"


rule evaluate:
    input:
        status=f"{RUN}/status.json",
        samples=f"{RUN}/samples.npz",
        settings=rules.evaluation_settings.output.settings,
        extractor=extractor_file,
    output:
        metrics=f"{RUN}/metrics.json",
    params:
        run_dir=lambda wc, input: os.path.dirname(input.status),
        overrides=lambda wc, input: "--set train_extractor=false" if input.extractor else "",
    log:
        f"results/logs/evaluate/{CELL}.log",
    benchmark:
        f"results/benchmarks/evaluate/{CELL}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc: job_resources(wc)["mem_mb"],
        runtime=lambda wc: job_resources(wc)["runtime"],
        gpu=lambda wc: job_resources(wc)["gpu"],
    conda:
        "../../environment.yml"
    shell:
        "wganbench evaluate {params.run_dir} --settings-file {input.settings} {params.overrides}"
        " > {log} 2>&1"
