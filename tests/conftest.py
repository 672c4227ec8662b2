"""Shared fixtures: an isolated HOME, a private copy of the workflow, and one real run of the tiny
grid (config/test.yaml) that the end-to-end, report and SLURM tests all read.

Snakemake and Chromium write into ~/.cache, ~/.config and the working directory; every workflow
test runs in a temporary copy of the workflow with HOME and XDG_* pointing into tmp, so nothing
lands in the repository's results/ or the user's home.

No test reaches the network: ``network_blocked`` (autouse) refuses every socket connection but to
loopback and unix sockets, in the pytest process and, through tests/netguard/sitecustomize.py on
PYTHONPATH, in every Python subprocess (snakemake and its jobs included).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# what a workflow needs: Snakefile, config, rules/schemas/profiles/captions (symlinks dereferenced)
WORKFLOW_FILES = ["Snakefile", "config", "workflow", "environment.yml"]

# A user's own loss, found by import path: softplus-smoothed Wasserstein (no package edit needed).
USER_LOSS_MODULE = textwrap.dedent('''
    import torch.nn.functional as F
    from wganbench.objectives.losses import Loss

    class SoftplusWasserstein(Loss):
        """critic: softplus(-f(x)) + softplus(f(G(z))); generator: softplus(-f(G(z)))."""

        def critic_loss_from_scores(self, real, fake):
            return F.softplus(-real).mean() + F.softplus(fake).mean()

        def generator_loss_from_scores(self, fake):
            return F.softplus(-fake).mean()
''')

# Two objectives added through config alone: one composed from parts, one a user's class.
EXTENSION_CONFIG = textwrap.dedent('''
    objectives:
      wgan-lowclip:
        loss: wasserstein
        lipschitz: {clip: 0.005}
        optimizer: {name: rmsprop, lr: 1.0e-4}
        n_critic: 2
      softplus-w:
        loss: user_losses:SoftplusWasserstein
        lipschitz: {gradient_penalty: 1}
        optimizer: {name: adam, lr: 1.0e-4, betas: [0.5, 0.9]}
        n_critic: 2
    experiments:
      custom:
        description: objectives a user added in config
        datasets: [8gaussians]
        objectives: [nsgan, wgan-lowclip, softplus-w]
        archs: [mlp]
        seeds: [0]
        iterations: 4
''')


def in_ci() -> bool:
    """``CI=true`` (set by .ci/run and by every common CI service)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_setup(reason: str) -> None:
    """A test whose set-up (SLURM, Chromium) is missing: skipped locally with its reason, a failure
    in CI, where .ci/run installs it, so a CI that loses the set-up cannot stay green."""
    if in_ci():
        pytest.fail(f"set-up failed in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The SLURM tests go last, and their grid starts now in a background thread
    (test_slurm_workflow.EarlyStart): it waits on SLURM's status checks while the others run."""
    slurm = [item for item in session.items if item.get_closest_marker("slurm")]
    if not slurm or session.config.option.collectonly:
        return
    session.items[:] = [item for item in session.items if item not in slurm] + slurm
    module = slurm[0].module
    module.start_early()
    session.config.add_cleanup(module.stop_early)  # SLURM stopped and files removed however the session ends


NETGUARD = Path(__file__).resolve().parent / "netguard"
_guard_spec = importlib.util.spec_from_file_location("wganbench_tests_netguard", NETGUARD / "sitecustomize.py")
netguard = sys.modules.setdefault(_guard_spec.name, importlib.util.module_from_spec(_guard_spec))
if not hasattr(netguard, "install"):
    _guard_spec.loader.exec_module(netguard)  # type: ignore[union-attr]  (installs the guard)


def guarded_pythonpath(pythonpath: str | None) -> str:
    """``pythonpath`` with tests/netguard first, so a Python subprocess imports the guard."""
    parts = [part for part in (pythonpath or "").split(os.pathsep) if part and part != str(NETGUARD)]
    return os.pathsep.join([str(NETGUARD), *parts])


@pytest.fixture(scope="session", autouse=True)
def network_blocked() -> Iterator[None]:
    """Socket connections fail but to loopback and unix sockets, here and in subprocesses."""
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = guarded_pythonpath(previous)
    netguard.install()
    yield
    netguard.uninstall()
    if previous is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = previous


def isolated_env(home: Path, workdir: Path | None = None) -> dict[str, str]:
    """The process environment with HOME and the XDG folders inside ``home`` (network guarded)."""
    env = dict(os.environ)
    for name, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"),
                      ("XDG_DATA_HOME", ".local/share"), ("XDG_RUNTIME_DIR", "run")):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    os.chmod(home / "run", 0o700)
    env["MPLCONFIGDIR"] = str(home / ".config" / "matplotlib")
    if workdir is not None:  # the user's loss module lives in the workflow folder
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH", "")]))
    env["PYTHONPATH"] = guarded_pythonpath(env.get("PYTHONPATH"))
    return env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and XDG_* in tmp for this test (and its subprocesses)."""
    folder = tmp_path / "home"
    for key, value in isolated_env(folder).items():
        monkeypatch.setenv(key, value)
    return folder


def copy_workflow(target: Path) -> Path:
    """A private copy of the workflow (symlinked schemas copied as files)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, symlinks=False)
        elif source.exists():
            shutil.copy2(source, target / name)
    (target / "user_losses.py").write_text(USER_LOSS_MODULE)
    (target / "extension.yaml").write_text(EXTENSION_CONFIG)
    return target


