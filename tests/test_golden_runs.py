"""Today's training loop reproduces saved single runs bit for bit on the CPU: every log.csv column
but wall_seconds, the final samples, every snapshot and the status, for cells that cover batch
norm, clipping with the critic warm-up, gradient penalties, spectral norm, two fake batches
(Cramér), f-GANs and snapshots. The files were written by tests/golden/make_golden.py at the commit
in tests/golden/runs/manifest.json; a change to the numbers of a run must be deliberate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wganbench.config import parse_overrides, resolve_cell
from wganbench.train import train

from conftest import log_without_wall_time

GOLDEN = Path(__file__).resolve().parent / "golden" / "runs"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("name", sorted(MANIFEST["cells"]))
def test_single_run_matches_the_saved_files(name: str, tmp_path: Path) -> None:
    spec = MANIFEST["cells"][name]
    train(resolve_cell(spec["cell"], overrides=parse_overrides(spec["set"])), tmp_path, progress=False)
    saved = GOLDEN / name
    assert log_without_wall_time(tmp_path / "log.csv") == log_without_wall_time(saved / "log.csv")
    assert json.loads((tmp_path / "status.json").read_text()) == json.loads((saved / "status.json").read_text())
    snapshots = sorted(p.relative_to(saved) for p in saved.glob("samples/*.npz"))
    assert snapshots == sorted(p.relative_to(tmp_path) for p in tmp_path.glob("samples/*.npz"))
    for relative in [Path("samples.npz"), *snapshots]:
        found, expected = arrays(tmp_path / relative), arrays(saved / relative)
        assert found.keys() == expected.keys(), relative
        for key in expected:
            assert np.array_equal(found[key], expected[key], equal_nan=True), (relative, key)
