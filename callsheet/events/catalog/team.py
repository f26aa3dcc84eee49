"""Team events: artifacts, the shared context store, conflicts, reviews, agent errors."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from callsheet.events.envelope import Event, EventId, Id, Json, NonNegative, Payload, Text

__all__ = [
    "AgentError",
    "AgentErrorData",
    "ArtifactPublished",
    "ArtifactPublishedData",
    "ConflictDetected",
    "ConflictDetectedData",
    "ConflictResolved",
    "ConflictResolvedData",
    "ContextUpdated",
    "ContextUpdatedData",
    "ReviewCompleted",
    "ReviewCompletedData",
    "ReviewFinding",
    "ReviewRequested",
    "ReviewRequestedData",
]

Digest = Annotated[
    str, Meta(pattern=r"^sha256:[0-9a-f]{64}$(?!\n)", description="sha256:<hex> of the content.")
]


class ArtifactPublishedData(Payload, kw_only=True, frozen=True):
    """I produced this output."""

    artifact_id: Annotated[Id, Meta(description="Id of the artifact.")]
    name: Annotated[str, Meta(min_length=1, max_length=512, description="File or thing name.")]
    media_type: Annotated[str, Meta(max_length=255, description="MIME type.")] = "text/plain"
    content: Annotated[Text | None, Meta(description="Inline content, if small.")] = None
    uri: Annotated[
        Annotated[str, Meta(max_length=2048)] | None, Meta(description="Where it lives.")
    ] = None
    digest: Annotated[Digest | None, Meta(description="Digest of the content.")] = None
    size: Annotated[NonNegative | None, Meta(description="Size in bytes.")] = None
    summary: Annotated[Text, Meta(description="What it is.")] = ""


class ArtifactPublished(Event, tag="artifact.published", frozen=True, kw_only=True):
    """A worker published an artifact."""

    data: ArtifactPublishedData


class ContextUpdatedData(Payload, kw_only=True, frozen=True):
    """An entry of the shared context store (the team wiki) was set."""

    key: Annotated[Id, Meta(description="Entry key, e.g. 'api.auth.response'.")]
    kind: Annotated[
        Literal[
            "decision", "interface_contract", "constraint", "convention", "progress_state", "note"
        ],
        Meta(description="What kind of knowledge this is."),
    ]
    value: Annotated[Json, Meta(description="The entry's content.")]
    rationale: Annotated[Text, Meta(description="Why, for decisions.")] = ""
    author: Annotated[Id, Meta(description="Agent that wrote it.")]
    supersedes: Annotated[
        EventId | None, Meta(description="The update this one replaces, if any.")
    ] = None


class ContextUpdated(Event, tag="context.updated", frozen=True, kw_only=True):
    """The shared context store changed."""

    data: ContextUpdatedData


class ConflictDetectedData(Payload, kw_only=True, frozen=True):
    """Two workers are colliding."""

    conflict_id: Annotated[Id, Meta(description="Id of the conflict.")]
    kind: Annotated[
        Literal["file", "design", "resource", "priority"], Meta(description="Kind of conflict.")
    ]
    parties: Annotated[list[Id], Meta(min_length=1, description="Agents or tasks involved.")]
    subject: Annotated[Text, Meta(description="What they collide on, e.g. 'auth.py'.")]
    description: Annotated[Text, Meta(description="What the collision is.")] = ""
    details: Annotated[
        Json, Meta(description="Structured facts for whoever settles it (e.g. a signature).")
    ] = None


class ConflictDetected(Event, tag="conflict.detected", frozen=True, kw_only=True):
    """A conflict was detected."""

    data: ConflictDetectedData


class ConflictResolvedData(Payload, kw_only=True, frozen=True):
    """How a conflict was settled."""

    conflict_id: Annotated[Id, Meta(description="The conflict settled.")]
    resolution: Annotated[
        Literal["auto_merged", "one_wins", "adapted", "queued", "escalated"],
        Meta(description="How it was settled."),
    ]
    decided_by: Annotated[Id, Meta(description="Agent that decided.")]
    winner: Annotated[Id | None, Meta(description="Party whose approach wins.")] = None
    notes: Annotated[Text, Meta(description="What each party must now do.")] = ""


class ConflictResolved(Event, tag="conflict.resolved", frozen=True, kw_only=True):
    """A conflict was resolved."""

    data: ConflictResolvedData


class ReviewRequestedData(Payload, kw_only=True, frozen=True):
    """Check my work."""

    review_id: Annotated[Id, Meta(description="Id of the review.")]
    reviewer_role: Annotated[Id, Meta(description="Role that should review.")]
    artifact_ids: Annotated[list[Id], Meta(description="What to review.")] = []
    instructions: Annotated[Text, Meta(description="What to look for.")] = ""


class ReviewRequested(Event, tag="review.requested", frozen=True, kw_only=True):
    """A review was requested."""

    data: ReviewRequestedData
    route_role_field: ClassVar[str | None] = "reviewer_role"


class ReviewFinding(Payload, kw_only=True, frozen=True):
    """One finding of a review."""

    severity: Annotated[
        Literal["info", "minor", "major", "critical"], Meta(description="How bad it is.")
    ]
    message: Annotated[Text, Meta(description="The finding.")]
    location: Annotated[
        Annotated[str, Meta(max_length=1024)] | None, Meta(description="Where.")
    ] = None


class ReviewCompletedData(Payload, kw_only=True, frozen=True):
    """Approved, or changes needed."""

    review_id: Annotated[Id, Meta(description="The review answered.")]
    reviewer: Annotated[Id, Meta(description="Agent that reviewed.")]
    verdict: Annotated[
        Literal["approved", "changes_requested", "rejected"], Meta(description="The verdict.")
    ]
    findings: Annotated[list[ReviewFinding], Meta(description="What was found.")] = []
    summary: Annotated[Text, Meta(description="The verdict in words.")] = ""


class ReviewCompleted(Event, tag="review.completed", frozen=True, kw_only=True):
    """A review was completed."""

    data: ReviewCompletedData


class AgentErrorData(Payload, kw_only=True, frozen=True):
    """An agent could not handle an event, or broke a rule of the topology."""

    agent: Annotated[Id, Meta(description="Agent that failed.")]
    kind: Annotated[
        Literal["handler_error", "topology_violation", "projection_error", "other"],
        Meta(description="Kind of error."),
    ]
    error: Annotated[Text, Meta(description="Error type and message.")]
    event_id: Annotated[EventId | None, Meta(description="The event being handled.")] = None
    details: Annotated[Json, Meta(description="Extra structured details.")] = None


class AgentError(Event, tag="agent.error", frozen=True, kw_only=True):
    """An agent recorded an error."""

    data: AgentErrorData
