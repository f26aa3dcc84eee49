"""Recorded model calls: made once, stored as ``model.called``, read back on a re-drive."""

from __future__ import annotations

import time

from callsheet.agents.context import HandlerContext, WorkContext
from callsheet.events.catalog import ModelCalled, ModelCalledData
from callsheet.models.base import Model, ModelReply, ModelRequest, request_digest

__all__ = ["call_model"]


async def call_model(ctx: HandlerContext, model: Model, request: ModelRequest) -> ModelReply:
    """Call ``model`` and record the call as a ``model.called`` event of the handler.

    On a re-drive (``ctx.recorded`` is set) the recorded reply with the same
    request digest is returned and the model is not called.

    Raises:
        ModelError: The model failed (nothing is recorded).
        LookupError: Re-driving, and the log has no call with this request: the
            handler asks something it did not ask when the events were recorded.
    """
    digest = request_digest(request, model.name)
    if ctx.recorded is not None:
        found = ctx.recorded.get(digest)
        if found is None:
            raise LookupError(f"no recorded {request.task} call with digest {digest}")
        data = found.data
        reply = ModelReply(
            output=data.response,
            input_tokens=data.input_tokens,
            output_tokens=data.output_tokens,
            cost_usd=data.cost_usd,
            stop_reason=data.stop_reason,
        )
    else:
        started = time.perf_counter()
        reply = await model.complete(request)
        latency = (time.perf_counter() - started) * 1000
        data = ModelCalledData(
            agent=ctx.agent.name,
            provider=model.provider,
            model=model.name,
            request_digest=digest,
            request=request.canonical(),
            response=reply.output,
            stop_reason=reply.stop_reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=reply.cost_usd,
            latency_ms=round(latency, 3),
        )
    if isinstance(ctx, WorkContext):
        await ctx.send(ModelCalled, data)
    else:
        ctx.emit(ModelCalled, data)
    return reply
