"""From evidence to verdicts: combine a claim's parts, correct for multiplicity, say why.

Decision procedure (written here once, quoted in the scorecard):

- An exact rule (closed form, bound on a computed table) decides by its own check.
- A sampled rule (ordering, learns, correlation, published) gives an interval at confidence 1 − 2α,
  so that each of its bounds is a one-sided α bound, and two one-sided p-values: one for the claim,
  one against it.
- A claim with several parts (``all_of``) is reproduced when every part is, contradicted when any
  part is. Its p-value for the claim is the largest of its parts' (intersection-union test); its
  p-value against is the smallest of the parts that contradict it (of all parts when none does),
  times the number of parts (Bonferroni within the claim).
- Across one run's sampled claims, the p-values for and the p-values against are each corrected by
  Benjamini and Hochberg's step-up procedure at α (false discovery rate ≤ α among decided verdicts).
- ``reproduced`` needs the interval beyond the threshold on the claimed side and the corrected
  p-value for the claim below α; ``contradicted`` the interval on the other side (or inside the
  equivalence band) and the corrected p-value against below α. Anything else is ``inconclusive``,
  with its reason and the seeds per cell at which the observed effect would decide at level α / m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .catalogue import Claim
from . import at_budget  # noqa: F401  (registers the equal-budget rules)
from .rules import CONTRADICTED, INCONCLUSIVE, MAX_SEEDS, NOT_RUN, REPRODUCED, RULES, Evidence, Tables

CORRECTION = "Benjamini-Hochberg"


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    reason: str
    parts: list[Evidence]
    p_for: float | None = None
    p_against: float | None = None
    q_for: float | None = None
    q_against: float | None = None
    seeds_needed: int | None = None
    held_since: int | None = None  # the snapshot iteration from which this verdict held (wganbench.claims.budget)
    leaning: str = ""  # the side its point estimates are on, significant or not (Evidence.leaning)
    scale: str = ""  # image size, iterations, share of the paper's budget

    @property
    def sampled(self) -> bool:
        return any(part.sampled for part in self.parts)

    COLUMNS = ("claim", "kind", "paper", "source", "quote", "statement", "verdict", "reason", "effect", "threshold",
               "seeds", "scale", "held_since", "effect_value", "ci_low", "ci_high", "p_for", "p_against", "q_for",
               "q_against", "seeds_needed", "rules", "evidence", "tested_by")

    def row(self) -> dict[str, Any]:
        first = self.parts[0]
        effect = "; ".join(_effect_text(p) for p in self.parts if p.decision != NOT_RUN) or ""
        return {
            "claim": self.claim.id, "kind": "empirical" if self.claim.empirical else "theory",
            "paper": self.claim.paper, "source": self.claim.citation, "quote": self.claim.source["quote"],
            "statement": self.claim.statement, "verdict": self.verdict, "reason": self.reason,
            "effect": effect, "threshold": "; ".join(p.threshold for p in self.parts if p.threshold),
            "seeds": "; ".join(p.n for p in self.parts if p.n), "scale": self.scale, "held_since": self.held_since,
            "effect_value": first.effect, "ci_low": first.ci_low, "ci_high": first.ci_high,
            "p_for": self.p_for, "p_against": self.p_against, "q_for": self.q_for, "q_against": self.q_against,
            "seeds_needed": self.seeds_needed, "rules": "+".join(_rule_names(self.claim)),
            "evidence": self.claim.evidence or "", "tested_by": ", ".join(self.claim.tested_by),
        }


def _rule_names(claim: Claim) -> list[str]:
    return [part["rule"] for part in claim.parts]


def _effect_text(evidence: Evidence) -> str:
    if math.isnan(evidence.effect):
        return ""
    if math.isnan(evidence.ci_low):
        return f"{evidence.effect:.3g}"
    return f"{evidence.effect:.3g} [{evidence.ci_low:.3g}, {evidence.ci_high:.3g}]"


def benjamini_hochberg(pvalues: list[float]) -> list[float]:
    """BH-adjusted p-values (q-values); NaN stays NaN and does not count in m."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    if len(finite):
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q.tolist()


