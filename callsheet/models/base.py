"""What a model is to the crew: a request, a structured reply, and a digest to find it again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

__all__ = ["Model", "ModelError", "ModelReply", "ModelRequest", "request_digest"]


class ModelError(Exception):
    """A model call failed (network, refusal, an answer that is not the asked structure).

    Attributes:
        retryable: Whether a later call may succeed (the API was busy or failing),
            as opposed to a request it refuses as such (bad key, bad request).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One structured request.

    Attributes:
        task: What is asked: ``plan``, ``replan``, ``work``, ``review`` or ``answer``.
        prompt: The instructions, in words.
        inputs: Structured inputs (the goal, the task, context entries...).
        schema: JSON Schema the reply must follow (used as the tool's input schema).
        system: A system prompt.
        max_tokens: Upper bound on the reply's tokens.
    """

    task: str
    prompt: str
    inputs: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    system: str = ""
    max_tokens: int = 2048

    def canonical(self) -> dict[str, Any]:
        """The request as plain JSON data (what is digested and recorded)."""
        return {
            "task": self.task,
            "prompt": self.prompt,
            "inputs": self.inputs,
            "schema": self.schema,
            "system": self.system,
            "max_tokens": self.max_tokens,
        }


def request_digest(request: ModelRequest, model: str) -> str:
    """``sha256:<hex>`` of the canonical request and model name: the key of a recorded call."""
    body = msgspec.json.encode({"model": model, "request": request.canonical()}, order="sorted")
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A model's structured answer.

    Attributes:
        output: The structured result (follows the request's schema).
        input_tokens: Tokens sent.
        output_tokens: Tokens received.
        cost_usd: What the call cost.
        stop_reason: Why the model stopped.
    """

    output: Any
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    stop_reason: str | None = None


class Model(Protocol):
    """Anything that answers ``ModelRequest`` values."""

    provider: str
    name: str

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Answer one request."""
        ...
