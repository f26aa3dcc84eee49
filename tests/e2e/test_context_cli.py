"""``callsheet context search`` and ``context show``, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from callsheet.events.catalog import (
    ContextUpdated,
    ContextUpdatedData,
    GoalSubmitted,
    GoalSubmittedData,
)
from callsheet.events.store import EventStore
from callsheet.events.stream import StoreConfig
from tests.e2e.cli_support import cli, cli_env

pytestmark = pytest.mark.e2e

GOAL = "g-wiki"

# What the review crew's inventory, its conflict resolution and a worker write.
ENTRIES: list[dict[str, Any]] = [
    {
        "key": "convention.line_length",
        "kind": "convention",
        "value": {"line_length": 100, "source": "pyproject.toml [tool.ruff]"},
    },
    {
        "key": "convention.quote_style",
        "kind": "convention",
        "value": {"quote_style": "double", "source": "ruff format"},
    },
    {
        "key": "contract.shop/cart.py",
        "kind": "interface_contract",
        "value": {
            "module": "shop/cart.py",
            "signatures": ["def add_item(cart: Cart, sku: str, qty: int = 1) -> None"],
        },
    },
    {
        "key": "decision.conflict-7",
        "kind": "decision",
        "value": {"winner": "analyze-security", "loser": "analyze-style"},
        "rationale": "security outranks style: the style patch is rebased on the fix",
    },
    {"key": "note.harbour", "kind": "note", "value": "the ferry leaves at noon"},
    {"key": "note.lunch", "kind": "note", "value": "soup and bread"},
    # A second value of the first key: the search sees this one, show both.
    {
        "key": "convention.line_length",
        "kind": "convention",
        "value": {"line_length": 88, "source": "black's default"},
    },
]


async def _seed(env: dict[str, str], nats_url: str) -> list[str]:
    """Append the goals and ``ENTRIES`` (as a service would: the commands under test read them)."""
    config = StoreConfig(stream=env["CALLSHEET_STREAM"], root=env["CALLSHEET_SUBJECT_ROOT"])
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5)
    try:
        store = await EventStore.open(nc, config)
        goals = [
            GoalSubmitted.new(data=GoalSubmittedData(title=t), goal_id=g, producer="test")
            for g, t in ((GOAL, "review the shop"), ("g-empty", "nothing shared yet"))
        ]
        entries = [
            ContextUpdated.new(
                data=msgspec.convert({**e, "author": "inventory-1"}, ContextUpdatedData),
                goal_id=GOAL,
                producer="inventory-1",
            )
            for e in ENTRIES
        ]
        await store.append_many([*goals, *entries])
    finally:
        await nc.close()
    return [e.id for e in entries]


@pytest.fixture(scope="module")
def wiki(
    nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], list[str]]:
    """A goal whose context holds ``ENTRIES``; the env and the entries' event ids."""
    env = cli_env(nats_url, tmp_path_factory.mktemp("wiki"))
    return env, asyncio.run(_seed(env, nats_url))


