"""Budgets and a person, as a user meets them: a goal pauses, `callsheet answer`, it completes.

On a real nats-server. The general crew runs with the offline model, which
reports (estimated) token counts and no cost: a token budget pauses it. The
review's offline analysts call no model, so its run points them at the local
fake Messages API (``tests/fake_anthropic.py``), whose every answer costs the
same: a cost budget pauses it. No real model is ever called.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from callsheet.events.catalog import ModelCalled
from tests.e2e.cli_support import CLI, Processes, cli
from tests.e2e.test_crew_failures import open_log
from tests.fake_anthropic import FakeMessagesAPI, tool_answer
from tests.support import assert_eventually

pytestmark = pytest.mark.e2e

TITLE = "Build a login"  # the offline planner's four tasks: tests waits for schema and api


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def refused(env: dict[str, str], *args: str) -> str:
    """Run a command that must be refused: exit 2 and one line on stderr, which it returns."""
    out = cli(env, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    return one_line(out)


async def open_questions(env: dict[str, str], goal: str) -> list[dict[str, Any]]:
    out = await asyncio.to_thread(cli, env, "questions", "--goal", goal, "--json")
    if out.returncode == 2 and f"no events of goal {goal!r}" in out.stderr:
        return []  # not submitted yet (the review starts its analysts first)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


async def wait_for_question(env: dict[str, str], goal: str, timeout: float) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def asked() -> bool:
        found[:] = await open_questions(env, goal)
        return bool(found)

    await assert_eventually(asked, timeout=timeout, interval=0.3, message="no question asked")
    (question,) = found
    return question


async def spent_by_task(env: dict[str, str], goal: str) -> dict[str, int]:
    nc, store = await open_log(env)
    try:
        tokens: dict[str, int] = {}
        async for stored in store.read(goal_id=goal, types=["model.called"]):
            call = stored.event
            assert isinstance(call, ModelCalled)
            task = call.task_id or ""
            tokens[task] = tokens.get(task, 0) + call.data.input_tokens + call.data.output_tokens
        return tokens
    finally:
        await nc.close()


async def test_a_token_budget_pauses_the_goal_until_a_person_answers(
    env: dict[str, str], procs: Processes, tmp_path: Path
) -> None:
    procs.start("crew", "--lease", "5", "--step-seconds", "0")
    # The offline model's token counts depend on the request only: measure one run first.
    measured = await asyncio.to_thread(
        cli, env, "submit", TITLE, "--goal", "g-free", "--timeout", "60"
    )
    assert measured.returncode == 0, measured.stderr
    tokens = await spent_by_task(env, "g-free")
    assert set(tokens) == {"", "schema", "api", "ui", "tests"} and all(tokens.values())
    before_tests = sum(tokens.values()) - tokens["tests"]
    # Enough for the plan and the first three tasks; not for tests, estimated as api.
    limit = before_tests + tokens["api"] // 2
    following = subprocess.Popen(  # noqa: ASYNC220 (waited for below, in a thread)
        [*CLI, "submit", TITLE, "--goal", "g-paid", "--max-tokens", str(limit), "--timeout", "90"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        q = await wait_for_question(env, "g-paid", timeout=60)
        qid = q["question_id"]
        assert (q["task_id"], q["addressed_to"], q["kind"], q["status"]) == (
            "tests",
            "human",
            "budget",
            "open",
        )
        assert f"the goal's token limit of {limit:,} tokens" in q["question"]
        listed = await asyncio.to_thread(cli, env, "questions")
        assert qid in listed.stdout and "for a person, budget" in listed.stdout
        # Answers it cannot take: refused in one line, nothing written, still open.
        assert "no question 'nope'" in refused(env, "answer", "nope", "go on")
        assert "cannot read the answer 'yes please'" in refused(env, "answer", qid, "yes please")
        assert "cost limit is not set" in refused(env, "answer", qid, "raise cost to 2")
        assert "would not raise it" in refused(env, "answer", qid, "raise tokens to 10")
        assert "the answer is empty" in refused(env, "answer", qid, "  ")
        assert [x["question_id"] for x in await open_questions(env, "g-paid")] == [qid]
        done = await asyncio.to_thread(
            cli, env, "answer", qid, "raise tokens by 1000", "--by", "human:ann"
        )
        assert done.returncode == 0, done.stderr
        assert f"answered {qid} (g-paid/tests) as human:ann" in done.stdout
        out, err = await asyncio.to_thread(following.communicate, timeout=90)
    finally:
        if following.poll() is None:
            following.kill()
            following.communicate()
    assert following.returncode == 0, out + err
    assert "task.question" in out and "task.answered" in out and "goal.completed" in out
    assert f"answer with `callsheet answer {qid} TEXT`" in err
    again = refused(env, "answer", qid, "go on")
    assert f"question '{qid}' was answered already, by human:ann" in again
    assert (await open_questions(env, "g-paid")) == []
    # Every step is in the log, and `why` leads from the assignment back through the answer.
    log = await asyncio.to_thread(cli, env, "events", "--goal", "g-paid", "--json")
    events = [json.loads(line)["event"] for line in log.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert "budget.exceeded" not in kinds and kinds[-1] == "goal.completed"
    assign = next(e for e in events if e["type"] == "task.assigned" and e["task_id"] == "tests")
    why = await asyncio.to_thread(cli, env, "why", assign["id"], "--json")
    assert why.returncode == 0, why.stderr
    chain = [r["type"] for r in json.loads(why.stdout)["chain"]]
    assert chain[0] == "goal.submitted"
    assert chain[-4:] == ["task.question", "task.answered", "context.updated", "task.assigned"]
    context = await asyncio.to_thread(cli, env, "replay", "context", "--goal", "g-paid", "--json")
    assert f'"max_tokens":{limit + 1000}' in context.stdout.replace(" ", "")


def test_a_budget_of_zero_or_less_is_refused_before_anything_is_submitted(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    for args, said in [
        (["submit", "Free", "--max-tokens", "0"], "--max-tokens: '0' is not a positive whole"),
        (["submit", "Free", "--max-tokens", "-5"], "--max-tokens: '-5' is not a positive whole"),
        (["submit", "Free", "--max-cost", "-1"], "--max-cost: '-1' is not a positive amount"),
        (["submit", "Free", "--max-cost-per-agent", "0"], "--max-cost-per-agent: '0' is not"),
        (["review", str(tmp_path), "--max-cost", "0"], "--max-cost: '0' is not a positive amount"),
        (["review", str(tmp_path), "--max-tokens-per-agent", "-3"], "'-3' is not a positive"),
    ]:
        line = refused(env, *args)
        assert line.startswith("callsheet: error: ") and said in line, line
    nothing = cli(env, "events")
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "no events of goal 'nope'" in refused(env, "questions", "--goal", "nope")


def tree(root: Path, groups: int, lines: int) -> Path:
    """``groups`` folders of one module each, all the same size (so are their estimates)."""
    for g in range(groups):
        folder = root / f"part{g:02d}"
        folder.mkdir(parents=True)
        body = "".join(f"VALUE_{n} = {n}\n" for n in range(lines))
        (folder / "values.py").write_text(body)
    return root


async def test_a_review_over_its_cost_budget_waits_for_a_person_and_completes(
    env: dict[str, str], tmp_path: Path
) -> None:
    code = tree(tmp_path / "code", groups=12, lines=180)
    api = FakeMessagesAPI([tool_answer({"findings": []}, tokens=(3000, 1000))])
    per_call = (3000 * 3.0 + 1000 * 15.0) / 1e6  # claude-test is priced as Sonnet: 0.024 USD
    limit = round(9.5 * per_call, 6)  # nine analyses fit, the tenth would not
    env = {
        **env,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": api.url,
        "CALLSHEET_MODEL": "claude-test",
    }
    args = ["review", str(code), "--workers", "1", "--perspectives", "bugs"]
    args += ["--lines-per-task", "100", "--max-cost", f"{limit}", "--no-progress", "--goal", "rv"]
    with api.running():
        review = subprocess.Popen(  # noqa: ASYNC220 (waited for below, in a thread)
            [*CLI, *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            q = await wait_for_question(env, "rv", timeout=120)
            assert q["kind"] == "budget" and q["task_id"].startswith("analyze-bugs-")
            assert f"the goal's cost limit of {limit:.4f} USD" in q["question"]
            done = await asyncio.to_thread(
                cli, env, "answer", q["question_id"], "raise cost by $0.10"
            )
            assert done.returncode == 0, done.stderr
            out, err = await asyncio.to_thread(review.communicate, timeout=180)
        finally:
            if review.poll() is None:
                review.kill()
                review.communicate()
    assert review.returncode == 0, out + err
    assert "waiting for a person:" in err and "answered" in err
    assert len(api.requests) == 12
    report = (tmp_path / "callsheet-review.md").read_text()
    section = report[report.index("## Costs and parallel efficiency") :]
    assert "| analyst-1 | claude-test | 12 | 36,000 | 12,000 | 0.2880 |" in section
    assert f"- Budget, cost: {limit + 0.1:.4f} USD (submitted with {limit:.4f} USD)" in section
    assert "answered a budget question: 'raise cost by $0.10'" in section
    assert "Parallel efficiency: **" in section and "| analyst | 1 |" in section
    nc, store = await open_log(env)
    try:
        log = [s.event async for s in store.read(goal_id="rv")]
        kinds = [e.event_type for e in log]
        tasks = [e.task_id or "" for e in log]
    finally:
        await nc.close()
    assert "budget.exceeded" not in kinds and kinds.count("task.question") == 1
    assert kinds[-1] == "goal.completed"
    # Paused before the tenth analysis: it was handed out only after the answer.
    answered = kinds.index("task.answered")
    before = [k for k, t in zip(kinds[:answered], tasks[:answered], strict=True)
              if k == "task.assigned" and t.startswith("analyze-")]  # fmt: skip
    assert len(before) == 9
