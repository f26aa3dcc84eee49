"""The dashboard in a real headless Chromium: a goal runs while the page is open.

The page must show the tasks changing state without a reload, expand and
collapse the causal tree, show an event and its why chain, filter and page the
log; the test saves screenshots (in its tmp folder, and in
``CALLSHEET_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.e2e.cli_support import Processes, cli_env
from tests.e2e.dashboard_support import (
    Server,
    browser,
    keep_screenshot,
    screenshot_dir,
    servers,
)
from tests.e2e.test_crew_failures import open_log, submit

__all__ = ["browser", "servers"]  # fixtures

pytestmark = pytest.mark.e2e

WATCH = """() => {
  window.__seen = {};
  window.__loaded = performance.timeOrigin;
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll('[data-panel="board"] tbody tr')) {
      const marks = (window.__seen[tr.dataset.key] ||= []);
      if (marks[marks.length - 1] !== tr.dataset.mark) marks.push(tr.dataset.mark);
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


async def board_marks(page: Page) -> dict[str, str]:
    rows = await page.query_selector_all('[data-panel="board"] tbody tr')
    return {
        str(await r.get_attribute("data-key")): str(await r.get_attribute("data-mark"))
        for r in rows
    }


async def test_the_page_follows_a_running_goal_without_a_reload(
    nats_url: str, tmp_path: Path, browser: Browser, servers: list[Server]
) -> None:
    env = cli_env(nats_url, tmp_path)
    shots = screenshot_dir(tmp_path)
    server = Server(env)
    servers.append(server)
    page = await browser.new_page(viewport={"width": 1400, "height": 1100})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(server.url + "/")
    await page.wait_for_selector('#connection[data-state="live"]')
    await page.evaluate(WATCH)

    procs = Processes(env)
    nc, store = await open_log(env)
    try:
        procs.start("crew", "--lease", "3", "--step-seconds", "0.4")
        await submit(store, "g-web")
        # The goal appears in the list by itself; picking it changes only the hash.
        await page.click('#goals li[data-goal="g-web"]', timeout=30_000)
        await page.wait_for_selector('[data-panel="board"] tbody tr[data-mark="running"]')
        await page.screenshot(path=shots / "dashboard-running.png", full_page=True)
        await page.wait_for_selector('#goal-outcome[data-outcome="succeeded"]', timeout=60_000)
        await page.wait_for_function(
            """() => [...document.querySelectorAll('[data-panel="board"] tbody tr')]
                 .every(tr => tr.dataset.mark === 'done')"""
        )
    finally:
        procs.stop()
        events = [s async for s in store.read(goal_id="g-web")]
        await nc.close()
    await page.wait_for_function(
        f"() => document.querySelector('#tree').dataset.count == {len(events)}"
    )
    await page.screenshot(path=shots / "dashboard.png", full_page=True)
    keep_screenshot(shots / "dashboard.png")

    # One page load for the whole run; every task was seen running, then done.
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert await page.evaluate("window.__loaded === performance.timeOrigin")
    seen: dict[str, list[str]] = await page.evaluate("window.__seen")
    tasks = {s.event.task_id for s in events if s.event.event_type == "task.planned"}
    assert set(seen) == tasks
    for task, marks in seen.items():
        assert "running" in marks and marks[-1] == "done", (task, marks)
        assert marks.index("running") < marks.index("done")
    assert set((await board_marks(page)).values()) == {"done"}
    assert await page.text_content("#goal-line") == f"{len(tasks)} of {len(tasks)} done"

    # Costs per agent and model.
    costs = await page.inner_text('[data-panel="costs"] tbody')
    assert "model\toffline-1" in costs and "agent\tsupervisor" in costs

    # The causal tree: collapse and expand; click an event for it and its why.
    accepted = page.locator('#tree li[data-type="goal.accepted"]')
    children = accepted.locator(":scope > ul > li")
    assert await children.count() > 0
    await accepted.locator(":scope > .toggle").click()
    assert await children.count() == 0
    await accepted.locator(":scope > .toggle").click()
    assert await children.count() > 0
    result = next(s for s in events if s.event.event_type == "task.result")
    await page.click(f'#tree li[data-id="{result.event.causation_id}"] > .toggle')  # its task
    await page.click(f'#tree li[data-id="{result.event.id}"] > .node')
    await page.wait_for_selector("#why li")
    why = [await li.get_attribute("data-id") for li in await page.query_selector_all("#why li")]
    assert why[0] == events[0].event.id and why[-1] == result.event.id
    shown = json.loads(await page.text_content("#event-json") or "{}")
    assert shown["id"] == result.event.id and shown["type"] == "task.result"
    await page.screenshot(path=shots / "dashboard-why.png", full_page=True)

    # The log: a filter, then a bad filter that says what is wrong.
    await page.fill('#log-filter input[name="type"]', "task.result")
    await page.click('#log-filter button[type="submit"]')
    await page.wait_for_function(
        f"() => document.querySelector('#log').dataset.total == {len(tasks)}"
    )
    assert await page.text_content("#log-range") == f"events 1\u2013{len(tasks)} of {len(tasks)}"
    await page.fill('#log-filter input[name="since"]', "yesterday")
    await page.click('#log-filter button[type="submit"]')
    await page.wait_for_selector("#log-error:has-text('since must be an ISO time')")
    assert problems == []
