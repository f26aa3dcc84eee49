"""The synthesizer: the report, from the log; the last task of a review.

It folds the goal's events into the ``findings`` projection, renders the
Markdown report and the SARIF log, and publishes both as artifacts (bodies over
the inline limit go to the Object Store, the artifact naming them by URI and
digest). Its result carries the report's digest and figures: the goal's result.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from callsheet.agents import Agent, WorkContext, work
from callsheet.events.catalog import TaskAssigned, TaskResultData
from callsheet.projections import findings as findings_projection
from callsheet.review import costs as team_costs
from callsheet.review.fix_report import FixLog, render_fixes
from callsheet.review.plan import PATCH_NAME, REPORTER
from callsheet.review.report import counts, render_markdown
from callsheet.review.sarif import render_sarif

__all__ = ["INLINE_LIMIT", "REPORT_ARTIFACT", "SARIF_ARTIFACT", "Synthesizer", "blob_uri"]

REPORT_ARTIFACT = "review-report"
SARIF_ARTIFACT = "review-sarif"
INLINE_LIMIT = 60_000
"""Characters an artifact may carry inline; larger bodies go to the Object Store."""


def blob_uri(bucket: str, name: str) -> str:
    """The URI of an Object Store blob, as artifacts name it."""
    return f"nats-object://{bucket}/{name}"


async def publish(
    ctx: WorkContext, artifact_id: str, name: str, body: str, media_type: str, summary: str
) -> str:
    """Publish an artifact (inline, or in the Object Store when large); return its digest."""
    raw = body.encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    extra: dict[str, Any] = {}
    if len(body) <= INLINE_LIMIT:
        extra["content"] = body
    else:
        ref = await ctx.store.put_blob(raw)
        extra["uri"] = blob_uri(ref.bucket, ref.name)
    await ctx.publish_artifact(
        artifact_id,
        name,
        media_type=media_type,
        digest=digest,
        size=len(raw),
        summary=summary,
        **extra,
    )
    return digest


class Synthesizer(Agent):
    """Writes the report of a review from its findings."""

    kind = "worker"
    role: ClassVar[str | None] = REPORTER
    lease_seconds: ClassVar[float] = 60.0

    @work()
    async def write(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Fold the goal's events, render, publish."""
        inputs = dict(event.data.inputs)
        state = findings_projection.initial()
        spent = team_costs.initial()
        fixed = FixLog()
        async for stored in ctx.store.read(goal_id=event.goal_id, until_seq=ctx.seq):
            state = findings_projection.fold(state, stored.event)
            spent = team_costs.fold(spent, stored.event)
            fixed.feed(stored.event)
        root = str(inputs.get("root", ""))
        per_rule = int(inputs.get("per_rule", 20))
        markdown = render_markdown(
            state,
            root=root,
            goal=event.goal_id,
            per_rule=per_rule,
            costs=spent,
            fixes=render_fixes(fixed, state, root, PATCH_NAME),
        )
        sarif = json.dumps(render_sarif(state, root=root), indent=2, sort_keys=True) + "\n"
        figures = counts(state)
        line = (
            f"{figures.verified} findings ({figures.by_severity['error']} errors, "
            f"{figures.by_severity['warning']} warnings, {figures.by_severity['note']} notes); "
            f"{figures.rejected} rejected, {figures.merged} merged, {figures.skipped} not analysed"
        )
        report_digest = await publish(
            ctx, REPORT_ARTIFACT, "callsheet-review.md", markdown, "text/markdown", line
        )
        sarif_digest = await publish(
            ctx, SARIF_ARTIFACT, "callsheet-review.sarif", sarif, "application/sarif+json", line
        )
        return TaskResultData(
            worker=self.name,
            output={
                "report_digest": report_digest,
                "sarif_digest": sarif_digest,
                **figures.as_json(),
            },
            summary=line,
            artifact_ids=[REPORT_ARTIFACT, SARIF_ARTIFACT],
        )
