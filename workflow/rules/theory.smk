# The paper's theory experiments (`wganbench theory NAME`), one rule each so each gets its own
# caption (workflow/report/theory/NAME.rst) and category in the report.

for _name in config["theory"]:

    rule:
        name:
            f"theory_{_name.replace('-', '_')}"
        output:
            report(
                directory(f"results/theory/{_name}"),
                patterns=["{figure}.png"],
                category="Theory",
                subcategory=_name,
                caption=f"../report/theory/{_name}.rst",
                labels={"experiment": _name, "figure": "{figure}"},
            ),
        params:
            name=_name,
            seed=config["theory_seed"],
        log:
            f"results/logs/theory/{_name}.log",
        benchmark:
            f"results/benchmarks/theory/{_name}.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            "../../environment.yml"
        shell:
            "wganbench theory {params.name:q} --out {output:q} --seed {params.seed:q} > {log:q} 2>&1"
