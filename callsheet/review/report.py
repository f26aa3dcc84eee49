"""The review's Markdown report, rendered from the ``findings`` projection: a pure function.

The report lists the verified findings only (duplicates merged into the one
kept, with every tool that reported it) and counts the rejected ones; it says
what was not analysed and why, and what was reported but never verified. Each
finding names the event ``callsheet why`` explains.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callsheet.events.catalog import PERSPECTIVES, SEVERITIES, Severity
from callsheet.projections.findings import FindingCard, Findings
from callsheet.review import costs as team_costs
from callsheet.review.findings import rank

__all__ = ["ReportCounts", "counts", "kept", "render_markdown", "summary_lines"]

_TOP_FILES = 10
_PATHS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class ReportCounts:
    """The figures of a report (also the goal's result).

    Attributes:
        by_severity: Verified findings per severity.
        by_perspective: Verified findings per perspective.
        rejected: Findings the verifiers rejected.
        merged: Findings merged into another (duplicates).
        unverified: Findings no verifier judged.
        skipped: Parts not analysed.
    """

    by_severity: dict[str, int]
    by_perspective: dict[str, int]
    rejected: int
    merged: int
    unverified: int
    skipped: int

    @property
    def verified(self) -> int:
        """Findings listed (verified and kept)."""
        return sum(self.by_severity.values())

    def as_json(self) -> dict[str, Any]:
        """The figures as plain data."""
        return {
            "verified": self.verified,
            "by_severity": self.by_severity,
            "by_perspective": self.by_perspective,
            "rejected": self.rejected,
            "merged": self.merged,
            "unverified": self.unverified,
            "skipped": self.skipped,
        }


def kept(state: Findings) -> list[FindingCard]:
    """The verified findings the report lists, worst first, then by place."""

    def order(card: FindingCard) -> tuple[int, str, int, str, str]:
        d = card.data
        return (rank(state.severity(card)), d.path, d.line, d.rule, d.finding_id)

    return sorted(state.by_status("confirmed"), key=order)


def counts(state: Findings) -> ReportCounts:
    """The report's figures."""
    listed = kept(state)
    return ReportCounts(
        by_severity={s: sum(1 for c in listed if state.severity(c) == s) for s in SEVERITIES},
        by_perspective={p: sum(1 for c in listed if c.data.perspective == p) for p in PERSPECTIVES},
        rejected=len(state.by_status("rejected")),
        merged=len(state.by_status("merged")),
        unverified=len(state.by_status("reported")),
        skipped=len(state.skipped),
    )


def _md(text: str) -> str:
    """Text safe inside a Markdown line (no table or emphasis breakage)."""
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _paths(paths: Sequence[str]) -> str:
    shown = ", ".join(f"`{_md(p)}`" for p in paths[:_PATHS_SHOWN])
    more = len(paths) - _PATHS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _reviewed(inv: dict[str, Any]) -> list[str]:
    """What the inventory says was reviewed, and the project's own configuration."""
    packages = ", ".join(inv.get("packages") or [])
    others = inv.get("other_files") or 0
    line = (
        f"- Reviewed {inv.get('files', 0)} Python files, {inv.get('lines', 0)} lines "
        f"({inv.get('test_files', 0)} test files"
    )
    line += f", packages: {packages})" if packages else ")"
    line += f"; {others} other files not reviewed." if others else "."
    sources = (inv.get("config") or {}).get("sources") or []
    if sources:
        return [line, "- The project's own configuration: " + "; ".join(sources)]
    return [line, "- The project configures none of the tools: their defaults were used."]


def _tables(state: Findings) -> list[str]:
    """Findings by perspective and severity, and the files most affected."""
    out = ["", "| perspective | errors | warnings | notes |", "| --- | ---: | ---: | ---: |"]
    listed = kept(state)
    for p in PERSPECTIVES:
        row = Counter(state.severity(c) for c in listed if c.data.perspective == p)
        out.append(f"| {p} | {row['error']} | {row['warning']} | {row['note']} |")
    files = Counter(c.data.path for c in listed)
    if files:
        out += ["", "Files most affected:", "", "| file | errors | warnings | notes |"]
        out.append("| --- | ---: | ---: | ---: |")
        for path, _ in sorted(files.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_FILES]:
            row = Counter(state.severity(c) for c in listed if c.data.path == path)
            out.append(f"| `{_md(path)}` | {row['error']} | {row['warning']} | {row['note']} |")
    return out


def _missing(state: Findings) -> list[str]:
    """What was not analysed and why, and what was reported but never judged."""
    inv = state.inventory or {}
    out = ["", "### Not analysed", ""]
    if not state.skipped and inv.get("files", 1):
        out.append("Everything was analysed.")
    if inv and not inv.get("files"):
        out.append("- No Python file was found to review.")
    for part in state.skipped:
        what = f"{len(part.paths)} files" if part.paths else "the whole codebase"
        scope = f" ({', '.join(part.perspectives)})" if part.perspectives else ""
        where = f": {_paths(part.paths)}" if part.paths else ""
        out.append(f"- {what}{scope}: {_md(part.reason)}{where}")
    unverified = state.by_status("reported")
    if unverified:
        out += ["", "### Reported but not verified", ""]
        out.append(
            f"{len(unverified)} findings were reported but no verifier judged them "
            '(see "Not analysed"); they are not counted above:'
        )
        for card in unverified[:50]:
            d = card.data
            out.append(f"- `{_md(d.path)}:{d.line}` {d.tool} {d.rule}: {_md(d.message)}")
    return out


def _summary(state: Findings, figures: ReportCounts, root: str, goal: str) -> list[str]:
    out = [f"# Code review of `{_md(root)}`", ""]
    out.append(
        f"Goal `{goal}`: reviewed by the callsheet crew; every finding below was checked "
        "against the file by a verifier."
    )
    out += ["", "## Summary", ""]
    sev = figures.by_severity
    out.append(
        f"- **{figures.verified} findings**: {sev['error']} errors, {sev['warning']} warnings, "
        f"{sev['note']} notes. The verifiers rejected {figures.rejected} reported findings "
        f"that did not hold and merged {figures.merged} duplicates into the findings kept."
    )
    if state.inventory:
        out += _reviewed(dict(state.inventory))
    out.append(f"- {state.tool_calls} tool runs, {state.tool_ms / 1000:.1f} s of tool time.")
    return out + _tables(state) + _missing(state)


def _finding(card: FindingCard, state: Findings) -> list[str]:
    d = card.data
    out = [f"#### `{_md(d.path)}:{d.line}` {d.rule}: {_md(d.message)}", ""]
    also = [state.findings[f].data for f in card.also if f in state.findings]
    sources = f"{d.tool}" + "".join(f", {a.tool} {a.rule}" for a in also)
    facts = [f"**{state.severity(card)}**", d.perspective, f"found by {sources}"]
    if d.origin == "model":
        facts.append("a model's finding")
    facts += sorted({t for f in (d, *also) for t in f.tags})
    out.append(" · ".join(facts))
    if d.source_line.strip():
        out += ["", "```python", d.source_line.rstrip(), "```"]
    fixes = [x for x in [d.fix, *(a.fix for a in also)] if x is not None]
    if fixes:
        fix = fixes[0]
        kind = {"safe": "safe fix", "unsafe": "unsafe fix", "manual": "fix"}[fix.applicability]
        out += ["", f"- **{kind}**: {_md(fix.description)}"]
    if d.help_uri:
        out.append(f"- rule: <{d.help_uri}>")
    out.append(f"- verified: {_md(card.reason)}")
    out += [f"- event `{card.reported_id}`: `callsheet why {card.reported_id}`", ""]
    return out


def render_markdown(
    state: Findings,
    *,
    root: str,
    goal: str,
    per_rule: int = 20,
    costs: team_costs.TeamCosts | None = None,
    fixes: Sequence[str] = (),
) -> str:
    """The report.

    Args:
        state: The goal's findings.
        root: The reviewed folder, as the user named it.
        goal: The goal's id.
        per_rule: Findings of one rule (and severity) listed in full; the rest are
            counted (they are all in the SARIF log).
        costs: The goal's spending and work (``review.costs``): the report ends with
            cost per agent and model and the parallel efficiency.
        fixes: The "Fixes" section (``review.fix_report``), if the review fixed.
    """
    figures = counts(state)
    out = _summary(state, figures, root, goal)
    out += ["", "## Findings", ""]
    listed = kept(state)
    if not listed:
        out.append("No finding holds.")
    titles: dict[Severity, str] = {"error": "Errors", "warning": "Warnings", "note": "Notes"}
    for severity in SEVERITIES:
        cards = [c for c in listed if state.severity(c) == severity]
        if not cards:
            continue
        out += [f"### {titles[severity]} ({len(cards)})", ""]
        shown: Counter[str] = Counter()
        left: Counter[str] = Counter()
        for card in cards:
            rule = f"{card.data.tool} {card.data.rule}"
            if shown[rule] >= per_rule:
                left[rule] += 1
                continue
            shown[rule] += 1
            out += _finding(card, state)
        for rule, n in sorted(left.items()):
            out.append(f"- and {n} more of {rule}, not listed here: see the SARIF log")
        if left:
            out.append("")
    out += fixes
    if costs is not None:
        out += team_costs.render(costs)
    return "\n".join(out).rstrip() + "\n"


def summary_lines(state: Findings) -> list[str]:
    """A goal's findings in a few lines: the figures, then one line per verified finding."""
    figures = counts(state)
    sev = figures.by_severity
    out = [
        f"goal {state.goal_id}: {len(state.findings)} findings reported; {figures.verified} "
        f"verified ({sev['error']} errors, {sev['warning']} warnings, {sev['note']} notes), "
        f"{figures.rejected} rejected, {figures.merged} merged, {figures.unverified} not yet "
        f"judged; {figures.skipped} parts not analysed"
    ]
    for card in kept(state):
        d = card.data
        also = "".join(f" +{state.findings[f].data.tool}" for f in card.also if f in state.findings)
        out.append(
            f"  {d.severity:<7} {d.path}:{d.line} {d.tool}{also} {d.rule}: {d.message}"[:200]
        )
    for part in state.skipped:
        out.append(f"  not analysed: {len(part.paths)} files: {part.reason}"[:200])
    return out
