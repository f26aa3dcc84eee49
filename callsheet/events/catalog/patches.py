"""Fix events: patches proposed by fixers (``callsheet review --fix``), and what they fix."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from callsheet.events.catalog.findings import Perspective, RelPath
from callsheet.events.envelope import Event, Id, Payload, Text

__all__ = ["FixedFinding", "PatchProposed", "PatchProposedData", "SourceText"]

SourceText = Annotated[
    str, Meta(max_length=16 * 1024 * 1024, description="A whole file's text (or a diff).")
]
Digest = Annotated[
    str, Meta(pattern=r"^sha256:[0-9a-f]{64}$(?!\n)", description="sha256:<hex> of the content.")
]


class FixedFinding(Payload, kw_only=True, frozen=True):
    """A finding a patch means to fix."""

    finding_id: Annotated[Id, Meta(description="The finding.")]
    rule: Annotated[Id, Meta(description="Its rule.")]
    applicability: Annotated[
        Literal["safe", "unsafe", "manual"],
        Meta(description="safe: behaviour kept; unsafe: may change behaviour; manual: a model's."),
    ]


class PatchProposedData(Payload, kw_only=True, frozen=True):
    """A fix of one file: its text before and after, and the unified diff between them.

    Both texts are carried, so that merging, re-checking or applying the fix needs
    the log alone.
    """

    patch_id: Annotated[Id, Meta(description="Id of the patch (its task, round and file).")]
    path: RelPath
    perspective: Annotated[
        Perspective, Meta(description="The perspective whose findings it fixes.")
    ]
    tool: Annotated[Id, Meta(description="What made it: 'ruff', or the model.")]
    applicability: Annotated[
        Literal["safe", "unsafe", "manual"],
        Meta(description="The least safe of its fixes."),
    ]
    fixes: Annotated[list[FixedFinding], Meta(description="The findings it fixes.")]
    round: Annotated[int, Meta(ge=1, description="1 for the first proposal, then 2, 3...")] = 1
    before: SourceText
    after: SourceText
    diff: SourceText
    before_digest: Digest
    after_digest: Digest
    rationale: Annotated[
        Text, Meta(description="How it was made, and what changed since last round.")
    ] = ""


class PatchProposed(Event, tag="patch.proposed", frozen=True, kw_only=True):
    """A fixer proposed a patch (task: the fix task)."""

    data: PatchProposedData
