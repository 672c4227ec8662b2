"""Claims catalogues: YAML files of claims, checked by ``schemas/claims.schema.yaml``.

A malformed claim is refused with one line naming the file and the key (``claims.3.test.margin``),
before any table is read, so a typo never turns into a silent ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config_files import load_yaml
from ..registry import ConfigError
from ..schema import first_error, load_schema
from ..schema_messages import format_error

SCHEMA_FILE = "claims.schema.yaml"


@dataclass(frozen=True)
class Claim:
    """One catalogue entry, validated (defaults filled in)."""

    id: str
    source: dict[str, str]
    statement: str
    test: dict[str, Any]
    tested_by: list[str]
    evidence: str | None = None
    paper_budget: dict[str, Any] | None = None
    machine_sensitive: str | None = None
    catalogue: str = ""

    @property
    def parts(self) -> list[dict[str, Any]]:
        """The rules the claim is decided by: one, or the members of ``all_of``."""
        return list(self.test["all_of"]) if "all_of" in self.test else [self.test]

    @property
    def empirical(self) -> bool:
        """Decided from training runs (a sampled rule), not from an exact check of a theory table."""
        return any("experiment" in part for part in self.parts)

    @property
    def paper(self) -> str:
        return self.source["paper"]

    @property
    def citation(self) -> str:
        return f"{self.source['paper']}, {self.source['where']}"


def check_catalogue(content: Any, where: str) -> list[Claim]:
    """Validate one catalogue's content; ``where`` names it in errors."""
    if not isinstance(content, dict):
        raise ConfigError(f"{where}: expected a mapping with a `claims:` list")
    error = first_error(load_schema(SCHEMA_FILE), content)
    if error is not None:
        raise ConfigError(f"{where}: {format_error(error)}")
    claims = [Claim(**entry, catalogue=where) for entry in content["claims"]]
    for index, claim in enumerate(claims):
        check_rules(claim, f"{where}: config key 'claims.{index}.test")
    seen: set[str] = set()
    for index, claim in enumerate(claims):
        if claim.id in seen:
            raise ConfigError(f"{where}: config key 'claims.{index}.id': claim id {claim.id!r} is given twice; "
                              "give each claim its own id")
        seen.add(claim.id)
    return claims


def check_rules(claim: Claim, key: str) -> None:
    """What the schema cannot say, because it relates two keys: an ordering's equivalence band must
    not reach into the differences the claim counts as supporting it (beyond `margin`)."""
    for index, part in enumerate(claim.parts):
        where = f"{key}{'.all_of.' + str(index) if 'all_of' in claim.test else ''}.equivalence'"
        margin = float(part.get("margin", 0.0))
        if part.get("rule") == "ordering" and part.get("equivalence") is not None and part["equivalence"] > margin:
            raise ConfigError(
                f"{where}: ±{part['equivalence']:g} overlaps the claimed side (> margin {margin:g}), so a supported "
                f"difference could be called contradicted; set equivalence ≤ margin (e.g. margin: {part['equivalence']:g})")


def load_catalogues(paths: list[str | Path]) -> list[Claim]:
    """Every claim of the given files, in order; an id repeated across files is refused too."""
    claims: list[Claim] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"claims file {path} does not exist; fix the workflow config's `claims` list")
        for claim in check_catalogue(load_yaml(path), str(path)):
            if any(claim.id == other.id for other in claims):
                raise ConfigError(f"{path}: claim id {claim.id!r} is already defined in another claims file")
            claims.append(claim)
    return claims
