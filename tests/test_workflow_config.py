"""The workflow refuses a bad config before any job, naming the key; `snakemake --lint` is clean."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def test_default_and_paper_configs_validate(workdir: Path, home: Path) -> None:
    for config in ("config/config.yaml", "config/paper.yaml", "config/test.yaml"):
        result = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", config, env=dict(os.environ))
        assert result.returncode == 0, f"{config}:\n{result.stderr[-3000:]}"


def test_lint_is_clean(workdir: Path, home: Path) -> None:
    result = snakemake(workdir, "--lint", env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
