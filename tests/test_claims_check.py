"""The completeness check CI runs after the default grid: every catalogue claim has one of the four
verdicts in claims.csv and its line in the Markdown scorecard; anything else is named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wganbench.claims.catalogue import load_catalogues
from wganbench.claims.check import main, scorecard_problems

CATALOGUE = "config/claims.yaml"


def write(tmp_path: Path, verdicts: dict[str, str]) -> tuple[Path, Path]:
    table, markdown = tmp_path / "claims.csv", tmp_path / "scorecard.md"
    pd.DataFrame({"claim": list(verdicts), "verdict": list(verdicts.values())}).to_csv(table, index=False)
    markdown.write_text("\n".join(f"| **{c}** | **{v}** | — |" for c, v in verdicts.items()) + "\n")
    return table, markdown


def all_claims(verdict: str = "not run here") -> dict[str, str]:
    return {claim.id: verdict for claim in load_catalogues([CATALOGUE])}


def test_a_complete_scorecard_passes(tmp_path: Path, capsys) -> None:
    table, markdown = write(tmp_path, all_claims())
    assert scorecard_problems([CATALOGUE], table, markdown) == []
    assert main(["--catalogue", CATALOGUE, "--table", str(table), "--markdown", str(markdown)]) == 0
    assert f"{len(all_claims())} not run here" in capsys.readouterr().out


def test_a_missing_claim_an_unknown_verdict_and_a_missing_line_are_each_named(tmp_path: Path) -> None:
    verdicts = all_claims("reproduced")
    ids = list(verdicts)
    del verdicts[ids[0]]
    verdicts[ids[1]] = "maybe"
    table, markdown = write(tmp_path, verdicts)
    markdown.write_text(markdown.read_text().replace(f"**{ids[2]}**", f"{ids[2]}"))
    problems = scorecard_problems([CATALOGUE], table, markdown)
    assert problems == [f"{ids[0]}: no row in {table}",
                        f"{ids[1]}: verdict 'maybe' in {table} is none of reproduced, contradicted, inconclusive, "
                        "not run here",
                        f"{ids[2]}: no scorecard line with its verdict 'reproduced' in {markdown}"]
    assert main(["--catalogue", CATALOGUE, "--table", str(table), "--markdown", str(markdown)]) == 1


def test_no_claims_table_is_one_problem(tmp_path: Path) -> None:
    assert scorecard_problems([CATALOGUE], tmp_path / "none.csv", tmp_path / "none.md") == [
        f"{tmp_path / 'none.csv'} does not exist: the claims rule did not run"]
