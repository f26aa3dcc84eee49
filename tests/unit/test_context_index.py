"""The context store's full-text index (SQLite FTS5) on hand-written entries."""

from __future__ import annotations

from typing import Any

import pytest

from callsheet.events.catalog import ContextUpdated, ContextUpdatedData
from callsheet.projections import context
from callsheet.projections.context_index import (
    CLOSE,
    OPEN,
    ContextIndex,
    QueryError,
    SearchUnavailable,
    _connect,
    check_query,
    value_text,
)
from tests.unit.test_projections_support import Script

# Entries that look like what the review crew writes, and a few unrelated ones so that
# bm25's document frequencies mean something.
ENTRIES: list[tuple[str, str, Any, str]] = [
    ("convention.line_length", "convention", {"line_length": 100, "source": "pyproject.toml"}, ""),
    ("convention.quote_style", "convention", {"quote_style": "double", "source": "ruff"}, ""),
    (
        "contract.shop/cart.py",
        "interface_contract",
        {"module": "shop/cart.py", "signatures": ["def add_item(cart, sku, qty=1)"]},
        "",
    ),
    (
        "decision.conflict-7",
        "decision",
        {"winner": "analyze-security", "loser": "analyze-style"},
        "security outranks style: the style patch is rebased on the security fix",
    ),
    ("note.weather", "note", "sunny with a light breeze over the harbour", ""),
    ("note.lunch", "note", "soup and bread at noon", ""),
    ("progress.t1", "progress_state", {"done": True, "by": "backend-1"}, ""),
]


def store_of(entries: list[tuple[str, str, Any, str]], goal: str = "g1") -> context.ContextStore:
    script = Script(goal)
    for key, kind, value, rationale in entries:
        script.add(
            ContextUpdated,
            ContextUpdatedData(
                key=key,
                kind=kind,  # type: ignore[arg-type]
                value=value,
                rationale=rationale,
                author="inventory-1",
            ),
            producer="inventory-1",
        )
    state = context.initial()
    for event in script.events:
        state = context.fold(state, event)
    return state


@pytest.fixture
def index() -> ContextIndex:
    return ContextIndex.of(store_of(ENTRIES))


def keys(hits: list[Any]) -> list[str]:
    return [h.entry.key for h in hits]


def test_value_text_holds_object_keys_and_every_leaf_in_order() -> None:
    value = {"line_length": 100, "tools": ["ruff", {"strict": True}], "gone": None, "x": 1.5}
    assert value_text(value) == "line_length: 100; tools: ruff, strict: true; gone:; x: 1.5"
    assert value_text("plain words") == "plain words"
    assert value_text(None) == "" and value_text([]) == "" and value_text({}) == ""


def test_value_text_is_bounded() -> None:
    assert value_text(["abcd"] * 1000, limit=10) == "abcd, abcd"
    assert len(value_text({f"k{i}": "v" * 50 for i in range(100)}, limit=77)) == 77


def test_check_query_takes_fts5_syntax_and_refuses_the_rest() -> None:
    for good in ("line length", '"line length"', "lin*", "a OR b", "NEAR(a b)", "key:contract"):
        assert check_query(f"  {good} ") == good
    with pytest.raises(QueryError, match="the query is empty"):
        check_query("   ")
    with pytest.raises(QueryError, match=r"cannot search for 'a\.b': fts5: syntax error.*quotes"):
        check_query("a.b")
    with pytest.raises(QueryError, match="unterminated string"):
        check_query('"open')
    with pytest.raises(QueryError, match="no such column: nope"):
        check_query("nope:x")
    with pytest.raises(QueryError, match="syntax error"):
        check_query("security AND")


def test_a_platform_without_the_module_gets_a_clear_error() -> None:
    # A module SQLite does not have, as FTS5 is missing from some builds.
    with pytest.raises(SearchUnavailable, match=r"has no NOFTS full-text module.*replay context"):
        _connect("nofts")


def test_words_match_keys_values_and_rationales_stemmed(index: ContextIndex) -> None:
    assert keys(index.search("line_length")) == ["convention.line_length"]
    assert keys(index.search("lengths")) == ["convention.line_length"]  # Porter stemming
    assert keys(index.search("harbour breeze")) == ["note.weather"]  # all words, any order
    assert keys(index.search("outranks")) == ["decision.conflict-7"]
    assert keys(index.search("add_item")) == ["contract.shop/cart.py"]
    assert index.search("nothingatall") == []


