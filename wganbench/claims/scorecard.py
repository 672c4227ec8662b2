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
from ..study_tables import HIGHER_IS_BETTER
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
            "catalogue, fixed before the run. A decided verdict must also have settled: its effect on its side of "
            "the threshold at every snapshot of the last 40% of its runs' snapshots.")


def counts_line(verdicts: list[Verdict]) -> str:
    """The headline: empirical claims and theory checks counted apart (a closed form that holds is
    not evidence about training, and should not swell the count a reader came for)."""
    if not verdicts:
        return "No claims: this grid's config names no claims catalogue (config key `claims`)"
    groups = []
    for label, chosen in (("empirical claims", [v for v in verdicts if v.claim.empirical]),
                          ("theory checks", [v for v in verdicts if not v.claim.empirical])):
        if chosen:
            counts = Counter(v.verdict for v in chosen)
            groups.append(f"{label}: " + ", ".join(f"{counts[v]} {v}" for v in ORDER if counts[v]))
        else:
            groups.append(f"{label}: none")
    return "; ".join(groups)


def reading_order(verdicts: list[Verdict]) -> list[Verdict]:
    """Empirical claims first, grouped by paper (catalogue order within), then theory checks; the claims
    this grid does not run go to the end of each group."""
    papers = list(dict.fromkeys(v.claim.paper for v in verdicts))
    return sorted(verdicts, key=lambda v: (not v.claim.empirical, v.verdict == NOT_RUN, papers.index(v.claim.paper)))


def short_seeds(row: dict) -> str:
    """The first part's seed count (``7 vs 7``, ``5/7 learned``): one line; the rest is in the details."""
    return (row["seeds"] or "").split(";")[0].strip() or "—"


def held_text(row: dict) -> str:
    held = row.get("held_since")
    if held is None or (isinstance(held, float) and held != held):
        return "—"
    return f"from it {int(held):,}"


def _md_table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[key]).replace("|", "\\|").replace("\n", " ") for _, key in columns) + " |")
    return lines


def markdown(verdicts: list[Verdict], alpha: float, title: str) -> str:
    """A pasteable Markdown scorecard: empirical claims by paper, one line each; theory checks; details."""
    ordered = reading_order(verdicts)
    lines = [f"# {title}", "", counts_line(verdicts) + ".", ""]
    empirical = [v for v in ordered if v.claim.empirical]
    for paper in dict.fromkeys(v.claim.paper for v in empirical):
        rows = []
        for v in (v for v in empirical if v.claim.paper == paper):
            r = v.row()
            rows.append({"claim": f"**{r['claim']}**", "verdict": f"**{r['verdict']}**{sensitive_mark(v)}", "effect": r["effect"] or "—",
                         "seeds": short_seeds(r), "scale": r["scale"] or "—", "held": held_text(r)})
        lines += [f"## {paper}", ""] + _md_table(rows, [("claim", "claim"), ("verdict", "verdict"),
                                                       ("effect [CI]", "effect"), ("seeds", "seeds"),
                                                       ("scale", "scale"), ("verdict held", "held")]) + [""]
    theory = [v for v in ordered if not v.claim.empirical]
    if theory:
        rows = [{"claim": f"**{v.claim.id}**", "source": v.claim.citation, "verdict": f"**{v.verdict}**",
                 "why": v.reason or "—"} for v in theory]
        lines += ["## Theory checks (exact, counted apart)", ""] + _md_table(
            rows, [("claim", "claim"), ("source", "source"), ("verdict", "verdict"), ("why", "why")]) + [""]
    lines += ["## Details", ""]
    for v in ordered:
        r = v.row()
        evidence = f" Figure: `results/{r['evidence']}`." if r["evidence"] else ""
        lines += [f"- **{r['claim']}** ({r['source']}): {r['statement']} Quote: “{r['quote']}”. "
                  f"Verdict: **{r['verdict']}**{' — ' + r['reason'] if r['reason'] else ''}. "
                  f"Threshold: {r['threshold'] or '—'}. Seeds: {r['seeds'] or '—'}.{evidence}".replace("\n", " ")]
    sampled = sum(v.sampled for v in verdicts)
    return "\n".join(lines + ["", "## How verdicts are decided", "", method_text(alpha, sampled), ""])


def sensitive_mark(v: Verdict) -> str:
    return " (machine-sensitive)" if v.claim.machine_sensitive and v.verdict != "not run here" else ""


def _link(path: str) -> str:
    """A link into the Snakemake report's result browser (its own javascript API)."""
    return f"javascript:app.showResultInfo('{quote('results/' + path, safe='')}')"


def _cell(text: str) -> str:
    return f"<td style=\"vertical-align:top;padding:3px 6px;font-size:0.85em\">{text}</td>"


