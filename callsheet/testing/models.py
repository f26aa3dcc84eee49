"""Recorded models: answers kept in a file and played back, so a test never calls a model.

A ``RecordingModel`` wraps a real model (Claude, or the offline one) and keeps
every answer; ``save`` writes them, one JSON object a line, sorted by request
digest. A ``RecordedModel`` answers from such a file (or from a log's
``model.called`` events) by request digest, and refuses a request it has no
answer for, naming it, rather than calling anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from callsheet.events.catalog import ModelCalled
from callsheet.events.envelope import Event
from callsheet.models.base import Model, ModelError, ModelReply, ModelRequest, request_digest

__all__ = ["RecordedCall", "RecordedModel", "RecordingModel"]


class RecordedCall(msgspec.Struct, kw_only=True, frozen=True):
    """One recorded answer: a line of a recording."""

    digest: str
    model: str
    provider: str
    task: str
    output: Any
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    stop_reason: str | None = None

    def reply(self) -> ModelReply:
        """The answer, as the model gave it."""
        return ModelReply(
            output=self.output,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            stop_reason=self.stop_reason,
        )


_decoder = msgspec.json.Decoder(RecordedCall)


class RecordedModel:
    """A model that answers from recorded calls only.

    Args:
        calls: The recorded answers.
        name: The recorded model's name (it is part of every request digest); by
            default the name the calls carry.
        provider: The provider recorded in the events it answers.
    """

    def __init__(
        self, calls: Iterable[RecordedCall], *, name: str | None = None, provider: str | None = None
    ) -> None:
        self.calls = {call.digest: call for call in calls}
        names = {call.model for call in self.calls.values()}
        if name is None and len(names) > 1:
            raise ValueError(f"the recording holds several models ({sorted(names)}): name one")
        self.name = name or next(iter(names), "recorded")
        providers = {c.provider for c in self.calls.values() if c.model == self.name}
        self.provider = provider or next(iter(providers), "recorded")
        self.asked: list[str] = []

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> RecordedModel:
        """Answers from a recording written by ``RecordingModel.save``."""
        lines = path.read_bytes().splitlines()
        return cls((_decoder.decode(line) for line in lines if line.strip()), **kwargs)

    @classmethod
    def from_events(cls, events: Iterable[Event], **kwargs: Any) -> RecordedModel:
        """Answers from the ``model.called`` events of a log (a goal that ran before)."""
        calls = [
            RecordedCall(
                digest=e.data.request_digest,
                model=e.data.model,
                provider=e.data.provider,
                task=str((e.data.request or {}).get("task", "")),
                output=e.data.response,
                input_tokens=e.data.input_tokens,
                output_tokens=e.data.output_tokens,
                cost_usd=e.data.cost_usd,
                stop_reason=e.data.stop_reason,
            )
            for e in events
            if isinstance(e, ModelCalled)
        ]
        return cls(calls, **kwargs)

    async def complete(self, request: ModelRequest) -> ModelReply:
        """The recorded answer to ``request``.

        Raises:
            ModelError: Nothing was recorded for it (a request the recording never saw).
        """
        digest = request_digest(request, self.name)
        self.asked.append(digest)
        found = self.calls.get(digest)
        if found is None:
            raise ModelError(
                f"no recorded answer to this {request.task} request ({digest}): record again "
                "(pytest --callsheet-record) if the request changed on purpose"
            )
        return found.reply()


class RecordingModel:
    """A model that passes requests to ``inner`` and keeps every answer."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.name = inner.name
        self.calls: dict[str, RecordedCall] = {}

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Ask ``inner`` and record its answer."""
        reply = await self.inner.complete(request)
        digest = request_digest(request, self.name)
        self.calls[digest] = RecordedCall(
            digest=digest,
            model=self.name,
            provider=self.provider,
            task=request.task,
            output=reply.output,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=reply.cost_usd,
            stop_reason=reply.stop_reason,
        )
        return reply

    def save(self, path: Path) -> None:
        """Write the answers, one JSON object a line, sorted by digest (stable diffs)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [msgspec.json.encode(self.calls[d]) for d in sorted(self.calls)]
        path.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
