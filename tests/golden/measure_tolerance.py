"""Derive the golden runs' tolerance: train every saved cell again under other floating-point
configurations of this machine, and print how far each trajectory lands from the saved files.

    python tests/golden/measure_tolerance.py            # prints one row per cell and configuration

A configuration changes what decides the last bits of a CPU run and nothing else: the kernels
torch dispatches to (ATEN_CPU_CAPABILITY=default or avx2 instead of this CPU's best), MKL's
conditional numerical reproducibility mode (MKL_CBWR=COMPATIBLE), the thread count (2 instead
of the cells' 1), and all three held to AVX2 (an AVX2 machine: ATEN_CPU_CAPABILITY, MKL_CBWR and
ONEDNN_MAX_CPU_ISA). Each runs in its own process, because the capability is read when torch loads.
tests/test_golden_runs.py sets TOLERANCE from the largest deviation printed here (config/README.md,
"Golden runs and machines", records the table).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare import bit_identical, structure_problems, trajectory_deviation  # noqa: E402

CONFIGURATIONS: dict[str, tuple[dict[str, str], list[str]]] = {
    "capability=default": ({"ATEN_CPU_CAPABILITY": "default"}, []),
    "capability=avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, []),
    "MKL_CBWR=COMPATIBLE": ({"MKL_CBWR": "COMPATIBLE"}, []),
    "threads=2": ({}, ["threads=2"]),
    "AVX2 machine": ({"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, []),
}

TRAIN_CELLS = """
import json, sys
from pathlib import Path
from wganbench.config import parse_overrides, resolve_cell
from wganbench.provenance import numerics
from wganbench.train import train
manifest, out, names, extra = json.loads(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
for name in names:
    spec = manifest["cells"][name]
    train(resolve_cell(spec["cell"], overrides=parse_overrides(spec["set"] + extra)), out / name, progress=False)
(out / "numerics.json").write_text(json.dumps(numerics()))
"""


def train_in_process(manifest: dict, out: Path, names: list[str], env: dict[str, str], extra: list[str]) -> dict:
    """Train ``names`` in a fresh interpreter with ``env`` added; return its numerics."""
    environment = {**os.environ, **env}
    subprocess.run([sys.executable, "-c", TRAIN_CELLS, json.dumps(manifest), str(out), json.dumps(names),
                    json.dumps(extra)], env=environment, check=True, capture_output=True, text=True)
    return json.loads((out / "numerics.json").read_text())


def main() -> None:
    manifest = json.loads((HERE / "runs" / "manifest.json").read_text())
    names = sorted(manifest["cells"])
    print("configuration\tcell\tbit-identical\tdeviation\twhere")
    largest = 0.0
    for label, (env, extra) in CONFIGURATIONS.items():
        with tempfile.TemporaryDirectory() as tmp:
            found = train_in_process(manifest, Path(tmp), names, env, extra)
            for name in names:
                run, saved = Path(tmp) / name, HERE / "runs" / name
                problems = structure_problems(run, saved)
                if problems:
                    print(f"{label}\t{name}\tno\tinf\t{'; '.join(problems)}")
                    continue
                deviation = trajectory_deviation(run, saved)
                largest = max(largest, deviation.value)
                print(f"{label}\t{name}\t{'yes' if bit_identical(run, saved) else 'no'}\t"
                      f"{deviation.value:.3g}\t{deviation.where}")
            print(f"# {label}: numerics {found}", flush=True)
    print(f"# largest deviation: {largest:.3g}")


if __name__ == "__main__":
    main()
