"""Bad input is refused before any job: each malformed config below goes through the workflow's
own checks, which must stop with one line naming the key (or file) and the fix, start no job, and
leave results/ exactly as it was (a run folder and a table already there included).

Every case is parsed and planned in this process through Snakemake's Python API (the same
Snakefile, the same checks, without a new interpreter importing torch per case); a handful, one of
each kind, also go through the real `snakemake` CLI, whose output must carry the same one line. A
few go through `wganbench train` too: exit 2, one line, no run folder.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import copy_workflow, isolated_env, snakemake

from wganbench.cli import main
from wganbench.config_files import load_yaml
from wganbench.schema_messages import NAME_RULE
from wganbench.data import DATASETS
from wganbench.data.images import TORCHVISION_SETS
from wganbench.models import GENERATORS
from wganbench.schema import load_schema

# A user's losses that are not usable: not a wganbench Loss, a Loss without a generator loss, and
# a module that fails at import.
BAD_LOSSES = textwrap.dedent('''
    from wganbench.objectives.losses import Loss

    class NotALoss:
        def critic_loss(self, critic, batch):
            return 0.0

    class CriticOnly(Loss):
        def critic_loss_from_scores(self, real, fake):
            return (fake - real).mean()
''')
BROKEN_LOSSES = "import torch\nraise RuntimeError('this module is broken')\n"
# A claims catalogue whose only claim has a negative margin (the schema's minimum is 0).
BAD_CLAIMS = textwrap.dedent('''
    claims:
      - id: mine
        source: {paper: "Me 2026", where: "Table 1", quote: "better"}
        statement: mine beats nsgan
        tested_by: [config/config.yaml]
        test: {rule: ordering, experiment: toy, dataset: 8gaussians, arch: mlp, metric: w1,
               better: nsgan, worse: nsgan, lower_is_better: true, margin: -1}
''')


def grid(top: str = "", extra: str = "", name: str = "toy", **keys: str) -> str:
    """A valid one-cell grid (8 Gaussians, nsgan, mlp) with experiment keys replaced by ``keys``
    (YAML values), lines added inside the experiment (``extra``) and at the top (``top``)."""
    fields = {"datasets": "[8gaussians]", "objectives": "[nsgan]", "archs": "[mlp]", "iterations": "2", **keys}
    lines = ["theory: []", *top.splitlines(), "experiments:", f"  {name}:"]
    lines += [f"    {key}: {value}" for key, value in fields.items()]
    lines += [f"    {line}" for line in extra.splitlines()]
    return "\n".join(lines) + "\n"


def objective(spec: str, name: str = "mine") -> str:
    """A grid whose one experiment runs the configured objective ``name`` defined by ``spec``."""
    return grid(top=f"objectives:\n  {name}: {spec}", objectives=f"[{name}]")


@dataclass(frozen=True)
class Case:
    config: str  # the YAML of the bad config file
    expected: tuple[str, ...]  # fragments that must all be on the one error line: key, problem, fix


ADAM = "optimizer: {name: adam, lr: 1.0e-4}"
CASES: dict[str, Case] = {
    # unknown names
    "unknown-objective": Case(grid(objectives="[nsgan, wgan-pg]"), (
        "experiments.toy.objectives.1", "unknown objective 'wgan-pg'", "define it under 'objectives'")),
    "unknown-architecture": Case(grid(archs="[mlp, resnet]"), (
        "experiments.toy.archs.1", "unknown architecture 'resnet'", "choose one of dcgan, dcgan-nobn, mlp, standard-cnn")),
    "unknown-dataset": Case(grid(datasets="[lsun]"), (
        "experiments.toy.datasets.0", "unknown dataset 'lsun'", "choose one of")),
    "unknown-optimizer": Case(objective("{loss: wasserstein, optimizer: {name: adamw, lr: 1.0e-4}}"), (
        "objectives.mine.optimizer.name", "unknown optimizer 'adamw'", "choose one of adam, rmsprop, sgd")),
    "unknown-baseline": Case(grid(top="aggregate: {baseline: nsgn}"), (
        "aggregate.baseline", "unknown objective 'nsgn'")),
    # wrong types
    "iterations-not-integer": Case(grid(iterations="many"), (
        "experiments.toy.iterations", "'many' is not of type 'integer'")),
    "setting-wrong-type": Case(grid(settings="{ngf: wide}"), (
        "experiments.toy.settings.ngf", "'wide' is not of type 'integer'")),
    "loss-wrong-type": Case(objective(f"{{loss: 3, {ADAM}}}"), (
        "objectives.mine.loss", "3 is not valid under any of the given schemas", "expected a loss name")),
    # zero or negative numbers
    "zero-learning-rate": Case(objective("{loss: wasserstein, optimizer: {name: adam, lr: 0}}"), (
        "objectives.mine.optimizer.lr", "0 is less than or equal to the minimum of 0")),
    "negative-learning-rate": Case(grid(settings="{optimizer: {name: rmsprop, lr: -5.0e-5}}"), (
        "experiments.toy.settings.optimizer.lr", "-5e-05 is less than or equal to the minimum of 0")),
    "zero-iterations": Case(grid(iterations="0"), (
        "experiments.toy.iterations", "0 is less than the minimum of 1")),
    "zero-batch-size": Case(grid(settings="{batch_size: 0}"), (
        "experiments.toy.settings.batch_size", "0 is less than the minimum of 1")),
    "negative-batch-size-in-defaults": Case(grid(top="defaults: {batch_size: -64}"), (
        "defaults.batch_size", "-64 is less than the minimum of 1")),
    # seeds
    "seed-not-integer": Case(grid(seeds="[0, 1.5]"), (
        "experiments.toy.seeds.1", "1.5 is not of type 'integer'")),
    "seed-a-word": Case(grid(top="seeds: [zero]"), ("seeds.0", "'zero' is not of type 'integer'")),
    # duplicates
    "objective-listed-twice": Case(grid(objectives="[nsgan, wgan, nsgan]"), (
        "experiments.toy.objectives", "has non-unique elements", "'nsgan' is listed twice; list each once")),
    "seed-listed-twice": Case(grid(seeds="[0, 0]"), ("experiments.toy.seeds", "0 is listed twice; list each once")),
    "yaml-key-twice": Case(grid(extra="iterations: 3"), (
        "bad.yaml, line 8", "key 'iterations' is given twice (first on line 7)", "delete one")),
    "experiment-defined-twice": Case(grid() + grid(name="toy").split("experiments:\n", 1)[1], (
        "bad.yaml, line 8", "key 'toy' is given twice (first on line 3)", "delete one")),
    # an empty grid
    "no-experiments": Case("experiments: {}\n", ("config key 'experiments'", "should be non-empty", "give at least 1")),
    "no-datasets": Case(grid(datasets="[]"), ("experiments.toy.datasets", "should be non-empty", "give at least 1")),
    "no-objectives": Case(grid(objectives="[]"), ("experiments.toy.objectives", "should be non-empty")),
    # unknown keys (typos) everywhere
    "typo-top-level": Case(grid(top="seed: [0, 1]"), ("config key 'seed'", "'seed' was unexpected", "did you mean 'seeds'?")),
    "typo-in-experiment": Case(grid(extra="iteration: 3"), (
        "experiments.toy.iteration", "'iteration' was unexpected", "did you mean 'iterations'?")),
    "typo-in-defaults": Case(grid(top="defaults: {log_evry: 5}"), (
        "defaults.log_evry", "'log_evry' was unexpected", "did you mean 'log_every'?")),
    "typo-in-settings": Case(grid(settings="{batchsize: 32}"), (
        "experiments.toy.settings.batchsize", "did you mean 'batch_size'?")),
    "typo-in-objective": Case(objective("{loss: wasserstein, optimiser: {name: adam, lr: 1.0e-4}}"), (
        "objectives.mine.optimiser", "'optimiser' was unexpected", "did you mean 'optimizer'?")),
    "typo-in-evaluation": Case(grid(top="evaluation: {feature_extractr: auto}"), (
        "evaluation.feature_extractr", "did you mean 'feature_extractor'?")),
    # a user's loss class that cannot be used
    "loss-module-missing": Case(objective(f"{{loss: no_such_module:FocalLoss, {ADAM}}}"), (
        "objectives.mine.loss", "cannot import module 'no_such_module'", "on PYTHONPATH")),
    "loss-class-missing": Case(objective(f"{{loss: bad_losses:FocalLoss, {ADAM}}}"), (
        "objectives.mine.loss", "module 'bad_losses' has no attribute 'FocalLoss'")),
    "loss-module-broken": Case(objective(f"{{loss: broken_losses:FocalLoss, {ADAM}}}"), (
        "objectives.mine.loss", "module 'broken_losses' fails to import", "this module is broken")),
    "loss-not-a-wganbench-loss": Case(objective(f"{{loss: bad_losses:NotALoss, {ADAM}}}"), (
        "objectives.mine.loss", "'bad_losses:NotALoss' is not a wganbench Loss class",
        "subclass wganbench.objectives.Loss")),
    "loss-without-generator-loss": Case(objective(f"{{loss: bad_losses:CriticOnly, {ADAM}}}"), (
        "objectives.mine.loss", "bad_losses:CriticOnly defines neither generator_loss_from_scores nor generator_loss",
        "define critic_loss_from_scores(real, fake) and generator_loss_from_scores(fake)")),
    # data and image sizes
    "data-root-missing": Case(grid(datasets="[mnist]", archs="[dcgan]"), (
        "experiments.toy (cell mnist/nsgan/dcgan): config key 'data_root'", "data set 'mnist' needs a data root",
        "torchvision.datasets.MNIST(root, download=True)")),
    "data-root-not-there": Case(grid(datasets="[cifar10]", archs="[dcgan]", settings="{data_root: no/such/dir}"), (
        "experiments.toy (cell cifar10/nsgan/dcgan): config key 'data_root'",
        "no/such/dir does not exist for data set 'cifar10'", "download=True")),
    "image-size-not-buildable": Case(grid(datasets="[digits]", archs="[dcgan]", settings="{image_size: 48}"), (
        "experiments.toy.settings.image_size", "48 is not one of [16, 32, 64, 128, None]")),
    "image-size-null-on-images": Case(grid(datasets="[digits]", archs="[dcgan]", settings="{image_size: null}"), (
        "experiments.toy (cell digits/nsgan/dcgan)", "config key 'image_size'", "set image_size to one of 16, 32, 64, 128")),
    "image-architecture-on-points": Case(grid(archs="[dcgan]"), (
        "experiments.toy (cell 8gaussians/nsgan/dcgan)", "'dcgan' is an image architecture", "use 'mlp'")),
    # names that would leave results/ as paths
    "experiment-name-escapes": Case(grid(name="'../x'"), (
        "config key 'experiments'", "'../x' does not match", NAME_RULE)),
    "objective-name-with-slash": Case(objective(f"{{loss: wasserstein, {ADAM}}}", name="'a/b'"), (
        "config key 'objectives'", "'a/b' does not match", "each names a folder under results/")),
    "experiment-name-uppercase": Case(grid(name="Toy"), ("config key 'experiments'", "'Toy' does not match", NAME_RULE)),
    "experiment-name-with-dot": Case(grid(name="toy.v2"), ("'toy.v2' does not match", NAME_RULE)),
    "dataset-name-escapes": Case(grid(datasets="['../../etc']"), (
        "experiments.toy.datasets.0", "'../../etc' does not match", NAME_RULE)),
    # non-finite numbers (JSON-schema bounds cannot see NaN)
    "learning-rate-nan": Case(objective("{loss: wasserstein, optimizer: {name: adam, lr: .nan}}"), (
        "objectives.mine.optimizer.lr", "nan is not a finite number")),
    "divergence-bound-inf": Case(grid(settings="{divergence_bound: .inf}"), (
        "experiments.toy.settings.divergence_bound", "inf is not a finite number")),
    # claims catalogues
    "claim-malformed": Case(grid(top="claims: [bad_claims.yaml]"), (
        "bad_claims.yaml", "claims.0.test", "margin")),
    "claims-file-missing": Case(grid(top="claims: [nowhere.yaml]"), ("nowhere.yaml", "does not exist")),
}
assert len(CASES) >= 22

SEEDED = {  # results/ before the refused run: a finished run and a table that must survive
    "runs/toy/8gaussians/nsgan/mlp/seed0/status.json": '{"status": "completed", "iterations": 2}\n',
    "tables/runs.csv": "experiment,objective\ntoy,nsgan\n",
    "keep.txt": "written before the bad config\n",
}


def listing(results: Path) -> dict[str, tuple[int, str]]:
    """Every file under results/: modification time and content hash."""
    return {str(path.relative_to(results)): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(results.rglob("*")) if path.is_file()}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A private workflow copy with the bad loss modules and a results/ folder already in use."""
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "bad_losses.py").write_text(BAD_LOSSES)
    (workdir / "broken_losses.py").write_text(BROKEN_LOSSES)
    (workdir / "bad_claims.yaml").write_text(BAD_CLAIMS)
    for name, text in SEEDED.items():
        (workdir / "results" / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / "results" / name).write_text(text)
    return workdir


