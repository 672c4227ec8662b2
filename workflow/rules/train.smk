# Training jobs, each from its runs' resolved configs (rule `cell`). An experiment with `ensemble:
# true` (the default) and several seeds trains all seeds of a cell in one job (`wganbench train
# --cell` once per seed: one process, one start-up; a rule per such experiment, since its outputs
# are its seeds' run folders); otherwise one job per seed.


rule cell:
    # One run's fully resolved config, written by the main process, which resolved and checked it
    # (params-tracked: editing an experiment or an objective rewrites only its cells' files, and
    # only those runs train again). `wganbench train --cell` validates it and never resolves again.
    # A shell command of a local rule runs in the main process, which holds the resolved cells (a
    # `run:` block would run in a fresh process that does not resolve).
    localrule: True
    # before any other job: they take milliseconds, and a train job waits for all its seeds' cells
    # (at priority 0 they were interleaved with long jobs, and the image cells, whose training
    # should start first, became ready last)
    priority: 100
    output:
        cell=f"results/cells/{CELL}.yaml",
    params:
        cell=lambda wc: yaml.safe_dump(resolved_cell(wc), sort_keys=True),
    log:
        f"results/logs/cells/{CELL}.log",
    benchmark:
        f"results/benchmarks/cells/{CELL}.tsv"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    conda:
        "../../environment.yml"
    shell:
        "printf '%s' {params.cell:q} > {output.cell:q} 2> {log:q}"


rule train:
    # on a cluster, a cell's train -> evaluate chain and 7 more share one job (the profile sets
    # group-components); running locally, Snakemake ignores groups
    group:
        "cells"
    # one seed per job: experiments that do not ensemble, or have one seed
    wildcard_constraints:
        experiment=one_of([name for name in config["experiments"] if name not in ensembled_experiments()]),
    input:
        cell=rules.cell.output.cell,
        data=data_cache_file,
    output:
        status=f"{RUN}/status.json",
        config=f"{RUN}/config.yaml",
        log=f"{RUN}/log.csv",
        samples=f"{RUN}/samples.npz",
        png=f"{RUN}/samples.png",
    params:
        run_dir=lambda wc, output: os.path.dirname(output.status),
        # a rerun resumes from checkpoint.pt (kept: not an output), unless the cell's settings changed
        corrupt=["--restart-if-corrupt"] if config["restart_corrupt_checkpoints"] else [],
    log:
        f"results/logs/train/{CELL}.log",
    benchmark:
        f"results/benchmarks/train/{CELL}.tsv"
    threads: lambda wc: job_resources(wc)["threads"]
    priority: lambda wc: train_priority(wc.experiment, wc)
    resources:
        mem_mb=lambda wc: job_resources(wc)["mem_mb"],
        # a job stopped at its time limit checkpoints (SIGUSR1/SIGTERM, exit 75) and is retried
        # with more time, resuming where it stopped
        runtime=lambda wc, attempt: job_resources(wc)["runtime"] * attempt,
        gpu=lambda wc: job_resources(wc)["gpu"],
    conda:
        "../../environment.yml"
    shell:
        "wganbench train --cell {input.cell:q} --threads {threads} --out {params.run_dir:q}"
        " --restart-if-changed {params.corrupt:q} > {log:q} 2>&1"


for _experiment in ensembled_experiments():
    _folders = seed_run_folders(_experiment)

    rule:
        name:
            f"train_seeds_{_experiment.replace('-', '_')}"
        group:
            "cells"
        input:
            cells=cell_files(_experiment),
            data=lambda wc, _e=_experiment: data_cache_file(SimpleNamespace(experiment=_e, **dict(wc.items()))),
        output:
            **{key: [f"{folder}/{name}" for folder in _folders] for key, name in RUN_FILES.items()},
        params:
            cells=lambda wc, input: [part for path in input.cells for part in ("--cell", path)],
            out=lambda wc, _e=_experiment: RUN.replace("{experiment}", _e).format(
                seed="{seed}", **{k: wc[k] for k in ("dataset", "objective", "arch")}),
            corrupt=["--restart-if-corrupt"] if config["restart_corrupt_checkpoints"] else [],
        log:
            f"results/logs/train/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.log",
        benchmark:
            f"results/benchmarks/train/{_experiment}/{{dataset}}/{{objective}}/{{arch}}/seeds.tsv"
        threads: config["experiments"][_experiment]["resources"]["threads"]
        priority: lambda wc, _e=_experiment: train_priority(_e, wc)
        resources:
            mem_mb=config["experiments"][_experiment]["resources"]["mem_mb"],
            # members may fall back to training one after another: budget for that
            runtime=lambda wc, attempt, _e=_experiment: (
                config["experiments"][_e]["resources"]["runtime"] * len(experiment_seeds(_e)) * attempt),
            gpu=config["experiments"][_experiment]["resources"]["gpu"],
        conda:
            "../../environment.yml"
        shell:
            "wganbench train {params.cells:q} --threads {threads} --out {params.out:q}"
            " --restart-if-changed {params.corrupt:q} > {log:q} 2>&1"
