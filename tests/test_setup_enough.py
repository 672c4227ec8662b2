"""The README's set-up (`pip install -e ".[workflow]"`) must bring every package that the commands
the README names import: the package, the workflow, and `snakemake --report`.

Checked statically against the installed distributions: every top-level module imported by
wganbench/, the Snakefile and workflow/rules/ resolves to a distribution that pyproject.toml
declares (as a dependency or in the `workflow` extra), or to the standard library. Snakemake's
report needs pygments, which snakemake itself does not require."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# imported by the libraries wganbench calls rather than by its own code: torchvision's LSUN reader
# imports lmdb (a data set of the paper grids)
IMPORTED_FOR_US = {"lmdb"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["workflow"]
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def python_sources() -> list[tuple[Path, str]]:
    files = sorted((ROOT / "wganbench").rglob("*.py"))
    sources = [(path, path.read_text()) for path in files]
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        # Snakemake syntax is not Python: keep only the import lines
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip().startswith(("import ", "from "))]
        sources.append((path, "\n".join(lines)))
    return sources


def imported_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path, text in python_sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def test_every_imported_package_is_declared() -> None:
    distributions = metadata.packages_distributions()
    wanted = declared()
    missing = []
    for module, where in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module == "wganbench":
            continue
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not names & wanted:
            missing.append(f"{module} (imported by {where.relative_to(ROOT)}; distributions {sorted(names) or 'none'})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_report_dependencies_are_in_the_workflow_extra() -> None:
    assert "pygments" in declared(), "snakemake --report needs pygments; declare it in the workflow extra"
    assert {"snakemake", "snakemake-executor-plugin-slurm"} <= declared()


def test_missing_setup_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import missing_setup

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="set-up failed in CI: no SLURM"):
        missing_setup("no SLURM")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no SLURM"):
        missing_setup("no SLURM")
    ci_script = (Path(__file__).resolve().parents[1] / ".ci/run").read_text()
    assert "export CI=true" in ci_script


def test_what_the_libraries_import_for_us_is_declared_too() -> None:
    assert IMPORTED_FOR_US <= declared()
