"""Is the scorecard complete? Every claim of the catalogues must appear in results/tables/claims.csv
and in results/scorecard.md with one of the four verdicts. CI runs this after the default grid:

    python -m wganbench.claims.check --catalogue config/claims.yaml \
        --table results/tables/claims.csv --markdown results/scorecard.md

It prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from .catalogue import load_catalogues
from .rules import CONTRADICTED, INCONCLUSIVE, NOT_RUN, REPRODUCED

VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_RUN)


def scorecard_problems(catalogues: list[str | Path], table: Path, markdown: Path) -> list[str]:
    """One line per claim without a valid verdict in the table or without its row in the Markdown."""
    ids = [claim.id for claim in load_catalogues(catalogues)]
    problems = []
    if not table.exists():
        return [f"{table} does not exist: the claims rule did not run"]
    rows = pd.read_csv(table)
    verdict_of = dict(zip(rows["claim"], rows["verdict"]))
    text = markdown.read_text(encoding="utf-8") if markdown.exists() else ""
    if not text:
        problems.append(f"{markdown} does not exist or is empty")
    for claim_id in ids:
        verdict = verdict_of.get(claim_id)
        if verdict is None:
            problems.append(f"{claim_id}: no row in {table}")
        elif verdict not in VERDICTS:
            problems.append(f"{claim_id}: verdict {verdict!r} in {table} is none of {', '.join(VERDICTS)}")
        elif text and not re.search(rf"\*\*{re.escape(claim_id)}\*\*.*\*\*{re.escape(verdict)}\*\*", text):
            problems.append(f"{claim_id}: no scorecard line with its verdict '{verdict}' in {markdown}")
    for extra in sorted(set(verdict_of) - set(ids)):
        problems.append(f"{extra}: in {table} but in no catalogue")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", action="append", required=True, help="claims file(s) of the grid")
    parser.add_argument("--table", type=Path, default=Path("results/tables/claims.csv"))
    parser.add_argument("--markdown", type=Path, default=Path("results/scorecard.md"))
    args = parser.parse_args(argv)
    problems = scorecard_problems(args.catalogue, args.table, args.markdown)
    for problem in problems:
        print(problem)
    if not problems:
        counts = pd.read_csv(args.table)["verdict"].value_counts()
        print("scorecard complete: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