def _html_row(v: Verdict, empirical: bool) -> str:
    r = v.row()
    evidence = (f"<a href=\"{_link(r['evidence'])}\">{html.escape(Path(r['evidence']).name)}</a>"
                if r["evidence"] else "")
    details = (f"<details><summary><b>{html.escape(r['claim'])}</b></summary>"
               f"{html.escape(r['statement'])}<br><i>{html.escape(r['source'])}: “{html.escape(r['quote'])}”</i>"
               f"<br>threshold: {html.escape(r['threshold'] or '—')}<br>seeds: {html.escape(r['seeds'] or '—')}"
               + (f"<br>why: {html.escape(r['reason'])}" if r["reason"] else "")
               + (f"<br>evidence: {evidence}" if evidence else "") + "</details>")
    verdict = f"<b>{html.escape(r['verdict'])}</b>{html.escape(sensitive_mark(v))}"
    if empirical:
        cells = [details, verdict, html.escape(r["effect"] or "—"), html.escape(short_seeds(r)),
                 html.escape(r["scale"] or "—"), html.escape(held_text(r))]
    else:
        cells = [details, verdict, html.escape(r["reason"] or r["threshold"] or "—")]
    return (f"<tr style=\"background-color:{COLOURS[v.verdict]}\">\n" + "\n".join(_cell(c) for c in cells) + "\n</tr>")


def _html_table(head: list[str], rows: list[str]) -> str:
    header = "".join(f"<th style=\"text-align:left;padding:3px 6px\">{h}</th>" for h in head)
    # one row, one cell per line: docutils refuses lines over 10,000 characters
    return ("<table style=\"border-collapse:collapse;width:100%;margin-bottom:1em\" border=\"1\">\n<thead><tr>"
            + header + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>")


def _raw_html(raw: str) -> str:
    """An rst raw-HTML block; Jinja renders the page before docutils, so no "{{", "{%" or "{#" may reach it."""
    for opener in ("{{", "{%", "{#"):
        raw = raw.replace(opener, "&#123;" + opener[1])
    return ".. raw:: html\n\n" + textwrap.indent(raw, "   ")


def budget_block(curves: pd.DataFrame) -> str:
    """The equal-budget study's budget curves at a glance, for the landing page: each objective's
    expected best metric at k = 1, 2, 4, ... N trials per cell, the best objective at each k in bold
    (the figure with its bands: Study > budget curves)."""
    if curves.empty:
        return ""
    blocks = []
    for (experiment, dataset, arch), cell in curves.groupby(["experiment", "dataset", "arch"], sort=False):
        metric = str(cell["metric"].iloc[0])
        top = int(cell["k"].max())
        ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k < top} | {top})
        table = cell.pivot_table(index="objective", columns="k", values="expected_best").reindex(columns=ks)
        lower = metric not in HIGHER_IS_BETTER
        best = table.min() if lower else table.max()
        rows = []
        for objective, values in table.iterrows():
            cells = "".join(
                _cell(f"<b>{v:.3g}</b>" if v == best[k] else f"{v:.3g}") for k, v in values.items())
            rows.append(f"<tr>{_cell(html.escape(str(objective)))}{cells}</tr>")
        blocks.append(f"<h4 style=\"margin:0.5em 0 0.2em\">{html.escape(experiment)}: {html.escape(dataset)}/"
                      f"{html.escape(arch)}, expected best {html.escape(metric)} over k trials</h4>"
                      + _html_table(["objective", *[f"k = {k}" for k in ks]], rows))
    return "\n".join(["Budget curves", "-------------", "",
                      "Each objective's expected best metric over k hyperparameter trials (exact over k-subsets); "
                      "the bands, the trials and the reruns are under Study.", "", _raw_html("\n".join(blocks)), ""])


def landing_rst(verdicts: list[Verdict], alpha: float, title: str, extra: str = "") -> str:
    """The report's landing page: the empirical claims grouped by paper, one line each (verdict, effect
    [CI], seeds, scale, and the iteration from which the verdict held; the claim opens its details),
    then the theory checks, counted apart, then the method."""
    ordered = reading_order(verdicts)
    blocks = []
    empirical = [v for v in ordered if v.claim.empirical]
    for paper in dict.fromkeys(v.claim.paper for v in empirical):
        rows = [_html_row(v, True) for v in empirical if v.claim.paper == paper]
        blocks.append(f"<h3 style=\"margin:0.6em 0 0.2em\">{html.escape(paper)}</h3>"
                      + _html_table(["claim (click for details)", "verdict", "effect [CI]", "seeds", "scale",
                                     "verdict held"], rows))
    theory = [v for v in ordered if not v.claim.empirical]
    if theory:
        blocks.append("<h3 style=\"margin:0.6em 0 0.2em\">Theory checks (exact; counted apart)</h3>"
                      + _html_table(["claim (click for details)", "verdict", "why / check"],
                                    [_html_row(v, False) for v in theory]))
    sampled = sum(v.sampled for v in verdicts)
    underline = "=" * len(title)
    # Snakemake's report shows this page in a narrow prose column beside the rule graph, in a pane
    # that centres its content vertically (so a tall table's top could not be scrolled to): widen the
    # column and align the pane to the top. Jinja renders the text before docutils, so no "{{", "{%"
    # or "{#" may reach it.
    style = ("<style>.max-w-lg{max-width:80rem !important}"
             ".h-screen.items-center{align-items:flex-start !important}</style>")
    raw = style + "\n".join(blocks)
    return "\n".join([
        title, underline, "", f"**Scorecard: {counts_line(verdicts)}.** Green: reproduced; red: contradicted; "
        "amber: inconclusive (with the reason and the seeds or iterations it needs); grey: not run by this grid "
        "(with the config that runs it). \"Verdict held\": for a decided verdict, the snapshot iteration from which "
        "its effect stayed on its side of the threshold (settled when that covers the last 40% of the claim's "
        "snapshots); otherwise the iteration from which the verdict stayed the same "
        "(results/figures/verdicts-over-budget.png).", "", _raw_html(raw), "",
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