def snakemake(workdir: Path, *args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real `snakemake` CLI in ``workdir``; output captured for the assertion messages."""
    command = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class WorkflowRun:
    """A finished workflow in its own folder."""

    workdir: Path
    env: dict[str, str]
    result: subprocess.CompletedProcess

    @property
    def results(self) -> Path:
        return self.workdir / "results"


TEST_CONFIG = ["--configfile", "config/test.yaml", "extension.yaml"]


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> WorkflowRun:
    """The tiny grid plus the config-added objectives, run once with `snakemake --cores 2`."""
    root = tmp_path_factory.mktemp("local")
    workdir = copy_workflow(root / "workflow")
    env = isolated_env(root / "home", workdir)
    result = snakemake(workdir, "--cores", "2", *TEST_CONFIG, env=env)
    assert result.returncode == 0, result.stderr[-6000:]
    return WorkflowRun(workdir, env, result)


# --- comparing runs (the training, ensemble and fault tests) ---------------------------------------

def log_without_wall_time(path: Path) -> list[list[str]]:
    """log.csv rows without the wall-time column: what must be byte-identical between two runs."""
    with path.open() as handle:
        rows = list(csv.reader(handle))
    wall = rows[0].index("wall_seconds")
    return [row[:wall] + row[wall + 1:] for row in rows]


def samples(run: Path) -> np.ndarray:
    """A run folder's final samples."""
    with np.load(run / "samples.npz") as data:
        return data["samples"]


# --- the offline digits classifier (metrics tests) -------------------------------------------------

CLASSIFIER_SIZE = 16  # the classifier works at 16x16 whatever the image size; small images keep tests fast


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the trained digits classifier at 16 px, trained once per session."""
    from wganbench.evaluate.classifier.files import extractor_path, train_extractor

    folder = tmp_path_factory.mktemp("extractors")
    train_extractor("digits", CLASSIFIER_SIZE, extractor_path(folder, "digits", CLASSIFIER_SIZE))
    return folder


# --- theory experiments at their default settings (test_theory*.py) ------------------------------

@pytest.fixture(scope="session")
def theory_output(tmp_path_factory: pytest.TempPathFactory):
    """``get(name)`` -> (out dir, files returned, figure labels captured on the way to disk) of the
    theory experiment ``name`` run once per session with its default settings, as the workflow runs it."""
    import importlib

    from wganbench.theory import EXPERIMENTS
    from wganbench.theory.output import single_thread

    done: dict[str, tuple[Path, list[Path], dict]] = {}

    def get(name: str) -> tuple[Path, list[Path], dict]:
        if name not in done:
            module = importlib.import_module(f"wganbench.theory.{name.replace('-', '_')}")
            captured: dict = {}

            def capture(fig, stem, _save=module.save_figure):
                axes = [ax for ax in fig.axes if ax.get_visible()]
                captured.update({"suptitle": fig._suptitle.get_text() if fig._suptitle else "",
                                 "axes": [(ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) for ax in axes]})
                return _save(fig, stem)

            out = tmp_path_factory.mktemp(name)
            with pytest.MonkeyPatch.context() as patch, single_thread():
                patch.setattr(module, "save_figure", capture)
                done[name] = (out, EXPERIMENTS.get(name)(out, seed=0), captured)
        return done[name]

    return get
