"""Claude through the Anthropic SDK, with tool use for structured output.

The request's JSON Schema becomes the input schema of a single tool the model
is made to call (``tool_choice``), so the reply is structured data, not prose.
"""

from __future__ import annotations

from typing import Any

from callsheet.models.base import ModelError, ModelReply, ModelRequest

__all__ = ["PRICES_PER_MTOK", "AnthropicModel"]

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}
"""USD per million input and output tokens, by model-name prefix (public list prices)."""

_TOOL = "answer"


def _price(model: str) -> tuple[float, float]:
    for prefix, price in PRICES_PER_MTOK.items():
        if model.startswith(prefix):
            return price
    return (3.0, 15.0)


class AnthropicModel:
    """A Claude model; needs ``ANTHROPIC_API_KEY`` (or an explicit key)."""

    provider = "anthropic"

    def __init__(
        self,
        name: str = "claude-sonnet-4-5",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout: float = 300.0,
    ) -> None:
        """Create it.

        Args:
            name: Model name, e.g. ``claude-sonnet-4-5``.
            api_key: The key; the SDK reads ``ANTHROPIC_API_KEY`` by default.
            base_url: Where the Messages API is; the SDK reads ``ANTHROPIC_BASE_URL``
                by default (a proxy, or a local server in tests).
            max_retries: Retries of a call the API refused for now (429 rate limited,
                529 overloaded, 5xx, timeouts), with exponential backoff, honouring
                ``retry-after``; then the call fails with ``ModelError``.
            timeout: Seconds one attempt may take.
        """
        import anthropic  # imported here: the offline crew never needs it

        self.name = name
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )
        self._errors: tuple[type[BaseException], ...] = (anthropic.APIError,)

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Ask Claude, forcing the structured ``answer`` tool."""
        schema: dict[str, Any] = request.schema or {"type": "object"}
        prompt = request.prompt
        if request.inputs:
            import json

            prompt += "\n\nInputs (JSON):\n" + json.dumps(request.inputs, indent=2, default=str)
        try:
            response = await self._client.messages.create(
                model=self.name,
                max_tokens=request.max_tokens,
                system=request.system or "You are a member of a crew of AI agents.",
                messages=[{"role": "user", "content": prompt}],
                tools=[
                    {
                        "name": _TOOL,
                        "description": f"Give the {request.task} result.",
                        "input_schema": schema,
                    }
                ],
                tool_choice={"type": "tool", "name": _TOOL},
            )
        except self._errors as exc:
            status = getattr(exc, "status_code", None)
            where = f" (HTTP {status})" if status else ""
            # After the SDK's own retries: busy (429, 529, 5xx) or unreachable may pass.
            busy = status is None or status in (408, 409, 429) or status >= 500
            raise ModelError(f"{self.name}{where}: {exc}", retryable=busy) from exc
        output = next(
            (
                getattr(b, "input", None)
                for b in response.content
                if getattr(b, "type", "") == "tool_use"
            ),
            None,
        )
        if output is None:
            raise ModelError(f"{self.name} answered without calling the {_TOOL} tool")
        usage = response.usage
        price_in, price_out = _price(self.name)
        cost = (usage.input_tokens * price_in + usage.output_tokens * price_out) / 1_000_000
        return ModelReply(
            output=output,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=round(cost, 6),
            stop_reason=response.stop_reason,
        )
