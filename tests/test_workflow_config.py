"""The workflow refuses a bad config before any job, naming the key; `snakemake --lint` is clean."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow, snakemake


@pytest.fixture
def workdir(tmp_path: Path, home: Path) -> Path:
    return copy_workflow(tmp_path / "workflow")


BAD_CONFIGS = {
    "unknown objective": (
        "experiments:\n  toy:\n    datasets: [8gaussians]\n    objectives: [nsgan, not-an-objective]\n"
        "    archs: [mlp]\n    iterations: 2\n",
        ["experiments.toy.objectives.1", "not-an-objective"],
    ),
    "wrong type": (
        "experiments:\n  toy:\n    datasets: [8gaussians]\n    archs: [mlp]\n    iterations: many\n",
        ["iterations", "'many' is not of type 'integer'"],
    ),
    "wrong type in settings": (
        "experiments:\n  toy:\n    datasets: [8gaussians]\n    archs: [mlp]\n    iterations: 2\n"
        "    settings: {ngf: wide}\n",
        ["ngf", "'wide' is not of type 'integer'"],
    ),
    "empty grid": ("experiments: {}\n", ["experiments", "should be non-empty"]),
    "no data sets": (
        "experiments:\n  toy:\n    datasets: []\n    archs: [mlp]\n    iterations: 2\n",
        ["datasets", "should be non-empty"],
    ),
    "unknown key": (
        "experiments:\n  toy:\n    datasets: [8gaussians]\n    archs: [mlp]\n    iterations: 2\n    seed: 3\n",
        ["toy", "'seed' was unexpected"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_stops_before_any_job(workdir: Path, home: Path, case: str) -> None:
    text, expected = BAD_CONFIGS[case]
    (workdir / "bad.yaml").write_text(text)
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", env=dict(os.environ))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    assert not (workdir / "results").exists(), "a job ran before the config was refused"


def test_default_and_test_configs_plan(workdir: Path, home: Path) -> None:
    for config in ("config/config.yaml", "config/test.yaml"):
        result = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", config, env=dict(os.environ))
        assert result.returncode == 0, f"{config}:\n{result.stderr[-3000:]}"


PAPER_GRIDS = ["config/paper.yaml", "config/sngan-table2.yaml"]


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists."""
    jobs = []
    for match in re.finditer(r"^\s*(?:local)?rule (\w+):$(.*?)^\s*resources: ([^\n]*)$", output, re.M | re.S):
        resources = dict(part.split("=", 1) for part in match.group(3).split(", ") if "=" in part)
        jobs.append((match.group(1), resources))
    return jobs


@pytest.mark.parametrize("config", PAPER_GRIDS)
def test_paper_grid_plans_on_slurm(workdir: Path, home: Path, config: str) -> None:
    """Each paper grid dry-runs under the SLURM profile: one cell file, train and evaluate job per
    run, a GPU, memory and hours for each training job, and checkpoints often enough that a job
    stopped at its time limit (SIGUSR1 five minutes ahead, then a retry) loses little."""
    result = snakemake(workdir, "-n", "--profile", "workflow/profiles/slurm", "--configfile", config,
                       env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    grid = yaml.safe_load((workdir / config).read_text())
    runs = sum(len(e["datasets"]) * len(e["objectives"]) * len(e["archs"]) * len(e.get("seeds", grid["seeds"]))
               for e in grid["experiments"].values())
    jobs = planned_jobs(result.stdout + result.stderr)
    rules = ("cell", "train", "evaluate", "aggregate", "data_cache")
    counts = {rule: sum(1 for name, _ in jobs if name == rule) for rule in rules}
    # one uint8 cache: each grid reads one torchvision data set at one size
    assert counts == {"cell": runs, "train": runs, "evaluate": runs, "aggregate": 1, "data_cache": 1}, counts
    for name, resources in jobs:
        if name == "train":
            assert resources["gpu"] == "1" and int(resources["mem_mb"]) >= 8000 and int(resources["runtime"]) >= 60
            assert "--signal=USR1@300" in resources["slurm_extra"]
    for experiment in grid["experiments"].values():
        every = {**grid["defaults"], **experiment.get("settings", {})}["checkpoint_every"]
        assert every <= experiment["iterations"] / 10, "fewer than 10 checkpoints a run"


def test_lint_is_clean(workdir: Path, home: Path) -> None:
    result = snakemake(workdir, "--lint", env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr


def planned_priorities(output: str) -> dict[tuple[str, str], float]:
    """(rule, wildcards) -> priority of every job a dry run lists with both."""
    found = {}
    for block in re.split(r"^\s*(?=(?:local)?rule \w+:$)", output, flags=re.M):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        wildcards = re.search(r"^\s*wildcards: ([^\n]*)$", block, re.M)
        priority = re.search(r"^\s*priority: ([^\n]*)$", block, re.M)
        if rule and wildcards and priority:
            found[(rule.group(1), wildcards.group(1))] = float(priority.group(1))
    return found


def test_default_grid_trains_longest_jobs_first(workdir: Path, home: Path) -> None:
    """Training jobs are ordered by their expected cost: every image cell before every toy cell,
    and within each, the costlier first. The order is the one measured in the default grid
    (config/README.md): WGAN digits > non-saturating digits; toy WGAN-GP (penalty's double
    backward) > WGAN (clipping) > NS GAN. Equal priorities are broken arbitrarily, which once left a
    7-minute toy job to run alone last."""
    result = snakemake(workdir, "-n", "--cores", "2", env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    priorities = planned_priorities(result.stdout + result.stderr)

    def train(experiment: str, objective: str, dataset: str, arch: str) -> float:
        return priorities[(f"train_seeds_{experiment}", f"dataset={dataset}, objective={objective}, arch={arch}")]

    images = [train("architectures", o, "digits", "dcgan") for o in ("nsgan", "wgan")]
    toy = {o: train("toy", o, "8gaussians", "mlp") for o in ("wgan-gp-toy", "wgan", "nsgan")}
    assert min(images) > max(toy.values())
    assert train("architectures", "wgan", "digits", "dcgan") > train("architectures", "nsgan", "digits", "dcgan")
    assert list(toy.values()) == sorted(toy.values(), reverse=True) and len(set(toy.values())) == len(toy), toy
    cells = [p for (rule, _), p in priorities.items() if rule == "cell"]
    assert cells and min(cells) > max(images), "cell files are written before any training"
