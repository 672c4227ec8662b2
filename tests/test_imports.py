"""Start-up stays cheap: importing the package, building the CLI and the train command's import path
load none of the heavy libraries that only some commands need (each job of the grid pays its imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# needed by evaluate / aggregate / figures / sample plots only, never to start a command
HEAVY = ("torch_fidelity", "seaborn", "ot", "torchvision", "matplotlib", "pandas")

CASES = {
    "import wganbench": ("import wganbench", HEAVY + ("torch",)),
    "build_parser": ("import wganbench.cli; wganbench.cli.build_parser()", HEAVY + ("torch",)),
    "wganbench --help": ("import wganbench.cli\ntry:\n    wganbench.cli.main(['--help'])\nexcept SystemExit:\n    pass",
                         HEAVY + ("torch",)),
    "wganbench train --help": (
        "import wganbench.cli\ntry:\n    wganbench.cli.main(['train', '--help'])\nexcept SystemExit:\n    pass",
        HEAVY + ("torch",)),
    "train command imports": ("import wganbench.train, wganbench.config", HEAVY),
}


def loaded_modules(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a fresh interpreter has in sys.modules after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([n for n in {list(names)!r} if n in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", list(CASES))
def test_no_heavy_imports(case: str) -> None:
    code, forbidden = CASES[case]
    assert loaded_modules(code, forbidden) == [], f"{case} imports these eagerly; move the import into the function that needs it"


def test_probe_sees_an_import() -> None:
    """The probe itself works: a module that is imported is reported."""
    assert loaded_modules("import json", ("json", "ot")) == ["json"]