def combine(claim: Claim, parts: list[Evidence]) -> Verdict:
    """One claim's pre-correction verdict from its parts."""
    decisions = [part.decision for part in parts]
    if all(d == NOT_RUN for d in decisions):
        config = " or ".join(claim.tested_by)
        return Verdict(claim, NOT_RUN, f"`snakemake --cores all --configfile {config}` decides it", parts)
    if CONTRADICTED in decisions:
        verdict, reason = CONTRADICTED, "; ".join(dict.fromkeys(p.reason for p in parts if p.decision == CONTRADICTED and p.reason))
    elif all(d == REPRODUCED for d in decisions):
        verdict, reason = REPRODUCED, ""
    else:
        verdict = INCONCLUSIVE
        reason = "; ".join(dict.fromkeys(p.reason for p in parts if p.decision in (INCONCLUSIVE, NOT_RUN) and p.reason))
    sampled = [p for p in parts if p.sampled and p.p_for is not None]
    result = Verdict(claim, verdict, reason, parts, leaning=leaning_of(parts))
    if sampled:
        result.p_for = max(p.p_for for p in sampled)  # type: ignore[type-var]
        against = [p for p in sampled if p.decision == CONTRADICTED] or sampled
        result.p_against = min(1.0, len(sampled) * min(p.p_against for p in against))  # type: ignore[type-var]
    return result


def leaning_of(parts: list[Evidence]) -> str:
    """The claim's side by its parts' point estimates, combined as verdicts are (all_of)."""
    sides = [part.leaning or part.decision for part in parts]
    if all(side == NOT_RUN for side in sides):
        return NOT_RUN
    if CONTRADICTED in sides:
        return CONTRADICTED
    return REPRODUCED if all(side == REPRODUCED for side in sides) else INCONCLUSIVE


def decide(claims: list[Claim], tables: Tables, alpha: float) -> list[Verdict]:
    """Every claim's verdict, with the multiplicity correction across the sampled ones."""
    verdicts = [combine(claim, [RULES.get(part["rule"])(part, tables) for part in claim.parts]) for claim in claims]
    family = [v for v in verdicts if v.p_for is not None]
    q_for = benjamini_hochberg([v.p_for for v in family])  # type: ignore[misc]
    q_against = benjamini_hochberg([v.p_against for v in family])  # type: ignore[misc]
    strictest = alpha / max(len(family), 1)
    for verdict, qf, qa in zip(family, q_for, q_against):
        verdict.q_for, verdict.q_against = qf, qa
        if verdict.verdict == REPRODUCED and not qf < alpha:
            verdict.verdict = INCONCLUSIVE
            verdict.reason = (f"the interval is beyond the threshold, but too few seeds: q = {qf:.3g} ≥ α = {alpha:g} "
                              f"after {CORRECTION} across {len(family)} sampled claims")
        elif verdict.verdict == CONTRADICTED and not qa < alpha:
            verdict.verdict = INCONCLUSIVE
            verdict.reason = (f"the interval is against the claim, but too few seeds: q = {qa:.3g} ≥ α = {alpha:g} "
                              f"after {CORRECTION} across {len(family)} sampled claims")
        if verdict.verdict == INCONCLUSIVE:
            needs = [p.seeds_needed(strictest) for p in verdict.parts if p.sampled and p.decision != REPRODUCED]
            needs = [n for n in needs if n is not None] or [p.seeds_needed(strictest) for p in verdict.parts if p.sampled]
            found = [n for n in needs if n is not None]
            verdict.seeds_needed = max(found) if found else None
            budget_bound = "still improving" in verdict.reason or "nothing learns" in verdict.reason
            longer = verdict.claim.tested_by[1:]
            if budget_bound:  # more seeds would not help: more iterations would
                verdict.seeds_needed = None
                if longer:
                    verdict.reason += f"; `snakemake --cores all --configfile {longer[0]}` trains these cells longer"
            if verdict.seeds_needed is not None and verdict.seeds_needed >= MAX_SEEDS:
                verdict.reason += (f"; the observed effect is too small to decide with ≤ {MAX_SEEDS:,} seeds per cell "
                                   "at this scale")
            elif verdict.seeds_needed is not None:
                verdict.reason += f"; the observed effect needs ~{verdict.seeds_needed} seeds per cell"
    for verdict in verdicts:
        cap_machine_sensitive(verdict)
    return verdicts


def cap_machine_sensitive(verdict: Verdict) -> None:
    """A verdict that moved with the machine's numerics is no finding: at most inconclusive, saying why."""
    note = verdict.claim.machine_sensitive
    if not note or verdict.verdict == NOT_RUN:
        return
    if verdict.verdict in (REPRODUCED, CONTRADICTED):
        verdict.reason = f"machine-sensitive: {verdict.verdict} here, but {note}"
        verdict.verdict = INCONCLUSIVE
    else:
        verdict.reason = "; ".join(filter(None, [verdict.reason, f"machine-sensitive: {note}"]))


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([v.row() for v in verdicts])