def error_line(output: str, expected: tuple[str, ...]) -> str:
    """The one output line that carries the refusal; every expected fragment must be on it."""
    lines = [line for line in output.splitlines() if expected[0] in line]
    assert len(lines) == 1, f"{expected[0]!r} on {len(lines)} lines, not one:\n{output[-3000:]}"
    for fragment in expected[1:]:
        assert fragment in lines[0], f"{fragment!r} not on the error line {lines[0]!r}"
    assert len(lines[0]) < 400, lines[0]
    return lines[0]


def planned_in_process(workdir: Path, configfile: str) -> str:
    """Parse and plan (dry run) the workflow in ``workdir`` with ``configfile`` through Snakemake's
    API; the refusal's message."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings, WorkflowSettings)

    try:
        with SnakemakeApi(OutputSettings(quiet=set())) as api:
            workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                    config_settings=ConfigSettings(configfiles=[workdir / configfile]),
                                    storage_settings=StorageSettings(), workflow_settings=WorkflowSettings(),
                                    snakefile=workdir / "Snakefile", workdir=workdir)
            workflow.dag(DAGSettings()).execute_workflow(executor="dryrun")
    except Exception as exc:  # Snakemake's WorkflowError, carrying wganbench's one line
        return str(exc)
    pytest.fail(f"{configfile} was accepted")


# refused when the run starts (the Snakefile's onstart: a dry run plans a cluster grid without its
# data), so only the CLI, which starts the run, sees them
AT_START = {"data-root-missing", "data-root-not-there"}
PLANNED = {name: case for name, case in CASES.items() if name not in AT_START}


@pytest.mark.parametrize("case", PLANNED.values(), ids=PLANNED.keys())
def test_bad_config_is_refused_before_any_job(workdir: Path, home: Path, case: Case,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(workdir))  # the user's loss modules, as PYTHONPATH gives them to the CLI
    (workdir / "bad.yaml").write_text(case.config)
    before = listing(workdir / "results")
    message = planned_in_process(workdir, "bad.yaml")
    error_line(message, case.expected)
    assert listing(workdir / "results") == before, "results/ changed"


# one case of each kind through the real CLI (names, a YAML duplicate, a user's module, a
# non-finite number, a claims catalogue) and the data roots checked at the start of the run
THROUGH_CLI = ["unknown-objective", "yaml-key-twice", "loss-module-broken", "learning-rate-nan",
               "claim-malformed", *sorted(AT_START)]


@pytest.mark.slow
@pytest.mark.parametrize("name", THROUGH_CLI)
def test_bad_config_is_refused_by_the_snakemake_cli(workdir: Path, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    (workdir / "bad.yaml").write_text(case.config)
    before = listing(workdir / "results")
    env = isolated_env(tmp_path / "home", workdir)
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml", env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    error_line(output, case.expected)
    assert not re.search(r"^\s*(local)?rule \w+:", output, re.M), f"a job started:\n{output[-3000:]}"
    assert "Finished jobid" not in output and "Select jobs to execute" not in output
    assert listing(workdir / "results") == before, "results/ changed"


@pytest.mark.slow
def test_the_default_config_file_is_checked_too(workdir: Path, tmp_path: Path) -> None:
    """Without --configfile the workflow reads config/config.yaml: a key given twice there is refused."""
    default = workdir / "config" / "config.yaml"
    default.write_text(default.read_text() + "theory: []\n")
    before = listing(workdir / "results")
    result = snakemake(workdir, "--cores", "1", env=isolated_env(tmp_path / "home", workdir), timeout=300)
    assert result.returncode != 0
    error_line(result.stdout + result.stderr, ("config.yaml, line", "key 'theory' is given twice", "delete one"))
    assert listing(workdir / "results") == before


# ----------------------------------------------------------------------------------------------
# `wganbench train`: the same refusals for one cell, exit code 2 and one line, no run folder

TRAIN = ["train", "--objective", "nsgan", "--arch", "mlp", "--dataset", "8gaussians", "--iterations", "2"]
CLI_CASES = {
    "unknown-architecture": (["--arch", "resnet"], "config key 'arch': unknown architecture 'resnet'; choose one of"),
    "zero-iterations": (["--iterations", "0"], "config key 'iterations': 0 is less than the minimum of 1"),
    "zero-learning-rate": (["--set", "optimizer.lr=0"], "config key 'optimizer.lr': 0 is less than or equal to"),
    "zero-batch-size": (["--set", "batch_size=0"], "config key 'batch_size': 0 is less than the minimum of 1"),
    "typo": (["--set", "log_evry=5"], ("config key 'log_evry': Additional properties are not allowed "
                                       "('log_evry' was unexpected); did you mean 'log_every'?")),
    "name-escapes": (["--dataset", "../x"], "config key 'dataset': '../x' does not match"),
    "image-size": (["--dataset", "digits", "--arch", "dcgan", "--set", "image_size=48"],
                   "config key 'image_size': 48 is not one of"),
    "data-root-missing": (["--dataset", "mnist", "--arch", "dcgan"], "data set 'mnist' needs a data root"),
    "yaml-key-twice": (["--config", "{dir}/grid.yaml"], "grid.yaml, line 3: key 'defaults' is given twice"),
    "loss-not-importable": (["--objective", "mine", "--config", "{dir}/mine.yaml"],
                            "config key 'loss': cannot import module 'no_such_module'"),
    "grid-typo": (["--config", "{dir}/typo.yaml"], "config key 'defaults.log_evry'"),
}


@pytest.mark.parametrize("args, message", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_train_refuses_the_same_with_exit_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          args: list[str], message: str) -> None:
    (tmp_path / "grid.yaml").write_text("defaults: {log_every: 5}\nseeds: [0]\ndefaults: {log_every: 6}\n")
    (tmp_path / "mine.yaml").write_text(f"objectives:\n  mine: {{loss: no_such_module:FocalLoss, {ADAM}}}\n")
    (tmp_path / "typo.yaml").write_text("defaults: {log_evry: 5}\n")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        main([*TRAIN, *[arg.format(dir=tmp_path) for arg in args], "--out", str(out)])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith("wganbench: error: ") and message in err, err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------
# The schema's names, and the lists kept torch-free, agree with wganbench's registries

def test_every_registered_name_is_a_valid_configured_name() -> None:
    pattern = re.compile(load_schema("config.schema.yaml")["$defs"]["name"]["pattern"])
    builtin = yaml.safe_load((Path(__file__).parents[2] / "wganbench/objectives/builtin.yaml").read_text())
    for name in [*DATASETS, *GENERATORS, *builtin]:
        assert pattern.fullmatch(name), name
    assert not any(pattern.fullmatch(bad) for bad in ("../x", "a/b", "Toy", "toy.v2", "-x", "", "x y"))
    assert set(TORCHVISION_SETS) <= set(DATASETS)


def test_yaml_keys_given_twice_are_found_at_any_depth(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("experiments:\n  toy:\n    settings: {ngf: 8, ngf: 16}\n")
    with pytest.raises(ValueError, match=r"grid.yaml, line 3: key 'ngf' is given twice \(first on line 3\)"):
        load_yaml(path)
    path.write_text("experiments:\n  toy:\n    settings: {ngf: 8}\n")
    assert load_yaml(path) == {"experiments": {"toy": {"settings": {"ngf": 8}}}}
    # a key merged in with `<<:` may be overridden: that is YAML's way, not a mistake
    path.write_text("base: &adam {name: adam, lr: 1.0e-4}\nslow: {<<: *adam, lr: 1.0e-5}\n")
    assert load_yaml(path)["slow"] == {"name": "adam", "lr": 1.0e-5}