def test_phrase_and_prefix_queries(index: ContextIndex) -> None:
    assert keys(index.search('"light breeze"')) == ["note.weather"]
    assert index.search('"breeze light"') == []
    assert keys(index.search("harb*")) == ["note.weather"]
    assert keys(index.search("quot*")) == ["convention.quote_style"]
    assert keys(index.search('"shop/cart.py"')) == ["contract.shop/cart.py"]


def test_a_match_in_the_key_ranks_above_one_in_the_value() -> None:
    entries = [
        *ENTRIES,
        ("constraint.deadline", "constraint", "no security release before friday", ""),
        ("security.policy", "constraint", "reviewed by two people", ""),
        ("note.other", "note", "an unrelated remark", ""),
    ]
    with ContextIndex.of(store_of(entries)) as index:
        hits = index.search("security")
        assert keys(hits)[0] == "security.policy"
        assert set(keys(hits)) == {"security.policy", "constraint.deadline", "decision.conflict-7"}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].score > hits[-1].score


def test_filters_by_kind_key_prefix_and_goal() -> None:
    store = store_of(ENTRIES)
    other = store_of([("convention.line_length", "convention", {"line_length": 79}, "")], "g2")
    entries = [*store.entries.values(), *other.entries.values()]
    with ContextIndex(entries) as index:
        assert len(index) == len(ENTRIES) + 1
        both = index.search("line_length")
        assert sorted(h.entry.goal_id for h in both) == ["g1", "g2"]
        assert [h.entry.value for h in index.search("line_length", goal_id="g2")] == [
            {"line_length": 79}
        ]
        assert sorted(keys(index.search("source", kind="convention", goal_id="g1"))) == [
            "convention.line_length",
            "convention.quote_style",
        ]
        assert index.search("source", kind="decision") == []
        assert keys(index.search("analyze OR source", key_prefix="decision.")) == [
            "decision.conflict-7"
        ]
        # The prefix is matched exactly: no LIKE wildcards, case counts.
        assert index.search("source", key_prefix="convention%") == []
        assert index.search("source", key_prefix="_onvention") == []
        assert index.search("source", key_prefix="Convention.") == []
        assert dict(index.kinds("g1"))["convention"] == 2


def test_column_filters_and_limit(index: ContextIndex) -> None:
    assert keys(index.search("kind:note")) == ["note.lunch", "note.weather"]
    assert keys(index.search("key:contract")) == ["contract.shop/cart.py"]
    assert keys(index.search("rationale:security")) == ["decision.conflict-7"]
    assert len(index.search("author:inventory", limit=None)) == len(ENTRIES)
    assert len(index.search("author:inventory", limit=3)) == 3


def test_snippets_mark_the_matched_words_of_the_value_or_the_rationale(
    index: ContextIndex,
) -> None:
    (hit,) = index.search("breeze")
    assert hit.column == "body" and f"{OPEN}breeze{CLOSE}" in hit.snippet
    assert hit.marked("[", "]") == "sunny with a light [breeze] over the harbour"
    (decision,) = index.search("outranks")
    assert decision.column == "rationale"
    assert decision.marked().startswith("security «outranks» style")
    (by_key,) = index.search("key:progress")
    assert (by_key.snippet, by_key.column) == ("", "")  # only the key matched


def test_only_the_current_value_is_indexed() -> None:
    store = store_of(
        [
            ("convention.line_length", "convention", {"line_length": 100}, ""),
            ("convention.line_length", "convention", {"line_length": 88, "by": "black"}, ""),
        ]
    )
    with ContextIndex.of(store) as index:
        (hit,) = index.search("black")
        assert hit.entry.value == {"line_length": 88, "by": "black"}
        assert [r.value for r in hit.entry.history] == [{"line_length": 100}]
        assert index.search("100") == []


def test_a_query_fts5_refuses_at_search_time_is_a_query_error(index: ContextIndex) -> None:
    with pytest.raises(QueryError, match="syntax error"):
        index.search("a.b")
    with pytest.raises(QueryError, match="empty"):
        index.search("")
