"""The reviewer: checks results when the supervisor asks, approves or requests changes."""

from __future__ import annotations

from typing import Any

from callsheet.agents import Agent, HandlerContext, on
from callsheet.agents.recording import call_model
from callsheet.events.catalog import (
    ReviewCompleted,
    ReviewCompletedData,
    ReviewFinding,
    ReviewRequested,
)
from callsheet.models import Model, ModelRequest, default_model

__all__ = ["REVIEW_SCHEMA", "Reviewer"]

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["approved", "changes_requested", "rejected"]},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "severity": {"enum": ["info", "minor", "major", "critical"]},
                    "message": {"type": "string"},
                },
                "required": ["severity", "message"],
            },
        },
        "summary": {"type": "string"},
    },
    "required": ["verdict"],
}


class Reviewer(Agent):
    """Reviews what is sent to its role (``review.requested`` names the reviewer role)."""

    kind = "reviewer"
    role = "reviewer"
    durable = "reviewer"

    def __init__(self, name: str | None = None, *, model: Model | None = None) -> None:
        """Create it with a model (the default model by default)."""
        super().__init__(name)
        self.model = model or default_model()

    @on()
    async def review(self, event: ReviewRequested, ctx: HandlerContext) -> None:
        """Review the artifacts of a task."""
        if event.data.reviewer_role != self.role:
            return
        reply = await call_model(
            ctx,
            self.model,
            ModelRequest(
                task="review",
                prompt="Review this work against its task. Approve unless something is wrong.",
                inputs={
                    "instructions": event.data.instructions,
                    "artifacts": event.data.artifact_ids,
                },
                schema=REVIEW_SCHEMA,
            ),
        )
        output = reply.output if isinstance(reply.output, dict) else {}
        verdict = output.get("verdict", "approved")
        if verdict not in ("approved", "changes_requested", "rejected"):
            verdict = "changes_requested"
        findings = [
            ReviewFinding(
                severity=f.get("severity", "info")
                if f.get("severity") in ("info", "minor", "major", "critical")
                else "info",
                message=str(f.get("message", ""))[:60000],
            )
            for f in output.get("findings", [])
            if isinstance(f, dict)
        ]
        ctx.emit(
            ReviewCompleted,
            ReviewCompletedData(
                review_id=event.data.review_id,
                reviewer=self.name,
                verdict=verdict,
                findings=findings,
                summary=str(output.get("summary", ""))[:60000],
            ),
        )