def search(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = cli(env, "context", "search", *args, "--goal", GOAL, "--json")
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def hit_keys(result: dict[str, Any]) -> list[str]:
    return [h["key"] for h in result["hits"]]


def one_line_error(out: Any) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("callsheet: error: ")
    return str(lines[0])


def test_search_prints_each_match_with_its_value_and_the_words_that_matched(
    wiki: tuple[dict[str, str], list[str]],
) -> None:
    env, ids = wiki
    out = cli(env, "context", "search", "line length", "--goal", GOAL)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "1 of 6 entries of goal g-wiki match 'line length'"
    assert lines[1] == (
        f"convention.line_length  [convention]  by inventory-1, event {ids[-1]}"
        " (1 earlier value(s))"
    )
    assert lines[2] == '    value: {"line_length":88,"source":"black\'s default"}'
    assert lines[3] == "    match: «line»_«length»: 88; source: black's default"
    decision = cli(env, "context", "search", "outranks", "--goal", GOAL).stdout.splitlines()
    assert decision[1].startswith("decision.conflict-7  [decision]")
    assert (
        decision[3] == "    why:   security «outranks» style: the style patch is rebased on the fix"
    )
    none = cli(env, "context", "search", "submarine", "--goal", GOAL)
    assert none.returncode == 0
    assert none.stdout.strip() == (
        "no entry matches 'submarine' (6 entries in goal g-wiki: 2 convention, 1 decision,"
        " 1 interface_contract, 2 note)"
    )


def test_search_ranks_and_filters_by_kind_and_key_with_phrase_and_prefix_queries(
    wiki: tuple[dict[str, str], list[str]],
) -> None:
    env, _ = wiki
    assert hit_keys(search(env, "quot*")) == ["convention.quote_style"]
    assert hit_keys(search(env, '"ferry leaves"')) == ["note.harbour"]
    assert hit_keys(search(env, '"shop/cart.py"')) == ["contract.shop/cart.py"]
    assert sorted(hit_keys(search(env, "source", "--kind", "convention"))) == [
        "convention.line_length",
        "convention.quote_style",
    ]
    assert hit_keys(search(env, "security OR style", "--key", "decision.")) == [
        "decision.conflict-7"
    ]
    ranked = search(env, "style")
    assert hit_keys(ranked)[0] == "convention.quote_style"  # in the key: first
    assert [h["score"] for h in ranked["hits"]] == sorted(
        (h["score"] for h in ranked["hits"]), reverse=True
    )
    limited = search(env, "author:inventory", "--limit", "2")
    assert limited["total"] == 6 and len(limited["hits"]) == 2


def test_search_json_carries_the_entry(wiki: tuple[dict[str, str], list[str]]) -> None:
    env, ids = wiki
    result = search(env, "add_item")
    assert (result["goal"], result["query"], result["total"]) == (GOAL, "add_item", 1)
    (hit,) = result["hits"]
    assert hit["key"] == "contract.shop/cart.py" and hit["kind"] == "interface_contract"
    assert hit["event_id"] == ids[2] and hit["author"] == "inventory-1"
    assert hit["value"] == ENTRIES[2]["value"] and hit["revisions"] == 1
    assert hit["matched_in"] == "body" and "«add_item»" in hit["snippet"]


def test_show_gives_the_value_now_and_every_value_before(
    wiki: tuple[dict[str, str], list[str]],
) -> None:
    env, ids = wiki
    out = cli(env, "context", "show", "convention.line_length", "--goal", GOAL)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("convention.line_length in goal g-wiki: 2 value(s)\n")
    now, before = text.index("v2 (current): [convention] by inventory-1"), text.index("  v1: ")
    assert now < text.index('"line_length": 88') < before < text.index('"line_length": 100')
    assert ids[-1] in text[now:before] and ids[0] in text[before:]
    shown = cli(env, "context", "show", "convention.line_length", "--goal", GOAL, "--json")
    entry = json.loads(shown.stdout)
    assert entry["current"]["value"] == {"line_length": 88, "source": "black's default"}
    assert [r["event_id"] for r in entry["history"]] == [ids[0]]
    assert entry["stale"] is False
    decision = cli(env, "context", "show", "decision.conflict-7", "--goal", GOAL)
    assert "    why: security outranks style" in decision.stdout


def test_bad_input_is_a_one_line_error_with_exit_2(
    wiki: tuple[dict[str, str], list[str]],
) -> None:
    env, _ = wiki
    line = one_line_error(cli(env, "context", "search", "cart", "--goal", "no-such-goal"))
    assert line.endswith("goal 'no-such-goal' has no events")
    line = one_line_error(cli(env, "context", "show", "x", "--goal", "no-such-goal"))
    assert line.endswith("goal 'no-such-goal' has no events")
    for empty in ("", "   "):
        line = one_line_error(cli(env, "context", "search", empty, "--goal", GOAL))
        assert line.endswith("the query is empty: give words to search for")
    line = one_line_error(cli(env, "context", "search", "convention.line_length", "--goal", GOAL))
    assert "cannot search for 'convention.line_length': fts5: syntax error near" in line
    assert 'double quotes: "convention.line_length"' in line
    line = one_line_error(cli(env, "context", "search", "nope:cart", "--goal", GOAL))
    assert "no such column: nope" in line
    line = one_line_error(cli(env, "context", "search", "cart", "--goal", GOAL, "--kind", "x"))
    assert "--kind 'x' is not a kind of context entry (decision, interface_contract," in line
    line = one_line_error(cli(env, "context", "show", "convention.line", "--goal", GOAL))
    assert line.endswith(
        "goal 'g-wiki' has no context entry 'convention.line'; did you mean "
        "convention.line_length, convention.quote_style?"
    )
    line = one_line_error(cli(env, "context", "show", "x", "--goal", "g-empty"))
    assert line.endswith("goal 'g-empty' has no context entries")
    nothing = cli(env, "context", "search", "x", "--goal", "g-empty")
    assert nothing.returncode == 0 and "0 entries in goal g-empty: none" in nothing.stdout


def test_the_review_crews_inventory_is_found_in_a_real_run(nats_url: str, tmp_path: Path) -> None:
    env = cli_env(nats_url, tmp_path)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "pyproject.toml").write_text("[tool.ruff]\nline-length = 99\n")
    (tree / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    goal = "g-review-ctx"
    args = ["review", str(tree), "--goal", goal, "--perspectives", "style", "--no-progress"]
    out = cli(env, *args, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    found = cli(env, "context", "search", "ruff", "--goal", goal, "--json")
    assert found.returncode == 0, found.stderr
    (hit,) = json.loads(found.stdout)["hits"]
    assert hit["key"] == "review.inventory" and hit["author"].startswith("inventory")
    shown = cli(env, "context", "show", "review.inventory", "--goal", goal, "--json")
    assert json.loads(shown.stdout)["current"]["event_id"] == hit["event_id"]
