"""A deterministic model that needs no network: the crew's default without an API key.

It answers the crew's request kinds with plausible structure derived from the
inputs alone (same request, same answer), so everything runs, is tested and can
be replayed offline. Token counts are estimated from text length; it costs nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from callsheet.models.base import ModelReply, ModelRequest

__all__ = ["OfflineModel"]

_KNOWN_PLANS: list[tuple[re.Pattern[str], list[dict[str, Any]]]] = [
    (
        re.compile(r"auth|login|sign.?in", re.I),
        [
            {"task_id": "schema", "title": "Design the database schema", "role": "database"},
            {"task_id": "api", "title": "Write the API endpoints", "role": "backend"},
            {"task_id": "ui", "title": "Build the login UI", "role": "frontend"},
            {
                "task_id": "tests",
                "title": "Write the integration tests",
                "role": "backend",
                "depends_on": ["schema", "api"],
            },
        ],
    ),
]
_DEFAULT_ROLES = ["research", "backend", "frontend"]


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:4], "big")


class OfflineModel:
    """Deterministic answers to the crew's requests (plan, replan, work, review, answer)."""

    provider = "offline"

    def __init__(self, name: str = "offline-1", *, work_seconds: float = 1.0) -> None:
        """Create it.

        Args:
            name: Model name recorded in the events.
            work_seconds: Typical duration of a ``work`` step plan (the worker sleeps it).
        """
        self.name = name
        self.work_seconds = work_seconds

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Answer deterministically from the request alone."""
        answer = getattr(self, f"_{request.task}", self._echo)
        output = answer(request)
        text = f"{request.system} {request.prompt} {request.inputs}"
        return ModelReply(
            output=output,
            input_tokens=_words(text) * 4 // 3,
            output_tokens=_words(str(output)) * 4 // 3,
            cost_usd=0.0,
            stop_reason="end_turn",
        )

    def _plan(self, request: ModelRequest) -> dict[str, Any]:
        title = str(request.inputs.get("title", ""))
        text = f"{title} {request.inputs.get('description', '')}"
        roles = [str(r) for r in request.inputs.get("roles", [])] or _DEFAULT_ROLES
        for pattern, tasks in _KNOWN_PLANS:
            if pattern.search(text) and all(t["role"] in roles for t in tasks):
                return {"tasks": tasks, "rationale": "independent parts in parallel, tests last"}
        tasks = [
            {
                "task_id": f"part-{i + 1}",
                "title": f"{title[:400]}: part {i + 1} ({role})",
                "role": role,
            }
            for i, role in enumerate(roles)
        ]
        return {"tasks": tasks, "rationale": "one part per available role, in parallel"}

    def _replan(self, request: ModelRequest) -> dict[str, Any]:
        roles = [str(r) for r in request.inputs.get("roles", [])] or _DEFAULT_ROLES
        failed = request.inputs.get("failed_task")
        if isinstance(failed, dict):
            # Cut the failed task in two, for the other roles (or the same if it is alone).
            others = [r for r in roles if r != failed.get("role")] or roles
            task_id, title = str(failed.get("task_id", "task")), str(failed.get("title", ""))
            return {
                "tasks": [
                    {"task_id": f"{task_id}-{part}", "title": f"{title[:480]} ({part})",
                     "role": others[i % len(others)]}
                    for i, part in enumerate(("a", "b"))
                ],
                "rationale": f"{task_id} failed on {failed.get('role')}: split it differently",
            }  # fmt: skip
        change = str(request.inputs.get("change", "the change"))
        index = _seed(change) % len(roles)
        slug = re.sub(r"[^a-z0-9]+", "-", change.lower()).strip("-")[:40] or "change"
        return {
            "tasks": [
                {
                    "task_id": f"scope-{slug}",
                    "title": f"Handle: {change[:480]}",
                    "role": roles[index],
                }
            ],
            "rationale": f"the scope change is one more task for {roles[index]}",
        }

    def _work(self, request: ModelRequest) -> dict[str, Any]:
        title = str(request.inputs.get("title", "the task"))
        steps = 2 + _seed(title) % 3
        return {
            "steps": [f"step {i + 1} of {title[:200]}" for i in range(steps)],
            "step_seconds": round(self.work_seconds / steps, 3),
            "summary": f"{title[:400]}: done in {steps} steps",
        }

    def _review(self, request: ModelRequest) -> dict[str, Any]:
        return {"verdict": "approved", "findings": [], "summary": "meets the task's description"}

    def _answer(self, request: ModelRequest) -> dict[str, Any]:
        question = str(request.inputs.get("question", ""))
        return {"answer": f"Take the simplest option consistent with the plan ({question[:200]})."}

    def _echo(self, request: ModelRequest) -> dict[str, Any]:
        return {"echo": request.inputs}
