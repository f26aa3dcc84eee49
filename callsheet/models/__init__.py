"""Models the crew calls: Claude when a key is set, a deterministic offline model otherwise.

Every call is recorded as a ``model.called`` event (see
``callsheet.agents.recording``), so a replay never calls a model again.
"""

from __future__ import annotations

import os

from callsheet.models.base import Model, ModelError, ModelReply, ModelRequest, request_digest
from callsheet.models.offline import OfflineModel

__all__ = [
    "Model",
    "ModelError",
    "ModelReply",
    "ModelRequest",
    "OfflineModel",
    "default_model",
    "request_digest",
]


def default_model() -> Model:
    """The model the crew uses by default.

    Claude (``CALLSHEET_MODEL``, default ``claude-sonnet-4-5``) if
    ``ANTHROPIC_API_KEY`` is set and ``CALLSHEET_MODEL`` is not ``offline``; the
    offline model otherwise.
    """
    wanted = os.environ.get("CALLSHEET_MODEL", "")
    if os.environ.get("ANTHROPIC_API_KEY") and wanted != "offline":
        from callsheet.models.anthropic_model import AnthropicModel

        return AnthropicModel(wanted or "claude-sonnet-4-5")
    return OfflineModel()
