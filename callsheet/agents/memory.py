"""Snapshots of an agent's views and memory, so that a restart does not fold the whole log.

An observing agent with views (or memory of its own, see ``Agent.memory_version``)
is snapshotted as of its position in the log: every view's state, its memory, and
the sequences of its own reactions it had already folded ahead of that position.
A restart loads the snapshot when it is not past the consumer's position, then
folds only the events after it. A snapshot of other views, of another memory
version, or one that no longer decodes is ignored: the agent folds the log from
the start, as it would with none.

Snapshots live in the log's snapshot bucket (``{stream}_SNAPSHOTS``), under
``agent-{durable name}``, and are paced like a projection runner's (every N
events handled, within a share of the time, and when the agent stops).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from callsheet.agents.agent import Agent
from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS
from callsheet.projections.snapshots import (
    Codec,
    SnapshotError,
    SnapshotPacer,
    SnapshotStore,
    decode_state,
    encode_state,
    state_type,
)

__all__ = ["AgentSnapshots", "Restored"]

log = logging.getLogger("callsheet.agents")
_FORMAT: Final = 1


class _Saved(msgspec.Struct, frozen=True):
    """What an agent's snapshot holds (each state encoded on its own, with its codec)."""

    ahead: list[int]
    views: dict[str, tuple[Codec, bytes]]
    memory: tuple[Codec, bytes] | None = None


class Restored(msgspec.Struct, frozen=True):
    """An agent's state as of a position, taken from its snapshot."""

    seq: int
    views: dict[str, Any]
    ahead: set[int]


class AgentSnapshots:
    """Saves and restores one agent's views and memory."""

    def __init__(
        self,
        store: EventStore,
        agent: Agent,
        *,
        every: int = 1000,
        share: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare; nothing is read or written until ``restore`` or ``save``.

        Args:
            store: The log (its stream names the snapshot bucket).
            agent: The agent; it must be able to save its memory (``Agent.snapshots``).
            every: Events handled between snapshots, at least.
            share: Most of the time that saving snapshots may take.
            clock: Seconds, monotonic.
        """
        self.agent = agent
        self.pacer = SnapshotPacer(every, share, clock)
        self.name = f"agent-{agent.durable_name()}"
        views = ",".join(f"{n}:{PROJECTIONS[n].version}" for n in agent.views)
        key = f"{_FORMAT}|{views}|{agent.memory_version if agent.keeps_memory else '-'}"
        self.version = zlib.crc32(key.encode())
        self.saved_seq = 0
        self._store = SnapshotStore(store.nc, store.config.stream, replicas=store.config.replicas)
        self._failed = False

    async def restore(self, floor: int) -> Restored | None:
        """Return the saved state if it is usable at the consumer's position ``floor``.

        The agent's memory is restored at once; ``None`` leaves it untouched.
        """
        try:
            loaded = await self._store.load_as(self.name, self.version, _Saved)
        except Exception as exc:  # no bucket access, an outage: fold the log instead
            log.warning("%s: no snapshot loaded (%r): folding the log", self.agent.name, exc)
            return None
        if loaded is None:
            return None
        saved, seq = loaded
        if seq > floor or set(saved.views) != set(self.agent.views):
            return None  # past the position it resumes from, or of other views
        try:
            views = {
                name: decode_state(data, state_type(PROJECTIONS[name]), codec)
                for name, (codec, data) in saved.views.items()
            }
            memory = None
            if saved.memory is not None:
                codec, data = saved.memory
                memory = decode_state(data, self.agent.memory_type(), codec)
        except msgspec.DecodeError as exc:
            log.warning("%s: snapshot does not decode (%s): folding the log", self.agent.name, exc)
            return None
        if self.agent.keeps_memory:
            if memory is None:
                return None
            self.agent.restore(memory)
        self.saved_seq = seq
        return Restored(seq=seq, views=views, ahead=set(saved.ahead))

    async def save(self, position: int, views: Mapping[str, Any], ahead: set[int]) -> bool:
        """Save the state as of ``position`` (``ahead``: own reactions folded past it).

        Returns:
            Whether a snapshot was saved. A failure is logged and the agent goes on;
            after one that is not about the state itself, no more are tried.
        """
        if self._failed or position <= self.saved_seq:
            return False
        try:
            with self.pacer.saving():
                encoded = {name: encode_state(state) for name, state in views.items()}
                memory = encode_state(self.agent.memory()) if self.agent.keeps_memory else None
                saved = _Saved(ahead=sorted(ahead), views=encoded, memory=memory)
                await self._store.save(self.name, self.version, position, saved)
        except SnapshotError as exc:
            log.warning("%s: no snapshot at %d: %s", self.agent.name, position, exc)
            return False
        except Exception as exc:  # e.g. not allowed to create the bucket: stop trying
            log.warning("%s: snapshots off for this run: %r", self.agent.name, exc)
            self._failed = True
            return False
        self.saved_seq = position
        return True
