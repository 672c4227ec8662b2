# Shared by all .smk files: the grid's cells, paths and per-experiment lookups. Everything here
# reads the validated config only; nothing imports torch, so parsing stays fast on SLURM nodes.
import copy
import functools
import os
import re
from importlib import resources

from types import SimpleNamespace

import yaml
from snakemake.exceptions import WorkflowError

from wganbench import inventory

RUN = "results/runs/{experiment}/{dataset}/{objective}/{arch}/seed{seed}"
CELL = "{experiment}/{dataset}/{objective}/{arch}/seed{seed}"
FIGURES = inventory.FIGURES
# 2-D data sets (no feature extractor) and image sets without labels (no offline classifier: use
# feature_extractor inception-v3-compat), from wganbench's torch-free inventory
TOY_DATASETS = inventory.datasets_of_kind(inventory.POINTS)
UNLABELLED_DATASETS = inventory.datasets_of_kind(inventory.IMAGES)


# Configured names must match the schema's $defs/name (they become folders under results/); the
# wildcards take nothing else, so no path built from them leaves results/.
NAME = r"[a-z0-9][a-z0-9_-]*"


wildcard_constraints:
    experiment=NAME,
    dataset=NAME,
    objective=NAME,
    arch=NAME,
    seed=r"\d+",
    size=r"\d+",
    samples=r"\d+",


def experiment_objectives(name):
    """An experiment's objectives; 'all' is every built-in one plus every configured one."""
    chosen = config["experiments"][name]["objectives"]
    if chosen == "all":
        return list(dict.fromkeys(list(inventory.builtin_objectives()) + list(config["objectives"])))
    return chosen


def check_objectives():
    """Refuse unknown objective names now, before any job, naming the config key."""
    known = set(inventory.builtin_objectives()) | set(config["objectives"])
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


def checked_cells():
    """One ((experiment, data set, objective, architecture), where, cell, grid) per cell of the
    grid, its first seed: what resolving needs (the grid's defaults, the experiment's settings and
    the objective's definition)."""
    for name, experiment in config["experiments"].items():
        seed = experiment_seeds(name)[0]
        defaults = {**config["defaults"], **experiment["settings"]}
        for dataset in experiment["datasets"]:
            for objective in experiment_objectives(name):
                defined = {objective: config["objectives"][objective]} if objective in config["objectives"] else {}
                settings = {"defaults": defaults, "objectives": defined}
                for arch in experiment["archs"]:
                    cell = dict(objective=objective, arch=arch, dataset=dataset, seed=seed,
                                iterations=experiment["iterations"])
                    where = f"experiments.{name} (cell {dataset}/{objective}/{arch})"
                    yield (name, dataset, objective, arch), where, cell, settings


def check_grid():
    """Main process only (jobs parse the workflow too, and must stay torch-free): every data
    set, architecture and configured objective by its key (a user's loss class is imported),
    then every cell resolved as `wganbench train` would. Returns {cell key: (where, resolved
    config)}: what rule `cell` writes, once per seed, for `wganbench train --cell`."""
    if not workflow.is_main_process:
        return {}
    from wganbench.grid_checks import check_cells, check_grid_parts

    with one_line_errors():
        check_grid_parts(config)
        found = list(checked_cells())
        resolved = check_cells((where, cell, grid) for _, where, cell, grid in found)
    for (key, *_), (where, cfg) in zip(found, resolved):
        # file paths (extractor, levels) look the image size up without resolving (jobs do not
        # resolve): it must be the size the run was resolved to
        if cfg["image_size"] is not None and cfg["image_size"] != experiment_setting(key[0], "image_size"):
            raise WorkflowError(f"{where}: image_size {cfg['image_size']} resolved, but the workflow's "
                                f"lookup gives {experiment_setting(key[0], 'image_size')}; report this as a bug")
    return {key: pair for (key, *_), pair in zip(found, resolved)}


def resolved_cell(wildcards):
    """The run's resolved config (rule `cell`'s params, so a change rewrites only its cells' files);
    None in a job's process, which never resolves (and never runs rule `cell`)."""
    found = RESOLVED_CELLS.get((wildcards.experiment, wildcards.dataset, wildcards.objective, wildcards.arch))
    return None if found is None else {**found[1], "seed": int(wildcards.seed)}


def cell_files(experiment):
    """An experiment's resolved cell files, one per seed, data set, objective and architecture
    left as wildcards."""
    return [f"results/cells/{experiment}/{{dataset}}/{{objective}}/{{arch}}/seed{seed}.yaml"
            for seed in experiment_seeds(experiment)]


def check_data_roots():
    """Each torchvision data set's data_root exists (wganbench's data registry says how to get it)."""
    from wganbench.grid_checks import check_data

    with one_line_errors():
        check_data(RESOLVED_CELLS.values())


