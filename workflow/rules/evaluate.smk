# One job per run: `wganbench evaluate RUN_DIR` writes RUN_DIR/metrics.json. The offline feature
# extractor (a classifier per image data set and size) is trained once, by its own job, before
# any evaluation that needs it; evaluation is told not to train it itself.


rule evaluation_settings:
    # The `evaluation` block as a file (params-tracked: a change reruns every evaluation).
    localrule: True
    output:
        settings="results/settings/evaluation.yaml",
    params:
        settings=lambda wc: config["evaluation"],
    log:
        "results/logs/settings/evaluation.log",
    benchmark:
        "results/benchmarks/settings/evaluation.tsv"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    run:
        write_yaml(params.settings, output.settings, log[0])


rule extractor:
    output:
        f"{EXTRACTORS}/{{dataset}}-{{size}}px-v{EXTRACTOR_VERSION}.pt",
    params:
        data=data_root_args,
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
        "wganbench extractor train --dataset {wildcards.dataset:q} --image-size {wildcards.size:q}"
        " {params.data:q} --out {output:q} > {log:q} 2>&1"


rule levels:
    # the two ends of a data set's learned / failed-to-learn threshold: real train samples and the
    # train mean repeated, measured with the runs' settings, extractor and sample count; only the
    # aggregate needs them, so training (the critical path) goes first
    priority: -10
    input:
        settings=rules.evaluation_settings.output.settings,
        extractor=levels_extractor,
    output:
        LEVELS,
    params:
        overrides=lambda wc, input: ["--set", "train_extractor=false"] if input.extractor else [],
        data=data_root_args,
    log:
        "results/logs/levels/{dataset}-{size}px-n{samples}.log",
    benchmark:
        "results/benchmarks/levels/{dataset}-{size}px-n{samples}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../environment.yml"
    shell:
        "wganbench evaluate-levels --dataset {wildcards.dataset:q} --image-size {wildcards.size:q}"
        " --count {wildcards.samples:q} --out {output:q} --settings-file {input.settings:q} {params.overrides:q}"
        " {params.data:q}"
        " > {log:q} 2>&1"


rule evaluate:
    # on a cluster, a cell's train -> evaluate chain and 7 more share one job (the profile sets
    # group-components); running locally, Snakemake ignores groups
    group:
        "cells"
    # one run per job; experiments that train their seeds as one ensemble evaluate them together
    wildcard_constraints:
        experiment=one_of([name for name in config["experiments"] if name not in ensembled_experiments()]),
    input:
        status=f"{RUN}/status.json",
        samples=f"{RUN}/samples.npz",
        settings=rules.evaluation_settings.output.settings,
        extractor=extractor_file,
        data=data_cache_file,
    output:
        metrics=f"{RUN}/metrics.json",
    params:
        run_dir=lambda wc, input: os.path.dirname(input.status),
        overrides=lambda wc, input: ["--set", "train_extractor=false"] if input.extractor else [],
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
        "wganbench evaluate {params.run_dir:q} --settings-file {input.settings:q} {params.overrides:q}"
        " > {log:q} 2>&1"


for _experiment in ensembled_experiments():
    _folders = seed_run_folders(_experiment)

    rule:
        name:
            f"evaluate_seeds_{_experiment.replace('-', '_')}"
        group:
            "cells"
        input:
            status=[f"{folder}/status.json" for folder in _folders],
            samples=[f"{folder}/samples.npz" for folder in _folders],
            settings=rules.evaluation_settings.output.settings,
            extractor=lambda wc, _e=_experiment: extractor_file(SimpleNamespace(experiment=_e, **dict(wc.items()))),
            data=lambda wc, _e=_experiment: data_cache_file(SimpleNamespace(experiment=_e, **dict(wc.items()))),
        output:
            metrics=[f"{folder}/metrics.json" for folder in _folders],
        params:
            run_dirs=lambda wc, input: [os.path.dirname(path) for path in input.status],
            overrides=lambda wc, input: ["--set", "train_extractor=false"] if input.extractor else [],
        log:
            f"results/logs/evaluate/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.log",
        benchmark:
            f"results/benchmarks/evaluate/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.tsv"
        threads: 1
        resources:
            mem_mb=config["experiments"][_experiment]["resources"]["mem_mb"],
            runtime=config["experiments"][_experiment]["resources"]["runtime"],
            gpu=config["experiments"][_experiment]["resources"]["gpu"],
        conda:
            "../../environment.yml"
        shell:
            "wganbench evaluate {params.run_dirs:q} --settings-file {input.settings:q} {params.overrides:q}"
            " > {log:q} 2>&1"


rule data_cache:
    # a torchvision data set decoded once into uint8 arrays at one image size, which the runs whose
    # cell sets data_cache read instead of decoding with PIL (wganbench/data/cache.py)
    wildcard_constraints:
        dataset=one_of(inventory.TORCHVISION_DATASETS),
    output:
        "{cache}/{dataset}-{size}px/manifest.json",
    params:
        data=data_root_args,
    log:
        "results/logs/data-cache/{cache}/{dataset}-{size}px.log",
    benchmark:
        "results/benchmarks/data-cache/{cache}/{dataset}-{size}px.tsv"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=600,
    conda:
        "../../environment.yml"
    shell:
        "wganbench data-cache --dataset {wildcards.dataset:q} --image-size {wildcards.size:q} {params.data:q}"
        " --out {wildcards.cache:q} --workers {threads} > {log:q} 2>&1"
