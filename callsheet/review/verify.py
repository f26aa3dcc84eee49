"""The verifier's judgement, as a pure function of what it read and what the tools say now.

Each finding is checked against the file: its line must still read as it did
when it was reported (the digest), and the tool that found it must report the
same rule at that line when run again. What the tools cannot re-run for one rule
(the model's findings, a syntax error, a coverage figure) is checked against the
line only, and the reason says so. Among the findings that hold, those with the
same root cause at the same line (``findings.root_cause``) are merged: the most
severe is kept and the others are merged into it, so both sources stay on record
(a finding another verifier kept earlier stays the one kept; the report gives a
kept finding the worst severity of its sources).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callsheet.events.catalog import FindingReportedData
from callsheet.review.findings import rank, root_cause
from callsheet.review.inventory import line_digest

__all__ = ["Reconfirmed", "Verdict", "judge"]


@dataclass(frozen=True, slots=True)
class Reconfirmed:
    """What one tool reports now, on the files with findings, for the rules found.

    Attributes:
        present: ``(path, line, rule)`` it reports now.
        evidence_id: The ``tool.called`` event of the re-run.
        rules: The rules it was asked for (others cannot be judged by this run).
        paths: The files it ran on (others cannot be judged by this run either).
    """

    present: frozenset[tuple[str, int, str]]
    evidence_id: str
    rules: frozenset[str]
    paths: frozenset[str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verifier's verdict on one finding (the data of a ``finding.verified``)."""

    finding_id: str
    verdict: str
    reason: str
    merged_into: str | None = None
    evidence_id: str | None = None


def _check(
    finding: FindingReportedData,
    lines: Mapping[str, Mapping[str, str | None]],
    rerun: Reconfirmed | None,
    why_not: str,
) -> Verdict:
    now = lines.get(finding.path, {}).get(str(finding.line))
    fid = finding.finding_id
    if now is None:
        return Verdict(fid, "rejected", f"line {finding.line} of {finding.path} no longer exists")
    if finding.line_digest is not None and line_digest(now) != finding.line_digest:
        return Verdict(fid, "rejected", f"line {finding.line} changed since it was reported")
    if rerun is None or finding.rule not in rerun.rules or finding.path not in rerun.paths:
        return Verdict(fid, "confirmed", f"line {finding.line} unchanged; {why_not}")
    if (finding.path, finding.line, finding.rule) in rerun.present:
        reason = f"line {finding.line} unchanged; {finding.tool} reports {finding.rule} there again"
        return Verdict(fid, "confirmed", reason, evidence_id=rerun.evidence_id)
    if finding.rule in ("test-failure", "test-error"):
        reason = "the test passed when run again: flaky, not a lasting failure"
    else:
        reason = f"{finding.tool} no longer reports {finding.rule} at line {finding.line}"
    return Verdict(fid, "rejected", reason, evidence_id=rerun.evidence_id)


_PREFERRED = ("ruff", "bandit", "radon", "mypy", "pytest", "python")
"""On a tie, whose finding is kept: the one with the best-known rule names first."""


def _best(group: Sequence[FindingReportedData]) -> FindingReportedData:
    """The finding kept among duplicates: the most severe, then one with a fix, then a tool's."""

    def order(f: FindingReportedData) -> tuple[int, bool, bool, int, str]:
        known = _PREFERRED.index(f.tool) if f.tool in _PREFERRED else len(_PREFERRED)
        return (rank(f.severity), f.fix is None, f.origin != "tool", known, f.finding_id)

    return min(group, key=order)


def judge(
    findings: Iterable[FindingReportedData],
    lines: Mapping[str, Mapping[str, str | None]],
    reruns: Mapping[str, Reconfirmed],
    unconfirmable: Mapping[str, str],
    key: Mapping[str, str | None],
    prior: Iterable[FindingReportedData] = (),
) -> list[Verdict]:
    """Verdicts on findings, in a stable order (by place, then rule).

    Args:
        findings: The findings to judge (duplicates by id are judged once).
        lines: Lines read now: ``{path: {line: text or None}}``.
        reruns: What each analyzer (by key) reports now.
        unconfirmable: Why a finding's analyzer cannot re-confirm it, by finding id.
        key: The analyzer key of each finding, by finding id (None: no analyzer).
        prior: Findings other verifiers confirmed and kept (the same problem found
            by a task they did not judge is merged into them).
    """
    unique: dict[str, FindingReportedData] = {}
    for f in findings:
        unique.setdefault(f.finding_id, f)
    ordered = sorted(unique.values(), key=lambda f: (f.path, f.line, f.rule, f.finding_id))
    verdicts: dict[str, Verdict] = {}
    for f in ordered:
        analyzer = key.get(f.finding_id)
        rerun = reruns.get(analyzer) if analyzer is not None else None
        why_not = unconfirmable.get(f.finding_id, "no tool can re-run this check")
        verdicts[f.finding_id] = _check(f, lines, rerun, why_not)
    groups: dict[tuple[str, int, str], list[FindingReportedData]] = {}
    for f in ordered:
        if verdicts[f.finding_id].verdict == "confirmed":
            groups.setdefault(root_cause(f), []).append(f)
    earlier = {root_cause(f): f for f in sorted(prior, key=lambda f: f.finding_id)}
    for cause, group in groups.items():
        # A finding another verifier kept stays kept: the same problem merges into it.
        kept = earlier.get(cause) or _best(group)
        if len(group) < 2 and kept is group[0]:
            continue
        for f in group:
            if f is not kept:
                verdicts[f.finding_id] = Verdict(
                    f.finding_id,
                    "merged",
                    f"the same problem as {kept.tool} {kept.rule} at line {kept.line} "
                    f"({kept.finding_id}), which is kept",
                    merged_into=kept.finding_id,
                )
    return [verdicts[f.finding_id] for f in ordered]
