"""Today's training loop reproduces saved single runs: cells that cover batch norm, clipping with
the critic warm-up, gradient penalties, spectral norm, two fake batches (Cramér), f-GANs and
snapshots, written by tests/golden/make_golden.py with the numerics recorded in
tests/golden/runs/manifest.json (CPU model and capability, torch, MKL, oneDNN, MKL_CBWR; the cells
run on one thread).

What is compared: status, logged iterations and snapshot files exactly; then the trajectory — every
numeric log.csv column (losses, estimates, gradient norms) and the final and snapshot samples.
- Where this machine's numerics are the manifest's, bit for bit: the same machine gives the same run.
- Elsewhere, within TOLERANCE of the largest magnitude of each column or array. Floating-point
  reductions in another kernel order differ in the last bit (~1e-7 relative in float32) and a GAN
  amplifies that over its iterations; tests/golden/measure_tolerance.py trains every cell under
  other kernels (ATEN_CPU_CAPABILITY default / avx2), MKL_CBWR=COMPATIBLE and 2 threads, and the
  largest deviation it found is recorded with TOLERANCE (config/README.md, "Golden runs and
  machines"). A change to the method (a learning rate 1% off) lands several times further.
A change to the numbers of a run must be deliberate: regenerate with make_golden.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from wganbench.config import parse_overrides, resolve_cell
from wganbench.provenance import numerics
from wganbench.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
from compare import bit_identical, structure_problems, trajectory_deviation  # noqa: E402
from measure_tolerance import train_in_process  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "runs"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
# measure_tolerance.py on the machine that wrote the files (AMD EPYC, AVX-512): other kernels, MKL
# modes, 2 threads and an emulated AVX2 machine move a trajectory by at most 3.9e-4 (WGAN's clipped
# critic on 8 Gaussians), most cells by 1e-7 to 1e-5; a learning rate 0.1% off moves it 7e-4 to
# 1.6e-3, 1% off 7e-3 to 1.3e-2. 2e-3 leaves 5x above the largest kernel effect and sits below a 1%
# change of the method.
TOLERANCE = 2e-3
SAME_MACHINE_KEYS = ("cpu_model", "cpu_capability", "torch", "mkl", "onednn", "mkl_cbwr", "onednn_max_cpu_isa")


def same_numerics(here: dict, saved: dict) -> bool:
    """Whether bit-identity applies: every key that decides the kernels' results agrees."""
    return all(here.get(key) == saved.get(key) for key in SAME_MACHINE_KEYS)


def train_cell(name: str, out: Path, extra: list[str] | None = None) -> Path:
    spec = MANIFEST["cells"][name]
    train(resolve_cell(spec["cell"], overrides=parse_overrides(spec["set"] + (extra or []))), out, progress=False)
    return out


def assert_reproduces(run: Path, name: str, bitwise: bool) -> None:
    saved = GOLDEN / name
    assert not structure_problems(run, saved), structure_problems(run, saved)
    deviation = trajectory_deviation(run, saved)
    if bitwise:
        assert bit_identical(run, saved), f"{name}: not bit-identical on the machine that wrote it: {deviation}"
    else:
        assert deviation.value <= TOLERANCE, f"{name}: {deviation} > tolerance {TOLERANCE:g}"


def test_manifest_records_the_numerics_that_wrote_it() -> None:
    recorded = MANIFEST["numerics"]
    assert set(SAME_MACHINE_KEYS) <= set(recorded) and recorded["threads"] == 1
    assert all("threads=1" in spec["set"] for spec in MANIFEST["cells"].values())


@pytest.mark.parametrize("name", sorted(MANIFEST["cells"]))
def test_single_run_matches_the_saved_files(name: str, tmp_path: Path) -> None:
    run = train_cell(name, tmp_path / name)
    assert_reproduces(run, name, bitwise=same_numerics(numerics(), MANIFEST["numerics"]))


@pytest.mark.parametrize("name", ["wgan-8gaussians-mlp", "nsgan-digits-dcgan"])
def test_a_rerun_on_this_machine_is_bit_identical(name: str, tmp_path: Path) -> None:
    """Wherever the files came from, two runs here agree bit for bit (a resume: tests/faults/)."""
    first, second = train_cell(name, tmp_path / "first"), train_cell(name, tmp_path / "second")
    assert bit_identical(second, first)


def other_capability() -> str | None:
    """A kernel set this CPU can run other than the one torch picked."""
    native = torch.backends.cpu.get_cpu_capability()
    return "default" if native != "DEFAULT" else None


@pytest.mark.slow
def test_other_kernels_stay_within_the_tolerance_and_are_not_held_bitwise(tmp_path: Path) -> None:
    """Changing the kernels in a fresh process (the capability is read when torch loads) and the
    MKL mode changes the last bits — bit-identity does not apply, and the comparison knows it — and
    the trajectories stay within TOLERANCE."""
    capability = other_capability()
    if capability is None:
        pytest.skip("this CPU has no vector kernels to switch away from")
    names = ["nsgan-8gaussians-mlp", "wgan-gp-8gaussians-mlp", "cramer-8gaussians-mlp", "nsgan-digits-dcgan"]
    found = train_in_process(MANIFEST, tmp_path, names, {"ATEN_CPU_CAPABILITY": capability, "MKL_CBWR": "COMPATIBLE"}, [])
    assert not same_numerics(found, MANIFEST["numerics"]) and found["cpu_capability"] == capability.upper()
    deviations = {}
    for name in names:
        assert_reproduces(tmp_path / name, name, bitwise=False)
        deviations[name] = trajectory_deviation(tmp_path / name, GOLDEN / name).value
    assert max(deviations.values()) > 0, f"the {capability} kernels changed no bit: {deviations}"


def test_a_change_to_the_method_is_far_outside_the_tolerance(tmp_path: Path) -> None:
    """The tolerance is not vacuous: a learning rate 1% off moves a run well beyond it."""
    name = "wgan-gp-8gaussians-mlp"
    lr = resolve_cell(MANIFEST["cells"][name]["cell"])["optimizer"]["lr"]
    run = train_cell(name, tmp_path / name, [f"optimizer.lr={lr * 1.01}"])
    assert trajectory_deviation(run, GOLDEN / name).value > 3 * TOLERANCE


def test_a_subprocess_with_this_machines_settings_is_bit_identical(tmp_path: Path) -> None:
    """The process boundary itself changes nothing: bit-identity is about the numerics, not the
    interpreter (what CI's fresh clone relies on)."""
    if not same_numerics(numerics(), MANIFEST["numerics"]):
        pytest.skip("the saved files come from other numerics: compared within the tolerance above")
    name = "f-rkl-8gaussians-mlp"
    found = train_in_process(MANIFEST, tmp_path, [name], {}, [])
    assert same_numerics(found, MANIFEST["numerics"])
    assert bit_identical(tmp_path / name, GOLDEN / name)
