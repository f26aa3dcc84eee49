"""The Claude path of the review, against a local server speaking the Messages API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from callsheet.events.catalog import Budget
from callsheet.events.store import EventStore
from callsheet.models import ModelError, ModelRequest
from callsheet.models.anthropic_model import AnthropicModel
from callsheet.projections import PROJECTIONS, replay
from callsheet.replay.redrive import redrive
from callsheet.review import AnalystWorker, build_review_crew
from tests.fake_anthropic import FakeMessagesAPI, Reply, error, tool_answer
from tests.integration.review_support import make_tree, of_type, run_review

TREE = {
    "app/__init__.py": "",
    "app/money.py": (
        "def split(total: int, people: int) -> list[int]:\n"
        "    share = total // people\n"
        "    return [share] * people  # the remainder is lost\n"
    ),
}


def model(api: FakeMessagesAPI) -> AnthropicModel:
    return AnthropicModel("claude-test", api_key="test-key", base_url=api.url, max_retries=3)


async def test_rate_limits_and_overload_are_retried_with_backoff() -> None:
    api = FakeMessagesAPI(
        [error(429, "rate_limit_error"), error(529, "overloaded_error"), tool_answer({"ok": 1})]
    )
    with api.running():
        reply = await model(api).complete(
            ModelRequest(task="t", prompt="p", schema={"type": "object"})
        )
    assert reply.output == {"ok": 1}
    assert (reply.input_tokens, reply.output_tokens) == (120, 40)
    assert len(api.requests) == 3
    assert api.requests[0]["path"] == "/v1/messages"
    assert api.requests[0]["body"]["tool_choice"] == {"type": "tool", "name": "answer"}


async def test_an_api_that_keeps_failing_gives_a_model_error_after_the_retries() -> None:
    api = FakeMessagesAPI([error(529, "overloaded_error")])
    with api.running(), pytest.raises(ModelError, match=r"HTTP 529") as caught:
        await model(api).complete(ModelRequest(task="t", prompt="p"))
    assert len(api.requests) == 4  # the call and its three retries
    assert caught.value.retryable
    refused = FakeMessagesAPI([error(401, "authentication_error", retry_after_ms=None)])
    with refused.running(), pytest.raises(ModelError, match=r"HTTP 401") as bad_key:
        await model(refused).complete(ModelRequest(task="t", prompt="p"))
    assert len(refused.requests) == 1 and not bad_key.value.retryable


def reviewer(body: dict[str, Any]) -> Reply:
    """Finds the lost remainder at the line that says so, in whatever batch shows it."""
    text = body["messages"][0]["content"]
    match = re.search(r"^\s*(\d+)  .*remainder is lost", text, re.MULTILINE)
    findings = []
    if match:
        findings.append(
            {
                "path": "app/money.py",
                "line": int(match.group(1)),
                "severity": "warning",
                "perspective": "bugs",
                "rule": "lost-remainder",
                "message": "the shares do not add up to the total when it does not divide",
                "fix": "give the remainder to the first shares",
            }
        )
    findings.append(
        {"path": "app/nowhere.py", "line": 1, "severity": "error", "message": "made up"}
    )
    return tool_answer({"findings": findings})


async def test_claude_reviews_the_files_too_and_its_findings_are_verified(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", TREE)
    api = FakeMessagesAPI(reviewer)
    with api.running():
        crew = build_review_crew(analysts=1, model=model(api), lease_seconds=10)
        events = await run_review(store, tree, crew=crew)
    calls = [c for c in of_type(events, "model.called") if c.data.request["task"] == "review-code"]
    assert len(calls) == 1 and calls[0].data.provider == "anthropic"
    assert "app/money.py" in api.requests[0]["body"]["messages"][0]["content"]
    state = replay(PROJECTIONS["findings"], events).goals["review-1"]
    (card,) = [c for c in state.findings.values() if c.data.origin == "model"]
    assert (card.data.path, card.data.line, card.data.rule) == ("app/money.py", 3, "lost-remainder")
    assert card.data.tool == "claude" and card.data.evidence_id == calls[0].id
    assert card.status == "confirmed" and "a model's finding" in card.reason
    # The finding naming a file that is not there was dropped before it was reported.
    assert all(c.data.path != "app/nowhere.py" for c in state.findings.values())
    report = next(
        a for a in of_type(events, "artifact.published") if a.data.artifact_id == "review-report"
    )
    assert "a model's finding" in (report.data.content or "")
    # A re-drive answers the model from the log: the server is gone.
    again = await redrive(AnalystWorker("analyst-1", model=model(api)), events)
    assert again.identical, again.divergences[:2]


async def test_a_model_that_fails_fails_the_task_and_the_supervisor_reacts(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", TREE)
    api = FakeMessagesAPI([error(529, "overloaded_error")])
    with api.running():
        crew = build_review_crew(analysts=1, model=model(api), lease_seconds=10)
        events = await run_review(store, tree, crew=crew)
    failed = of_type(events, "task.failed")
    assert len(failed) == 2 and all("HTTP 529" in f.data.reason for f in failed)
    (skipped,) = of_type(events, "analysis.skipped")
    assert skipped.data.reason.startswith("analysis stopped")
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "partial"


async def test_a_budget_that_cannot_pay_for_the_batch_skips_the_model_review(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", TREE)
    api = FakeMessagesAPI(reviewer)
    with api.running():
        crew = build_review_crew(analysts=1, model=model(api), lease_seconds=10)
        events = await run_review(store, tree, crew=crew, budget=Budget(max_tokens=50))
    assert api.requests == []
    (skipped,) = of_type(events, "analysis.skipped")
    assert skipped.data.tool == "claude"
    assert "share of the token budget is spent" in skipped.data.reason
    (done,) = of_type(events, "goal.completed")
    assert done.data.outcome == "succeeded"
