"""``callsheet submit`` waits out a passing outage of the log, then gives up in one line."""

from __future__ import annotations

from typing import Any

import pytest

from callsheet.cli.submit_cmd import _append_within
from callsheet.events.catalog import GoalSubmitted, GoalSubmittedData
from callsheet.events.errors import AppendError, StoreUnavailable
from callsheet.events.store import Appended


class FlakyStore:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def append(self, event: Any) -> Appended:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Appended(9, event.id)


def goal() -> GoalSubmitted:
    return GoalSubmitted.new(data=GoalSubmittedData(title="t"), goal_id="g7", producer="cli")


async def test_an_outage_shorter_than_the_deadline_is_waited_out() -> None:
    store = FlakyStore(2, StoreUnavailable("no leader"))
    done = await _append_within(store, goal(), 10.0)  # type: ignore[arg-type]
    assert done.seq == 9 and store.calls == 3


async def test_a_longer_outage_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    store = FlakyStore(10**6, StoreUnavailable("no leader"))
    with pytest.raises(SystemExit) as exited:
        await _append_within(store, goal(), 0.3)  # type: ignore[arg-type]
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "g7 was not submitted" in err and "no leader" in err


async def test_a_refusal_is_not_retried() -> None:
    store = FlakyStore(1, AppendError("refused"))
    with pytest.raises(AppendError):
        await _append_within(store, goal(), 10.0)  # type: ignore[arg-type]
    assert store.calls == 1
