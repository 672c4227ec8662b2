# Shared by all .smk files: the grid's cells, paths and per-experiment lookups. Everything here
# reads the validated config only; nothing imports torch, so parsing stays fast on SLURM nodes.
import copy
import os
import re
from importlib import resources

import yaml
from snakemake.exceptions import WorkflowError

RUN = "results/runs/{experiment}/{dataset}/{objective}/{arch}/seed{seed}"
CELL = "{experiment}/{dataset}/{objective}/{arch}/seed{seed}"
FIGURES = ["curves", "estimate-vs-quality", "distributions", "success"]
# 2-D data sets (no feature extractor) and image sets without labels (no offline classifier: use
# feature_extractor inception-v3-compat); the same names as wganbench.data, kept here so that
# parsing the workflow does not import torch.
TOY_DATASETS = {"8gaussians", "25gaussians", "swissroll"}
UNLABELLED_DATASETS = {"lsun-bedroom", "celeba"}


wildcard_constraints:
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    objective=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    arch=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed=r"\d+",


def builtin_objectives():
    """Names of wganbench's built-in objectives (read from its YAML, not by importing torch)."""
    text = (resources.files("wganbench") / "objectives" / "builtin.yaml").read_text()
    return list(yaml.safe_load(text))


def experiment_objectives(name):
    """An experiment's objectives; 'all' is every built-in one plus every configured one."""
    chosen = config["experiments"][name]["objectives"]
    if chosen == "all":
        return list(dict.fromkeys(builtin_objectives() + list(config["objectives"])))
    return chosen


def check_objectives():
    """Refuse unknown objective names now, before any job, naming the config key."""
    known = set(builtin_objectives()) | set(config["objectives"])
    for name, experiment in config["experiments"].items():
        if experiment["objectives"] == "all":
            continue
        for index, objective in enumerate(experiment["objectives"]):
            if objective not in known:
                raise WorkflowError(
                    f"config key 'experiments.{name}.objectives.{index}': unknown objective "
                    f"{objective!r}; choose one of {', '.join(sorted(known))} or define it under 'objectives'"
                )
    baseline = config["aggregate"]["baseline"]
    if baseline not in known:
        raise WorkflowError(f"config key 'aggregate.baseline': unknown objective {baseline!r}")


def cells():
    """Every grid cell as wildcard values, in config order."""
    for name, experiment in config["experiments"].items():
        for dataset in experiment["datasets"]:
            for objective in experiment_objectives(name):
                for arch in experiment["archs"]:
                    for seed in experiment.get("seeds", config["seeds"]):
                        yield dict(experiment=name, dataset=dataset, objective=objective, arch=arch, seed=seed)


def run_files(name):
    """One file of every run, e.g. run_files('metrics.json')."""
    return [f"{RUN}/{name}".format(**cell) for cell in cells()]


def experiment_of(wildcards):
    return config["experiments"][wildcards.experiment]


def job_resources(wildcards):
    """The experiment's per-job resources, filled with the schema's defaults."""
    return experiment_of(wildcards)["resources"]


def grid_file(wildcards):
    """What `wganbench train --config` reads for one experiment x objective: the defaults merged
    with the experiment's settings, and the objective's definition if the config defines it. One
    file per pair, so editing one objective or experiment reruns only its cells."""
    content = {"defaults": {**config["defaults"], **experiment_of(wildcards)["settings"]}}
    if wildcards.objective in config["objectives"]:
        content["objectives"] = {wildcards.objective: config["objectives"][wildcards.objective]}
    return content


def write_yaml(content, *paths):
    """Write ``content`` as YAML to each path (a settings file and its log copy)."""
    text = yaml.safe_dump(content, sort_keys=True)
    for path in paths:
        with open(path, "w") as handle:
            handle.write(text)


def package_text(*parts):
    return (resources.files("wganbench").joinpath(*parts)).read_text()


def extractor_version():
    """The offline classifier's file version (wganbench/evaluate/extractor.py), read without torch."""
    match = re.search(r"^VERSION = (\d+)", package_text("evaluate", "extractor.py"), flags=re.M)
    if match is None:
        raise WorkflowError("wganbench/evaluate/extractor.py defines no `VERSION = N`")
    return int(match.group(1))


def image_size(wildcards):
    """The cell's image size: experiment settings, then defaults, then the schema's default."""
    cell_schema = yaml.safe_load(package_text("schemas", "config.schema.yaml"))["$defs"]["cell"]
    merged = {**config["defaults"], **experiment_of(wildcards)["settings"]}
    return merged.get("image_size", cell_schema["properties"]["image_size"]["default"])


def extractor_file(wildcards):
    """The classifier an image run's evaluation needs (none for 2-D data, unlabelled sets, or
    when Inception alone is asked for and mode coverage is not)."""
    settings = config["evaluation"]
    uses_classifier = settings["feature_extractor"] != "inception-v3-compat" or "modes" in settings["metrics"]
    if wildcards.dataset in TOY_DATASETS | UNLABELLED_DATASETS or not uses_classifier:
        return []
    return f"{EXTRACTORS}/{wildcards.dataset}-{image_size(wildcards)}px-v{EXTRACTOR_VERSION}.pt"


def fill_evaluation_defaults():
    """Snakemake's validate does not fill defaults across the $ref into evaluation.schema.yaml
    (the referenced file's own $schema switches jsonschema back to a plain validator), so fill
    the `evaluation` block here, from the same file, as `wganbench evaluate` will."""
    schema = yaml.safe_load(package_text("schemas", "evaluation.schema.yaml"))
    for name, setting in schema["properties"].items():
        if "default" in setting:
            config["evaluation"].setdefault(name, copy.deepcopy(setting["default"]))


def figure_targets():
    samples = [f"results/figures/samples/{name}.png" for name in config["experiments"]]
    return samples + [f"results/figures/{kind}.png" for kind in FIGURES]


def theory_targets():
    return [f"results/theory/{name}" for name in config["theory"]]


def metric_options():
    """`--metric EXP=NAME` for experiments that name the metric their figures plot."""
    chosen = {name: e["metric"] for name, e in config["experiments"].items() if e.get("metric")}
    return " ".join(f"--metric {name}={metric}" for name, metric in chosen.items())


fill_evaluation_defaults()
EXTRACTORS = config["evaluation"]["extractor_dir"]
EXTRACTOR_VERSION = extractor_version()
check_objectives()