def cells():
    """Every grid cell as wildcard values, in config order. A rerun experiment (`search.rerun_seeds`)
    holds only each objective's best trial, which the checkpoint `study_best_trials` decides: call
    this from input functions only when the grid has reruns."""
    for name in config["experiments"]:
        yield from experiment_cells(name, best_trials(name) if name in RERUNS else None)


def experiment_cells(name, chosen=None):
    """One experiment's cells; with ``chosen`` only its (dataset, arch, objective) triples."""
    experiment = config["experiments"][name]
    for dataset in experiment["datasets"]:
        for objective in experiment_objectives(name):
            for arch in experiment["archs"]:
                if chosen is not None and (dataset, arch, objective) not in chosen:
                    continue
                for seed in experiment_seeds(name):
                    yield dict(experiment=name, dataset=dataset, objective=objective, arch=arch, seed=seed)


def best_trials(rerun):
    """{(dataset, arch, trial name)} of a rerun experiment's searched experiment, from the checkpoint."""
    import pandas as pd

    table = pd.read_csv(checkpoints.study_best_trials.get(experiment=RERUNS[rerun]).output[0])
    return {(row.dataset, row.arch, row.best_trial) for row in table.itertuples()}


def run_files(name):
    """One file of every run, e.g. run_files('metrics.json')."""
    return [f"{RUN}/{name}".format(**cell) for cell in cells()]


def experiment_seeds(name):
    return config["experiments"][name].get("seeds", config["seeds"])


def ensembled_experiments():
    return [name for name, experiment in config["experiments"].items()
            if experiment["ensemble"] and len(experiment_seeds(name)) > 1]


def train_priority(name, wildcards):
    """Longest jobs first, so that short ones fill the cores at the end instead of one long job
    running alone: image experiments' training before toy training (a WGAN digits cell ~8 min
    against 15 s to 3 min for most toy cells), and within each of the two, the job's relative cost
    (a fraction below 1). Snakemake breaks ties between equal priorities arbitrarily: the default
    grid's 7-min MMD GAN toy job once started last and ran alone for 7 of its 32 minutes."""
    tier = 0 if set(config["experiments"][name]["datasets"]) <= set(TOY_DATASETS) else 1
    values = {"seed": experiment_seeds(name)[0], **dict(wildcards.items()), "experiment": name}
    cell = resolved_cell(SimpleNamespace(**values))
    if cell is None:  # a job's own process (which never resolves) needs no priority
        return tier
    cost = train_cost(cell) * (len(experiment_seeds(name)) if "seed" not in wildcards.keys() else 1)
    return tier + cost / (cost + 1e6)


def train_cost(cell):
    """Critic-step-equivalents of one run, for ordering only: generator iterations x (critic
    steps + 1), doubled for an input-gradient penalty (a double backward) and for a loss on critic
    features (MMD's kernels, Cramer's energy: 2.7x and 2.2x a WGAN-GP step on the toy MLP,
    config/README.md and benchmarks/README.md). Clipping, spectral norm and LeCam add little per step."""
    light = {"clip", "spectral_norm", "lecam"}
    lipschitz = cell.get("lipschitz") or {}
    penalised = isinstance(lipschitz, dict) and any(method not in light for method in lipschitz)
    kernel_loss = isinstance(cell.get("loss"), dict) and "features" in cell["loss"]
    return cell["iterations"] * (cell["n_critic"] + 1) * (2 if penalised else 1) * (2 if kernel_loss else 1)


def seed_run_folders(name):
    """The run folders of an experiment's seeds, data set, objective and architecture left as wildcards."""
    return [RUN.replace("{experiment}", name).replace("{seed}", str(seed)) for seed in experiment_seeds(name)]


