"""From a tool's raw finding to a finding of the catalog, and what makes two findings one.

Pure functions. A finding's id is derived from its content (place, tool, rule,
message), so the same problem reported twice (a redelivered task) is one finding.
Two tools that report the same root cause at the same line (ruff's S608 and
bandit's B608; ruff's C901 and radon's complexity; pyflakes' undefined name and
mypy's) are one problem: the verifier keeps the most severe and merges the other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from callsheet.events.catalog import (
    SEVERITIES,
    FindingReportedData,
    Perspective,
    Severity,
)
from callsheet.review.analyzers.base import Raw
from callsheet.review.inventory import SourceFile, decode_source, line_digest

__all__ = [
    "SYNTAX_RULE",
    "digest_of",
    "finding_data",
    "finding_id",
    "line_of",
    "rank",
    "read_source",
    "root_cause",
    "syntax_finding",
]

SYNTAX_RULE = "syntax-error"
"""Rule of a file Python cannot parse (reported by the inventory, once)."""

_S_OR_B = re.compile(r"^[SB](\d{3})$")
_EQUIVALENT: dict[tuple[str, str], str] = {
    ("ruff", "C901"): "complexity",
    ("radon", "CC"): "complexity",
    ("ruff", "F821"): "undefined-name",
    ("mypy", "name-defined"): "undefined-name",
    ("ruff", "F811"): "redefinition",
    ("mypy", "no-redef"): "redefinition",
    ("mypy", "syntax"): "syntax",
    ("python", "syntax-error"): "syntax",
    ("ruff", "F401"): "unused-import",
    ("ruff", "F841"): "unused-variable",
}
_SOURCE_LINE_MAX = 2000


def finding_id(path: str, line: int, column: int | None, tool: str, rule: str, message: str) -> str:
    """The content-derived id of a finding: ``f`` and 24 hex digits."""
    key = "\x00".join((path, str(line), str(column or 0), tool, rule, message))
    return "f" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def rank(severity: Severity) -> int:
    """0 for the worst severity (``error``), then 1, 2."""
    return SEVERITIES.index(severity)


def root_cause(data: FindingReportedData) -> tuple[str, int, str]:
    """What a finding is about: (path, line, cause); equal for the same problem found twice."""
    cause = _EQUIVALENT.get((data.tool, data.rule))
    if cause is None and data.tool in ("ruff", "bandit") and data.perspective == "security":
        match = _S_OR_B.match(data.rule)  # ruff's S### are bandit's B### checks, ported
        if match:
            cause = f"bandit-{match.group(1)}"
    return data.path, data.line, cause or f"{data.tool}:{data.rule}"


def finding_data(
    raw: Raw,
    *,
    tool: str,
    perspective: Perspective,
    source_line: str | None,
    evidence_id: str | None,
    origin: str = "tool",
    file_digest: str | None = None,
) -> FindingReportedData:
    """The catalog's finding for a raw one, with the line's text and digest as read now."""
    text = "" if source_line is None else source_line[:_SOURCE_LINE_MAX]
    return FindingReportedData(
        finding_id=finding_id(raw.path, raw.line, raw.column, tool, raw.rule, raw.message),
        path=raw.path,
        line=raw.line,
        end_line=raw.end_line if raw.end_line and raw.end_line >= raw.line else None,
        column=raw.column,
        rule=raw.rule,
        tool=tool,
        severity=raw.severity,
        perspective=perspective,
        message=raw.message or raw.rule,
        source_line=text,
        line_digest=None if source_line is None else line_digest(source_line),
        fix=raw.fix,
        origin="model" if origin == "model" else "tool",
        evidence_id=evidence_id,
        help_uri=raw.help_uri,
        tags=list(raw.tags),
        file_digest=file_digest,
    )


def syntax_finding(source: SourceFile, evidence_id: str | None) -> FindingReportedData:
    """The finding of a file that does not parse."""
    raw = Raw(
        path=source.path,
        line=source.error_line or 1,
        column=source.error_column,
        rule=SYNTAX_RULE,
        message=f"Python cannot parse this file: {source.error}",
        severity="error",
    )
    return finding_data(
        raw,
        tool="python",
        perspective="bugs",
        source_line=source.error_text,
        evidence_id=evidence_id,
        file_digest=source.sha256,
    )


def read_source(root: str, wanted: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Some lines of some files, and each file's digest (None: the file is gone or unreadable).

    ``{path: {"sha256": hex or None, "lines": {"12": text or None}}}``: line numbers
    are strings (JSON keys), so that the result can be recorded as a tool call and
    read back unchanged.
    """
    found: dict[str, Any] = {}
    for path, numbers in sorted(wanted.items()):
        try:
            raw = (Path(root) / path).read_bytes()
            lines: list[str] | None = decode_source(raw).splitlines()
            digest: str | None = hashlib.sha256(raw).hexdigest()
        except (OSError, ValueError):
            lines, digest = None, None
        found[path] = {
            "sha256": digest,
            "lines": {
                str(n): lines[n - 1] if lines is not None and 0 < n <= len(lines) else None
                for n in sorted(set(numbers))
            },
        }
    return found


def line_of(source: Mapping[str, Any], path: str, line: int) -> str | None:
    """One line out of what ``read_source`` read (None: not read, or no such line)."""
    text = (source.get(path) or {}).get("lines", {}).get(str(line))
    return text if isinstance(text, str) else None


def digest_of(source: Mapping[str, Any], path: str) -> str | None:
    """A file's digest out of what ``read_source`` read."""
    digest = (source.get(path) or {}).get("sha256")
    return digest if isinstance(digest, str) else None
