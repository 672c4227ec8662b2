# One job per grid cell: `wganbench train` into the cell's run folder.


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
        "wganbench train --objective {wildcards.objective} --arch {wildcards.arch}"
        " --dataset {wildcards.dataset} --seed {wildcards.seed} --iterations {params.iterations}"
        " --config {input.grid} --set threads={threads} --out {params.run_dir}"
        " --restart-if-changed {params.corrupt} > {log} 2>&1"