def one_of(names):
    """A wildcard regex matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


RUN_FILES = {"status": "status.json", "config": "config.yaml", "log": "log.csv",
             "samples": "samples.npz", "png": "samples.png"}


def experiment_of(wildcards):
    return config["experiments"][wildcards.experiment]


def job_resources(wildcards):
    """The experiment's per-job resources, filled with the schema's defaults."""
    return experiment_of(wildcards)["resources"]


def write_yaml(content, *paths):
    """Write ``content`` as YAML to each path (a settings file and its log copy)."""
    text = yaml.safe_dump(content, sort_keys=True)
    for path in paths:
        with open(path, "w") as handle:
            handle.write(text)


def package_text(*parts):
    return (resources.files("wganbench").joinpath(*parts)).read_text()


def image_size(wildcards):
    """The cell's image size: experiment settings, then defaults, then the schema's default."""
    return experiment_setting(wildcards.experiment, "image_size")


@functools.cache
def cell_default(key):
    """A cell key's schema default. Parsed once: the schema is ~100 ms of YAML, and image_size
    runs for every evaluate job (a 1,000-cell image grid paid it 1,000 times in a dry run)."""
    cell_schema = yaml.safe_load(package_text("schemas", "config.schema.yaml"))["$defs"]["cell"]
    return cell_schema["properties"][key]["default"]


def extractor_file(wildcards):
    """The classifier an image run's evaluation needs (none for 2-D data, unlabelled sets, or
    when Inception alone is asked for and mode coverage is not)."""
    settings = config["evaluation"]
    uses_classifier = settings["feature_extractor"] != "inception-v3-compat" or "modes" in settings["metrics"]
    if wildcards.dataset in TOY_DATASETS | UNLABELLED_DATASETS or not uses_classifier:
        return []
    size = getattr(wildcards, "size", None) or image_size(wildcards)
    return f"{EXTRACTORS}/{wildcards.dataset}-{size}px-v{EXTRACTOR_VERSION}.pt"


LEVELS = "results/levels/{dataset}-{size}px-n{samples}.json"


def experiment_setting(name, key):
    """A cell key as an experiment's runs get it: its settings, then defaults, then the schema's default."""
    merged = {**config["defaults"], **config["experiments"][name]["settings"]}
    return merged.get(key, cell_default(key))


def dataset_setting(dataset, key):
    """A cell key of the first experiment that reads ``dataset`` (its data_root or data_cache: what
    the extractor, levels and cache jobs of that data set read too)."""
    for name, experiment in config["experiments"].items():
        if dataset in experiment["datasets"]:
            return experiment_setting(name, key)
    return cell_default(key)


def data_root_args(wildcards):
    """`--data-root ROOT` for jobs that read a torchvision data set (extractor, levels, cache)."""
    root = dataset_setting(wildcards.dataset, "data_root")
    return ["--data-root", root] if root and wildcards.dataset in inventory.TORCHVISION_DATASETS else []


def data_cache_file(wildcards):
    """The decoded uint8 cache a run reads (cell key data_cache), made by rule data_cache first."""
    folder = experiment_setting(wildcards.experiment, "data_cache")
    if not folder or wildcards.dataset not in inventory.TORCHVISION_DATASETS:
        return []
    return f"{folder}/{wildcards.dataset}-{experiment_setting(wildcards.experiment, 'image_size')}px/manifest.json"


def level_files():
    """The reference levels every run's outcome is decided by: one file per data set x image size x
    sample count of the grid (wganbench.outcomes)."""
    files = []
    for name, experiment in config["experiments"].items():
        size = experiment_setting(name, "image_size")
        count = experiment_setting(name, "sample_count")
        for dataset in experiment["datasets"]:
            files.append(LEVELS.format(dataset=dataset, size=size, samples=count))
    return sorted(set(files))


def levels_extractor(wildcards):
    """The classifier a levels file's image metrics need (as for the runs of that data set and size)."""
    return extractor_file(SimpleNamespace(dataset=wildcards.dataset, experiment=None, size=wildcards.size))


def fill_evaluation_defaults():
    """Snakemake's validate does not fill defaults across the $ref into evaluation.schema.yaml
    (the referenced file's own $schema switches jsonschema back to a plain validator), so fill
    the `evaluation` block here, from the same file, as `wganbench evaluate` will."""
    schema = yaml.safe_load(package_text("schemas", "evaluation.schema.yaml"))
    for name, setting in schema["properties"].items():
        if "default" in setting:
            config["evaluation"].setdefault(name, copy.deepcopy(setting["default"]))


def figure_targets():
    # an extending experiment's runs are folded into its parent's figure
    samples = [f"results/figures/samples/{name}.png" for name in config["experiments"] if name not in EXTENSIONS]
    return samples + [f"results/figures/{kind}.png" for kind in FIGURES]


def theory_targets():
    return [f"results/theory/{name}" for name in config["theory"]]


def metric_options():
    """`--metric EXP=NAME` for experiments that name the metric their figures plot, as a list of
    arguments, each quoted by `:q` in the shell command."""
    chosen = {name: e["metric"] for name, e in config["experiments"].items() if e.get("metric")}
    return [part for name, metric in chosen.items() for part in ("--metric", f"{name}={metric}")]


fill_evaluation_defaults()
EXTRACTORS = config["evaluation"]["extractor_dir"]
EXTRACTOR_VERSION = inventory.EXTRACTOR_VERSION
check_objectives()
RESOLVED_CELLS = check_grid()


# --- equal-budget studies (workflow/rules/study.smk) ---------------------------------------------

SEARCHED = [name for name, experiment in config["experiments"].items() if experiment.get("search")]
STUDY_EXPERIMENTS = SEARCHED + list(RERUNS) + list(DEFAULT_RERUNS)


def study_metric(name):
    """The metric a searched experiment (or its rerun) is compared by: its `metric`, else FID on
    images, W1 on points."""
    experiment = config["experiments"][name]
    if experiment.get("metric"):
        return experiment["metric"]
    return "w1" if set(experiment["datasets"]) <= set(TOY_DATASETS) else "fid"


def study_targets():
    return rules.study.output if SEARCHED else []
