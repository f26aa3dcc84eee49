"""A task's inputs from the tasks it depends on (``crew.handoff``): results, bounded."""

from __future__ import annotations

from typing import Any

import msgspec

from callsheet.crew.handoff import (
    MAX_OUTPUT_BYTES,
    MAX_SUMMARY,
    MAX_TOTAL_BYTES,
    dependency_inputs,
)
from callsheet.events.catalog import TaskResult, TaskResultData
from tests.unit.test_projections_support import Script


def results(**outputs: Any) -> dict[str, TaskResult]:
    s = Script()
    found = {}
    for task, output in outputs.items():
        found[task] = s.add(
            TaskResult,
            TaskResultData(
                worker="w1", output=output, summary=f"{task}: done", artifact_ids=[f"{task}-a"]
            ),
            task=task,
        )
    return found


def test_each_dependency_brings_its_summary_output_and_result_id() -> None:
    done = results(schema={"tables": ["users"]}, api={"routes": 3}, other={"x": 1})
    inputs = dependency_inputs(["schema", "api"], done)
    assert list(inputs) == ["schema", "api"]  # in depends_on order, nothing else
    assert inputs["schema"] == {
        "status": "done",
        "result_event_id": done["schema"].id,
        "worker": "w1",
        "summary": "schema: done",
        "artifact_ids": ["schema-a"],
        "output_bytes": len(b'{"tables":["users"]}'),
        "output": {"tables": ["users"]},
    }


def test_a_large_output_is_referenced_not_copied() -> None:
    big = {"files": ["x" * 100] * (MAX_OUTPUT_BYTES // 100)}
    done = results(inventory=big, small={"n": 1})
    inputs = dependency_inputs(["inventory", "small"], done)
    entry = inputs["inventory"]
    assert "output" not in entry
    assert entry["result_event_id"] == done["inventory"].id
    assert entry["output_bytes"] == len(msgspec.json.encode(big)) > MAX_OUTPUT_BYTES
    assert inputs["small"]["output"] == {"n": 1}


def test_outputs_copied_into_one_assignment_are_bounded_in_total() -> None:
    each = {"blob": "y" * (MAX_OUTPUT_BYTES - 20)}  # under the bound one by one
    count = MAX_TOTAL_BYTES // MAX_OUTPUT_BYTES + 3
    done = results(**{f"t{i}": each for i in range(count)})
    inputs = dependency_inputs(list(done), done)
    copied = [t for t, e in inputs.items() if "output" in e]
    assert 0 < len(copied) < count
    assert copied == list(done)[: len(copied)]  # the first ones, in order
    assert sum(e["output_bytes"] for e in inputs.values() if "output" in e) <= MAX_TOTAL_BYTES
    assert all("result_event_id" in e for e in inputs.values())


def test_a_long_summary_is_cut_and_says_so() -> None:
    s = Script()
    long = s.add(TaskResult, TaskResultData(worker="w", output=None, summary="z" * 10000), task="t")
    (entry,) = dependency_inputs(["t"], {"t": long}).values()
    assert entry["summary"] == "z" * MAX_SUMMARY and entry["summary_truncated"] is True


def test_replaced_and_dropped_dependencies() -> None:
    done = results(**{"build.1": {"a": 1}, "build.2": {"b": 2}})
    inputs = dependency_inputs(
        ["build", "lint"], done, {"build": ["build.1", "build.2"], "lint": []}
    )
    assert inputs["build.1"]["replaces"] == "build" and inputs["build.2"]["output"] == {"b": 2}
    assert inputs["lint"] == {"status": "dropped"}
    assert "build" not in inputs


def test_a_dependency_with_no_result_is_left_out() -> None:
    assert dependency_inputs(["missing"], {}) == {}
