"""A reaction rate limit against event storms, counted on event times (so a re-drive agrees).

An agent that reacts to events like the ones it emits can loop; several agents
can also set each other off. ``RateLimit`` counts an agent's own reactions per
key (usually the goal) in a sliding window of event time, and says when the
next reaction would exceed the limit. Feed it the agent's own reactions from
``Agent.observe`` (they come back from the log, so the count is rebuilt after a
restart) and ask it in the handler with the cause's time (``ctx.now()``).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

__all__ = ["RateLimit"]


class RateLimit:
    """At most ``limit`` reactions per key within any ``per_seconds`` of event time."""

    def __init__(self, limit: int, per_seconds: float) -> None:
        """Create it.

        Raises:
            ValueError: A limit below 1 or a window that is not positive.
        """
        if limit < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and per_seconds > 0")
        self.limit = limit
        self.window = timedelta(seconds=per_seconds)
        self._times: dict[str, deque[datetime]] = {}

    def record(self, key: str, at: datetime) -> None:
        """Count one reaction made at ``at``."""
        self._times.setdefault(key, deque()).append(at)

    def used(self, key: str, at: datetime) -> int:
        """Reactions counted for ``key`` within the window ending at ``at``."""
        times = self._times.get(key)
        if not times:
            return 0
        while times and times[0] <= at - self.window:
            times.popleft()  # out of the window for good: event times only move on
        return len(times)

    def allows(self, key: str, at: datetime) -> bool:
        """Whether one more reaction at ``at`` stays within the limit."""
        return self.used(key, at) < self.limit

    def retry_after(self, key: str, at: datetime) -> float:
        """Seconds from ``at`` until one more reaction stays within the limit (0: now)."""
        if self.allows(key, at):
            return 0.0
        times = self._times[key]
        oldest = times[len(times) - self.limit]  # the one that must leave the window
        return max(0.0, (oldest + self.window - at).total_seconds())
