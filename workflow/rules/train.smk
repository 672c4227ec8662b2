# Training jobs. An experiment with `ensemble: true` (the default) and several seeds trains all seeds
# of a cell in one job (`wganbench train --seeds`, one batched ensemble, one start-up; a rule per
# such experiment, since its outputs are its seeds' run folders); otherwise one job per seed.


rule grid:
    # The cell settings `wganbench train --config` reads (params-tracked, so only changed
    # experiment x objective pairs rerun).
    localrule: True
    output:
        grid="results/grid/{experiment}/{objective}.yaml",
    params:
        grid=grid_file,
    log:
        "results/logs/grid/{experiment}/{objective}.log",
    benchmark:
        "results/benchmarks/grid/{experiment}/{objective}.tsv"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    run:
        write_yaml(params.grid, output.grid, log[0])


rule train:
    # on a cluster, a cell's train -> evaluate chain and 7 more share one job (the profile sets
    # group-components); running locally, Snakemake ignores groups
    group:
        "cells"
    # one seed per job: experiments that do not ensemble, or have one seed
    wildcard_constraints:
        experiment=one_of([name for name in config["experiments"] if name not in ensembled_experiments()]),
    input:
        grid=rules.grid.output.grid,
    output:
        status=f"{RUN}/status.json",
        config=f"{RUN}/config.yaml",
        log=f"{RUN}/log.csv",
        samples=f"{RUN}/samples.npz",
        png=f"{RUN}/samples.png",
    params:
        iterations=lambda wc: experiment_of(wc)["iterations"],
        run_dir=lambda wc, output: os.path.dirname(output.status),
        # a rerun resumes from checkpoint.pt (kept: not an output), unless the cell's settings changed
        corrupt=["--restart-if-corrupt"] if config["restart_corrupt_checkpoints"] else [],
    log:
        f"results/logs/train/{CELL}.log",
    benchmark:
        f"results/benchmarks/train/{CELL}.tsv"
    threads: lambda wc: job_resources(wc)["threads"]
    resources:
        mem_mb=lambda wc: job_resources(wc)["mem_mb"],
        # a job stopped at its time limit checkpoints (SIGUSR1/SIGTERM, exit 75) and is retried
        # with more time, resuming where it stopped
        runtime=lambda wc, attempt: job_resources(wc)["runtime"] * attempt,
        gpu=lambda wc: job_resources(wc)["gpu"],
    conda:
        "../../environment.yml"
    shell:
        "wganbench train --objective {wildcards.objective:q} --arch {wildcards.arch:q}"
        " --dataset {wildcards.dataset:q} --seed {wildcards.seed:q} --iterations {params.iterations:q}"
        " --config {input.grid:q} --set threads={threads} --out {params.run_dir:q}"
        " --restart-if-changed {params.corrupt:q} > {log:q} 2>&1"


for _experiment in ensembled_experiments():
    _seeds = experiment_seeds(_experiment)
    _folders = seed_run_folders(_experiment)

    rule:
        name:
            f"train_seeds_{_experiment.replace('-', '_')}"
        group:
            "cells"
        input:
            grid=f"results/grid/{_experiment}/{{objective}}.yaml",
        output:
            **{key: [f"{folder}/{name}" for folder in _folders] for key, name in RUN_FILES.items()},
        params:
            iterations=config["experiments"][_experiment]["iterations"],
            seeds=",".join(map(str, _seeds)),
            out=lambda wc, _e=_experiment: RUN.replace("{experiment}", _e).format(
                seed="{seed}", **{k: wc[k] for k in ("dataset", "objective", "arch")}),
            corrupt=["--restart-if-corrupt"] if config["restart_corrupt_checkpoints"] else [],
        log:
            f"results/logs/train/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.log",
        benchmark:
            f"results/benchmarks/train/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.tsv"
        threads: config["experiments"][_experiment]["resources"]["threads"]
        resources:
            mem_mb=config["experiments"][_experiment]["resources"]["mem_mb"],
            # members may fall back to training one after another: budget for that
            runtime=lambda wc, attempt, _e=_experiment: (
                config["experiments"][_e]["resources"]["runtime"] * len(experiment_seeds(_e)) * attempt),
            gpu=config["experiments"][_experiment]["resources"]["gpu"],
        conda:
            "../../environment.yml"
        shell:
            "wganbench train --objective {wildcards.objective:q} --arch {wildcards.arch:q}"
            " --dataset {wildcards.dataset:q} --seeds {params.seeds:q} --iterations {params.iterations:q}"
            " --config {input.grid:q} --set threads={threads} --out {params.out:q}"
            " --restart-if-changed {params.corrupt:q} > {log:q} 2>&1"
