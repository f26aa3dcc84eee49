"""Review events: findings reported by analysts, verdicts of verifiers, what was not analysed."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from callsheet.events.envelope import Event, EventId, Id, Payload, Text

__all__ = [
    "PERSPECTIVES",
    "SEVERITIES",
    "AnalysisSkipped",
    "AnalysisSkippedData",
    "FindingReported",
    "FindingReportedData",
    "FindingVerified",
    "FindingVerifiedData",
    "FixEdit",
    "Perspective",
    "RelPath",
    "Severity",
    "SuggestedFix",
]

Perspective = Literal["security", "bugs", "complexity", "style", "tests"]
"""The point of view a finding belongs to (``tests`` covers tests and typing)."""
PERSPECTIVES: tuple[Perspective, ...] = ("security", "bugs", "complexity", "style", "tests")
"""Every perspective, in the order reports list them."""

Severity = Literal["error", "warning", "note"]
"""How bad a finding is; the levels of SARIF 2.1.0."""
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")
"""Every severity, worst first."""

RelPath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        pattern=r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$)).+$",
        description="A POSIX path relative to the reviewed root, never absolute or with '..'.",
    ),
]
Digest = Annotated[
    str, Meta(pattern=r"^sha256:[0-9a-f]{64}$(?!\n)", description="sha256:<hex> of the content.")
]
Line = Annotated[int, Meta(ge=1, description="1-based line number.")]
Column = Annotated[int, Meta(ge=1, description="1-based column number.")]


class FixEdit(Payload, kw_only=True, frozen=True):
    """One replacement of a suggested fix: the text between two positions becomes ``content``."""

    start_line: Line
    start_column: Column
    end_line: Line
    end_column: Column
    content: Annotated[Text, Meta(description="The replacement text.")] = ""


class SuggestedFix(Payload, kw_only=True, frozen=True):
    """A fix offered by the tool or the model."""

    description: Annotated[Text, Meta(description="What the fix does, in words.")]
    applicability: Annotated[
        Literal["safe", "unsafe", "manual"],
        Meta(
            description="safe: behaviour kept; unsafe: may change behaviour; manual: advice only."
        ),
    ] = "manual"
    edits: Annotated[list[FixEdit], Meta(description="The edits, if the fix is mechanical.")] = []


class FindingReportedData(Payload, kw_only=True, frozen=True):
    """An analyst found a problem at a place in the reviewed code."""

    finding_id: Annotated[
        Id,
        Meta(
            description="Content-derived id (path, position, tool, rule, message): the same "
            "problem found twice has the same id."
        ),
    ]
    path: RelPath
    line: Line
    end_line: Annotated[Line | None, Meta(description="Last line of the range.")] = None
    column: Annotated[Column | None, Meta(description="Column where it starts.")] = None
    rule: Annotated[Id, Meta(description="The rule, as the tool names it, e.g. 'S608'.")]
    tool: Annotated[Id, Meta(description="What found it: 'ruff', 'bandit', 'mypy', 'claude'...")]
    severity: Annotated[Severity, Meta(description="How bad it is.")]
    perspective: Annotated[Perspective, Meta(description="The point of view it belongs to.")]
    message: Annotated[Text, Meta(description="The problem, in words.")]
    source_line: Annotated[Text, Meta(description="The text of the line, as it was read.")] = ""
    line_digest: Annotated[
        Digest | None, Meta(description="sha256 of the line's UTF-8 bytes, when it was read.")
    ] = None
    file_digest: Annotated[
        Annotated[str, Meta(pattern="^[0-9a-f]{64}$")] | None,
        Meta(description="sha256 (hex) of the whole file as it was when the finding was made."),
    ] = None
    fix: Annotated[SuggestedFix | None, Meta(description="A fix, if one is offered.")] = None
    origin: Annotated[
        Literal["tool", "model"], Meta(description="A tool's finding or a model's.")
    ] = "tool"
    evidence_id: Annotated[
        EventId | None, Meta(description="The tool.called or model.called event it came from.")
    ] = None
    help_uri: Annotated[
        Annotated[str, Meta(max_length=2048)] | None,
        Meta(description="Where the rule is explained."),
    ] = None
    tags: Annotated[list[Id], Meta(description="e.g. 'CWE-89'.")] = []


class FindingReported(Event, tag="finding.reported", frozen=True, kw_only=True):
    """A finding was reported (task: the analysis task)."""

    data: FindingReportedData


class FindingVerifiedData(Payload, kw_only=True, frozen=True):
    """A verifier's verdict on a finding, checked against the file."""

    finding_id: Annotated[Id, Meta(description="The finding judged.")]
    verdict: Annotated[
        Literal["confirmed", "rejected", "merged"],
        Meta(
            description="confirmed: it holds; rejected: it does not (see reason); merged: the "
            "same problem as merged_into, which keeps both sources."
        ),
    ]
    reason: Annotated[Text, Meta(description="How it was checked, or why it does not hold.")]
    verifier: Annotated[Id, Meta(description="Agent that judged it.")]
    merged_into: Annotated[Id | None, Meta(description="The finding it was merged into.")] = None
    evidence_id: Annotated[
        EventId | None, Meta(description="The tool.called event that re-confirmed it.")
    ] = None


class FindingVerified(Event, tag="finding.verified", frozen=True, kw_only=True):
    """A finding was verified (task: the verification task)."""

    data: FindingVerifiedData


class AnalysisSkippedData(Payload, kw_only=True, frozen=True):
    """Part of the codebase was not analysed, and why."""

    reason: Annotated[Text, Meta(description="Why it was not analysed.")]
    paths: Annotated[
        list[RelPath], Meta(max_length=10000, description="Files not analysed (empty: all).")
    ] = []
    perspectives: Annotated[
        list[Perspective], Meta(description="Perspectives left out (empty: all).")
    ] = []
    tool: Annotated[Id | None, Meta(description="The tool that could not run, if one.")] = None


class AnalysisSkipped(Event, tag="analysis.skipped", frozen=True, kw_only=True):
    """Something was not analysed (task: the task that could not do it)."""

    data: AnalysisSkippedData
