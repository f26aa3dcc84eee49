"""Claude reviews the code too: what tools cannot see (logic errors, misuse of an API).

The files are read through a recorded call and sent with numbered lines; the
model answers through tool use with structured findings (``FINDINGS_SCHEMA``).
Its findings are marked as model findings (``origin="model"``) and verified like
the tools' (the line must exist and still read the same). The task's share of
the goal's token and cost budgets bound it: a batch the budget cannot pay for is
not sent, and that is recorded as ``analysis.skipped`` (the cost of a batch is
judged by the price per token of the task's calls so far: the first is sent if
any of the share is left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callsheet.agents.context import WorkContext
from callsheet.agents.recording import call_model
from callsheet.agents.tools import call_recorded
from callsheet.events.catalog import (
    PERSPECTIVES,
    SEVERITIES,
    AnalysisSkipped,
    AnalysisSkippedData,
    FindingReportedData,
    Perspective,
    Severity,
    SuggestedFix,
)
from callsheet.models import Model, ModelRequest
from callsheet.review.analyzers.base import Job, Raw
from callsheet.review.findings import finding_data
from callsheet.review.inventory import decode_source

__all__ = ["FINDINGS_SCHEMA", "MAX_PROMPT_CHARS", "MODEL_TOOL", "review_with_model"]

MODEL_TOOL = "claude"
"""The ``tool`` of model findings."""
MAX_PROMPT_CHARS = 400_000
"""Source sent to the model at most per batch (about 100k tokens)."""

FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "severity": {"enum": list(SEVERITIES)},
                    "perspective": {"enum": list(PERSPECTIVES)},
                    "rule": {"type": "string", "description": "short kebab-case id"},
                    "message": {"type": "string"},
                    "fix": {"type": "string", "description": "how to fix it, in words"},
                },
                "required": ["path", "line", "severity", "message"],
            },
        }
    },
    "required": ["findings"],
}

_PROMPT = (
    "You review Python code with a team of static analyzers (ruff, bandit, radon, mypy) that "
    "already report style, known security patterns, complexity and type errors. Report only "
    "what they cannot see: logic errors, wrong use of an API, race conditions, broken error "
    "handling, security problems that need understanding of the code. Give the exact line "
    "(the numbers at the start of each line). Report nothing rather than guess."
)


def _numbered(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "\n".join(f"{n:>5}  {line}" for n, line in enumerate(lines, start=1))
    return f"### {path}\n{body}\n"


async def _read(root: str, files: Sequence[str]) -> dict[str, str | None]:
    def read() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for path in files:
            try:
                found[path] = decode_source((Path(root) / path).read_bytes())
            except (OSError, ValueError):
                found[path] = None
        return found

    return await asyncio.to_thread(read)


def _raw(item: Any, texts: dict[str, str | None]) -> tuple[Raw, Perspective, str] | None:
    """A model finding checked for shape: a known file, an existing line; None otherwise."""
    if not isinstance(item, dict):
        return None
    path, line = item.get("path"), item.get("line")
    if not isinstance(path, str) or not isinstance(line, int):
        return None
    text = texts.get(path)
    if text is None:
        return None
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    severity: Severity = next((s for s in SEVERITIES if s == item.get("severity")), "warning")
    perspective: Perspective = next(
        (p for p in PERSPECTIVES if p == item.get("perspective")), "bugs"
    )
    rule = str(item.get("rule") or "model-review")[:64] or "model-review"
    fix = str(item.get("fix") or "")
    raw = Raw(
        path=path,
        line=line,
        rule=rule,
        message=str(item.get("message", ""))[:65536] or rule,
        severity=severity,
        fix=SuggestedFix(description=fix[:65536]) if fix else None,
    )
    return raw, perspective, lines[line - 1]


async def review_with_model(
    ctx: WorkContext,
    model: Model,
    job: Job,
    perspectives: Sequence[Perspective],
    budget: dict[str, float | None],
) -> list[FindingReportedData]:
    """The model's findings on the job's files (recorded calls: a re-drive calls nothing).

    Args:
        ctx: The task's context.
        model: The model (not the offline one).
        job: The files.
        perspectives: The task's perspectives (the model's findings keep theirs).
        budget: ``{"tokens": n, "usd": x}``, the tokens and dollars left for this
            task (None or absent: no limit); decreased by what the call costs
            (``usd_per_token`` is kept there, for the next batch's estimate).
    """
    texts, _ = await call_recorded(
        ctx,
        "read-files",
        {"root": job.root, "files": list(job.files)},
        lambda: _read(job.root, job.files),
    )
    sources = "".join(_numbered(p, t) for p, t in sorted(texts.items()) if t is not None)
    if not sources:
        return []
    left, left_usd = budget.get("tokens"), budget.get("usd")
    needed = len(sources) // 3 + 1024
    needed_usd = needed * (budget.get("usd_per_token") or 0.0)
    why = ""
    if len(sources) > MAX_PROMPT_CHARS:
        why = f"the batch is {len(sources)} characters, over {MAX_PROMPT_CHARS}"
    elif left is not None and needed > left:
        why = (
            f"the task's share of the token budget is spent ({max(0, int(left))} left, "
            f"about {needed} needed)"
        )
    elif left_usd is not None and (left_usd <= 0 or needed_usd > left_usd):
        why = f"the task's share of the cost budget is spent ({max(0.0, left_usd):.4f} USD left" + (
            f", about {needed_usd:.4f} needed)" if needed_usd else ")"
        )
    if why:
        ctx.emit(
            AnalysisSkipped,
            AnalysisSkippedData(
                reason=f"model review skipped: {why}", paths=list(job.files), tool=MODEL_TOOL
            ),
        )
        return []
    reply = await call_model(
        ctx,
        model,
        ModelRequest(
            task="review-code",
            prompt=f"{_PROMPT}\nPerspectives of this review: {', '.join(perspectives)}.\n\n"
            + sources,
            schema=FINDINGS_SCHEMA,
            system="You are a senior Python reviewer on a team of specialists.",
            max_tokens=4096,
        ),
    )
    evidence = ctx.emitted[-1].id
    tokens = reply.input_tokens + reply.output_tokens
    if left is not None:
        budget["tokens"] = left - tokens
    if left_usd is not None:
        budget["usd"] = left_usd - reply.cost_usd
    if tokens:
        budget["usd_per_token"] = reply.cost_usd / tokens
    items = reply.output.get("findings", []) if isinstance(reply.output, dict) else []
    found: list[FindingReportedData] = []
    for item in items if isinstance(items, list) else []:
        checked = _raw(item, texts)
        if checked is None:
            continue
        raw, perspective, line = checked
        found.append(
            finding_data(
                raw,
                tool=MODEL_TOOL,
                perspective=perspective,
                source_line=line,
                evidence_id=evidence,
                origin="model",
            )
        )
    return found
