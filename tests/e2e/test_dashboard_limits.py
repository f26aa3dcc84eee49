"""The dashboard under bad input: 10,000 events, garbage, dropped streams, tokens, ports."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from callsheet.events.catalog import (
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from tests.e2e.cli_support import cli, cli_env
from tests.e2e.dashboard_support import Server, browser, screenshot_dir, servers
from tests.e2e.test_crew_failures import open_log
from tests.views_support import goal_events

__all__ = ["browser", "servers"]  # fixtures

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token-of-the-test"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def append_big_goal(env: dict[str, str], goal: str, count: int) -> None:
    nc, store = await open_log(env)
    try:
        root = GoalSubmitted.new(data=GoalSubmittedData(title="big"), goal_id=goal, producer="cli")
        await store.append(root)
        events = [
            TaskProgress.new(
                data=TaskProgressData(worker="w1", percent=(i % 100), note=f"step {i}"),
                goal_id=goal,
                task_id=f"t{i % 50}",
                producer="w1",
                causation_id=root.id,
            )
            for i in range(count - 1)
        ]
        for start in range(0, len(events), 1000):
            await store.append_batch(events[start : start + 1000])
    finally:
        await nc.close()


async def test_a_goal_of_10000_events_is_paged_and_the_page_stays_responsive(
    nats_url: str, tmp_path: Path, browser: Browser, servers: list[Server]
) -> None:
    env = cli_env(nats_url, tmp_path)
    await append_big_goal(env, "g-big", 10_000)
    server = Server(env)
    servers.append(server)
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(f"{server.url}/#goal=g-big")
    await page.wait_for_function("() => document.querySelector('#tree').dataset.count == 10000")
    assert await page.text_content("#goal-events") == "10000"
    # The log shows one page of 100, the tree 200 of the root's 9,999 children at a time.
    assert await page.locator("#log tbody tr").count() == 100
    assert await page.text_content("#log-range") == "events 1\u2013100 of 10000"
    root = page.locator('#tree li[data-type="goal.submitted"]')
    kids = root.locator(":scope > ul > li[data-id]")
    assert await kids.count() == 200
    await root.locator(":scope > ul > li.more-row button").click()
    assert await kids.count() == 400
    await page.click("#log-next")
    await page.wait_for_selector("#log-range:has-text('events 101\u2013200 of 10000')")
    assert await page.locator("#log tbody tr").count() == 100
    # Responsive: the page answers a script, and the whole document is far from 10,000 rows.
    assert await page.evaluate("document.querySelectorAll('tr, li').length") < 1000
    await page.screenshot(path=screenshot_dir(tmp_path) / "dashboard-10000.png")
    status, body = await asyncio.to_thread(
        get, f"{server.url}/api/goals/g-big/events?offset=9990&limit=100"
    )
    assert status == 200 and body["total"] == 10_000 and len(body["events"]) == 10


async def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    nats_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = cli_env(nats_url, tmp_path)
    nc, store = await open_log(env)
    for event in goal_events("g1"):
        await store.append(event)
    await nc.close()
    server = Server(env)
    servers.append(server)
    url = server.url

    checks = {
        "/api/goals/nope": (404, "no goal 'nope' in the log"),
        "/api/events/nope": (404, "no event 'nope' in the log"),
        "/api/goals/g1/events?limit=0": (400, "limit must be between 1 and 1000"),
        "/api/goals/g1/events?offset=x": (400, "offset must be a whole number, not 'x'"),
        "/api/goals/g1/events?since=2026-01-01T00:00": (400, "since needs a time zone"),
    }
    for path, (code, message) in checks.items():
        status, body = await asyncio.to_thread(get, url + path)
        assert (status, body["error"][: len(message)]) == (code, message), path

    def garbage() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"\x00\xff NOT HTTP \r\n\r\n" * 50)
            raw.recv(1024)

    def dropped_stream() -> bytes:
        """Open the event stream, read its first news, then vanish mid-stream."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"GET /api/stream?goal=g1 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"event: goal" not in got:
                got += raw.recv(65536)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return got

    await asyncio.to_thread(garbage)
    for _ in range(3):
        assert b"text/event-stream" in await asyncio.to_thread(dropped_stream)
    status, body = await asyncio.to_thread(get, url + "/api/goals/g1")
    assert status == 200 and body["line"] == "3 of 5 done, 1 assigned, 1 blocked"
    assert server.proc.poll() is None


async def test_a_token_guards_the_server_and_is_needed_beyond_this_machine(
    nats_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = cli_env(nats_url, tmp_path)
    open_to_all = await asyncio.to_thread(cli, env, "serve", "--host", "0.0.0.0", "--port", "0")
    assert open_to_all.returncode == 2
    assert "--host 0.0.0.0 is reachable from other machines: give a --token" in open_to_all.stderr
    short = await asyncio.to_thread(cli, env, "serve", "--token", "abc", "--port", "0")
    assert short.returncode == 2 and "at least 16 characters" in short.stderr

    server = Server(env, "--token", TOKEN)
    servers.append(server)
    status, body = await asyncio.to_thread(get, server.url + "/api/goals")
    assert (status, body) == (401, {"error": "a valid token is required"})
    status, _ = await asyncio.to_thread(
        get, server.url + "/api/goals", {"Authorization": "Bearer wrong-token-0000000"}
    )
    assert status == 401
    status, body = await asyncio.to_thread(
        get, server.url + "/api/goals", {"Authorization": f"Bearer {TOKEN}"}
    )
    assert (status, body) == (200, [])

    # The port is taken now: a second server says so and exits.
    taken = await asyncio.to_thread(cli, env, "serve", "--port", str(server.port))
    assert taken.returncode == 1
    assert f"port {server.port} on 127.0.0.1 is taken" in taken.stderr


async def test_the_page_opened_with_the_token_works_through_its_cookie(
    nats_url: str, tmp_path: Path, browser: Browser, servers: list[Server]
) -> None:
    env = cli_env(nats_url, tmp_path)
    nc, store = await open_log(env)
    for event in goal_events("g1"):
        await store.append(event)
    await nc.close()
    server = Server(env, "--token", TOKEN)
    servers.append(server)
    page = await browser.new_page()
    await page.goto(f"{server.url}/?token={TOKEN}#goal=g1")
    await page.wait_for_selector('#connection[data-state="live"]')
    await page.wait_for_selector(
        '[data-panel="board"] tbody tr[data-key="t4"][data-mark="blocked"]'
    )
    assert "Markdown or reST?" in await page.inner_text('[data-panel="questions"]')
