"""The review as a SARIF 2.1.0 log, the format code-scanning tools ingest: a pure function.

One ``run`` per tool that found something (its rules in ``tool.driver.rules``),
one ``result`` per verified finding with ``ruleId``, ``level``, the message and a
``physicalLocation`` relative to the reviewed root (``uriBaseId`` ``SRCROOT``).
Fixes the tools offer become SARIF ``fixes`` (replacements of regions); the
finding's id is its partial fingerprint; what the verifiers merged into it, the
event ids and the perspective are in its ``properties``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callsheet import __version__
from callsheet.events.catalog import FindingReportedData
from callsheet.projections.findings import FindingCard, Findings
from callsheet.review.report import kept

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "render_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_INFO = {
    "ruff": "https://docs.astral.sh/ruff/",
    "bandit": "https://bandit.readthedocs.io/",
    "radon": "https://radon.readthedocs.io/",
    "mypy": "https://mypy.readthedocs.io/",
    "pytest": "https://docs.pytest.org/",
    "python": "https://docs.python.org/3/reference/grammar.html",
}


def _location(d: FindingReportedData) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": d.line}
    if d.column is not None:
        region["startColumn"] = d.column
    if d.end_line is not None:
        region["endLine"] = d.end_line
    if d.source_line:
        region["snippet"] = {"text": d.source_line}
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": d.path, "uriBaseId": "SRCROOT"},
            "region": region,
        }
    }


def _fixes(d: FindingReportedData) -> list[dict[str, Any]]:
    if d.fix is None or not d.fix.edits:
        return []
    replacements = [
        {
            "deletedRegion": {
                "startLine": e.start_line,
                "startColumn": e.start_column,
                "endLine": e.end_line,
                "endColumn": e.end_column,
            },
            "insertedContent": {"text": e.content},
        }
        for e in d.fix.edits
    ]
    return [
        {
            "description": {"text": f"{d.fix.description} ({d.fix.applicability})"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": d.path, "uriBaseId": "SRCROOT"},
                    "replacements": replacements,
                }
            ],
        }
    ]


def _result(card: FindingCard, state: Findings, rule_index: int) -> dict[str, Any]:
    d = card.data
    also = [state.findings[f].data for f in card.also if f in state.findings]
    result: dict[str, Any] = {
        "ruleId": d.rule,
        "ruleIndex": rule_index,
        "level": state.severity(card),
        "message": {"text": d.message},
        "locations": [_location(d)],
        "partialFingerprints": {"callsheetFinding/v1": d.finding_id},
        "properties": {
            "perspective": d.perspective,
            "origin": d.origin,
            "eventId": card.reported_id,
            "verdictEventId": card.verdict_id,
            "verification": card.reason,
            "alsoReportedBy": [f"{a.tool}/{a.rule}" for a in also],
            "tags": sorted({t for f in (d, *also) for t in f.tags}),
        },
    }
    fixes = _fixes(d)
    if fixes:
        result["fixes"] = fixes
    return result


def _rule(d: FindingReportedData) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": d.rule, "shortDescription": {"text": d.rule}}
    if d.help_uri:
        rule["helpUri"] = d.help_uri
    if d.tags:
        rule["properties"] = {"tags": list(d.tags)}
    return rule


def render_sarif(state: Findings, *, root: str) -> dict[str, Any]:
    """The SARIF log of a goal's verified findings.

    Args:
        state: The goal's findings.
        root: The reviewed folder (absolute): the ``SRCROOT`` base of every location.
    """
    runs: list[dict[str, Any]] = []
    by_tool: dict[str, list[FindingCard]] = {}
    for card in kept(state):
        by_tool.setdefault(card.data.tool, []).append(card)
    base = {"SRCROOT": {"uri": Path(root).resolve().as_uri().rstrip("/") + "/"}}
    for tool in sorted(by_tool):
        cards = by_tool[tool]
        rules: dict[str, int] = {}
        described: list[dict[str, Any]] = []
        for card in cards:
            if card.data.rule not in rules:
                rules[card.data.rule] = len(described)
                described.append(_rule(card.data))
        driver: dict[str, Any] = {"name": tool, "rules": described}
        if tool in _INFO:
            driver["informationUri"] = _INFO[tool]
        runs.append(
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": base,
                "results": [_result(c, state, rules[c.data.rule]) for c in cards],
                "properties": {"reviewedBy": f"callsheet {__version__}"},
            }
        )
    if not runs:  # a log with no findings still says who looked
        runs.append(
            {
                "tool": {"driver": {"name": "callsheet", "version": __version__, "rules": []}},
                "originalUriBaseIds": base,
                "results": [],
            }
        )
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}
