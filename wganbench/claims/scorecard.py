"""The scorecard, three ways from the same verdicts: ``results/tables/claims.csv``, a Markdown
``results/scorecard.md`` to paste into a paper or an issue, and ``results/report/workflow.rst``, the
landing page of ``snakemake --report`` (the claims table first, colour-coded by verdict, then links
to the evidence)."""

from __future__ import annotations

import html
import textwrap
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ..rundir import atomic_write_text
from .rules import CONTRADICTED, INCONCLUSIVE, NOT_RUN, REPRODUCED
from .verdicts import CORRECTION, Verdict

ORDER = [REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_RUN]
COLOURS = {REPRODUCED: "#d4edda", CONTRADICTED: "#f8d7da", INCONCLUSIVE: "#fff3cd", NOT_RUN: "#e2e3e5"}


def method_text(alpha: float, sampled: int) -> str:
    return (f"Sampled claims (orderings, learned shares, correlations, published numbers) are decided by an interval at "
            f"confidence {1 - 2 * alpha:.0%} (each bound a one-sided {alpha:g} bound: bootstrap for means and "
            f"correlations, Clopper-Pearson for shares) together with one-sided tests (Mann-Whitney U, exact "
            f"binomial, Wilcoxon signed-rank, t), corrected across this run's {sampled} sampled claims by "
            f"{CORRECTION} at α = {alpha:g} (false discovery rate among decided verdicts ≤ {alpha:g}). Theory claims "
            "are exact checks against closed forms with stated tolerances. Thresholds come from the claims "
            "catalogue, fixed before the run.")


def counts_line(verdicts: list[Verdict]) -> str:
    counts = Counter(v.verdict for v in verdicts)
    if not verdicts:
        return "No claims: this grid's config names no claims catalogue (config key `claims`)"
    return ", ".join(f"{counts[v]} {v}" for v in ORDER if counts[v])


def reading_order(verdicts: list[Verdict]) -> list[Verdict]:
    """Catalogue order, with the claims this grid does not run moved to the end."""
    return sorted(verdicts, key=lambda v: v.verdict == NOT_RUN)


def markdown(verdicts: list[Verdict], alpha: float, title: str) -> str:
    """A pasteable Markdown scorecard."""
    rows = ["| claim | source | verdict | effect [CI] | threshold | seeds | why / evidence |", "|---|---|---|---|---|---|---|"]
    for v in reading_order(verdicts):
        r = v.row()
        why = r["reason"] or "—"
        if r["evidence"]:
            why += f" (figure: `results/{r['evidence']}`)"
        cells = [f"**{r['claim']}**: {r['statement']}", r["source"], f"**{r['verdict']}**", r["effect"] or "—",
                 r["threshold"] or "—", r["seeds"] or "—", why]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    sampled = sum(v.sampled for v in verdicts)
    return "\n".join([f"# {title}", "", counts_line(verdicts) + ".", "", *rows, "",
                      "## How verdicts are decided", "", method_text(alpha, sampled), ""])


def _link(path: str) -> str:
    """A link into the Snakemake report's result browser (its own javascript API)."""
    return f"javascript:app.showResultInfo('{quote('results/' + path, safe='')}')"


def landing_rst(verdicts: list[Verdict], alpha: float, title: str, extra: str = "") -> str:
    """The report's landing page: the scorecard as a colour-coded HTML table, then the method."""
    head = "".join(f"<th>{h}</th>" for h in ["claim", "source", "verdict", "effect [CI]", "seeds", "why", "evidence"])
    body = []
    for v in reading_order(verdicts):
        r = v.row()
        evidence = (f"<a href=\"{_link(r['evidence'])}\">{html.escape(Path(r['evidence']).name)}</a>"
                    if r["evidence"] else "")
        cells = [f"<b>{html.escape(r['claim'])}</b><br>{html.escape(r['statement'])}",
                 f"{html.escape(r['source'])}<br><i>“{html.escape(r['quote'])}”</i>",
                 f"<b>{html.escape(r['verdict'])}</b>", html.escape(r["effect"]), html.escape(r["seeds"]),
                 html.escape(r["reason"] or r["threshold"]), evidence]
        body.append(f"<tr style=\"background-color:{COLOURS[v.verdict]}\">\n" +
                    "\n".join(f"<td style=\"vertical-align:top;padding:4px;font-size:0.85em\">{c}</td>" for c in cells)
                    + "\n</tr>")
    # one row, one cell per line: docutils refuses lines over 10,000 characters
    table = ("<table style=\"border-collapse:collapse;width:100%\" border=\"1\">\n<thead><tr>" + head
             + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>")
    sampled = sum(v.sampled for v in verdicts)
    underline = "=" * len(title)
    # Snakemake's report shows this page in a narrow prose column beside the rule graph, in a pane
    # that centres its content vertically (so a tall table's top could not be scrolled to): widen the
    # column and align the pane to the top. Jinja renders the text before docutils, so no "{{", "{%"
    # or "{#" may reach it.
    style = ("<style>.max-w-lg{max-width:80rem !important}"
             ".h-screen.items-center{align-items:flex-start !important}</style>")
    raw = style + table
    for opener in ("{{", "{%", "{#"):
        raw = raw.replace(opener, "&#123;" + opener[1])
    return "\n".join([
        title, underline, "", f"**Scorecard: {counts_line(verdicts)}.** Green: reproduced; red: contradicted; "
        "amber: inconclusive (with the reason and the seeds it needs); grey: not run by this grid (with the "
        "config that runs it).", "", ".. raw:: html", "", textwrap.indent(raw, "   "), "",
        method_text(alpha, sampled), "", extra, ""])


def write_scorecard(verdicts: list[Verdict], alpha: float, tables_dir: Path, markdown_path: Path,
                    landing_path: Path | None, title: str, extra: str = "") -> list[Path]:
    frame = pd.DataFrame([v.row() for v in verdicts], columns=list(Verdict.COLUMNS))
    tables_dir.mkdir(parents=True, exist_ok=True)
    written = [tables_dir / "claims.csv"]
    atomic_write_text(written[0], frame.to_csv(index=False, lineterminator="\n"))
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(markdown_path, markdown(verdicts, alpha, title))
    written.append(markdown_path)
    if landing_path is not None:
        landing_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(landing_path, landing_rst(verdicts, alpha, title, extra))
        written.append(landing_path)
    return written
