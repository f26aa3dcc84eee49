"""Recorded model calls: made once, stored as ``model.called``, read back on a re-drive."""

from __future__ import annotations

import time
from typing import Any

from callsheet.agents.context import HandlerContext, WorkContext
from callsheet.events.catalog import ModelCalled, ModelCalledData
from callsheet.models.base import Model, ModelError, ModelReply, ModelRequest, request_digest

__all__ = ["call_model"]


async def call_model(ctx: HandlerContext, model: Model, request: ModelRequest) -> ModelReply:
    """Call ``model`` and record the call as a ``model.called`` event of the handler.

    On a re-drive (``ctx.recorded`` is set) the recorded reply with the same
    request digest is returned and the model is not called.

    Raises:
        ModelError: The model failed (the failure is recorded, and raised again on a
            re-drive).
        LookupError: Re-driving, and the log has no call with this request: the
            handler asks something it did not ask when the events were recorded.
    """
    digest = request_digest(request, model.name)
    if ctx.recorded is not None:
        found = ctx.recorded.get(digest)
        if found is None:
            raise LookupError(f"no recorded {request.task} call with digest {digest}")
        data = found.data
        await _record(ctx, data)
        if data.error is not None:
            raise ModelError(data.error)
        return ModelReply(
            output=data.response,
            input_tokens=data.input_tokens,
            output_tokens=data.output_tokens,
            cost_usd=data.cost_usd,
            stop_reason=data.stop_reason,
        )
    started = time.perf_counter()
    call: dict[str, Any] = {
        "agent": ctx.agent.name,
        "provider": model.provider,
        "model": model.name,
        "request_digest": digest,
        "request": request.canonical(),
    }
    try:
        reply = await model.complete(request)
    except ModelError as exc:
        # Recorded too, so that a re-drive fails the same way without calling.
        latency = round((time.perf_counter() - started) * 1000, 3)
        failed = ModelCalledData(
            **call, response=None, stop_reason="error", latency_ms=latency, error=str(exc)[:65536]
        )
        await _record(ctx, failed)
        raise
    latency = round((time.perf_counter() - started) * 1000, 3)
    await _record(
        ctx,
        ModelCalledData(
            **call,
            response=reply.output,
            stop_reason=reply.stop_reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=reply.cost_usd,
            latency_ms=latency,
        ),
    )
    return reply


async def _record(ctx: HandlerContext, data: ModelCalledData) -> None:
    if isinstance(ctx, WorkContext):
        await ctx.send(ModelCalled, data)
    else:
        ctx.emit(ModelCalled, data)
