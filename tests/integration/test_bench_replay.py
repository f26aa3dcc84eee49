"""The replay benchmark's pieces run on a small log, and the bulk replay is the same value."""

from __future__ import annotations

from nats.aio.client import Client

from callsheet.events.store import EventStore
from callsheet.projections import PROJECTIONS, replay, replay_log
from tools.bench_replay import CONFIG, EVENTS_PER_GOAL, cold_start, generate, raw_read, replay_board


async def test_the_replay_benchmark_measures_a_small_log(nc: Client) -> None:
    store = await EventStore.open(nc, CONFIG)
    try:
        last = await generate(store, 5000)
        assert last == (5000 // EVENTS_PER_GOAL) * EVENTS_PER_GOAL
        count, seconds = await raw_read(store)
        assert count == last and seconds > 0
        replayed, seconds, state = await replay_board(store)
        assert replayed == last and seconds > 0
        # The bulk replay is the same value as folding the events one by one, in memory.
        board = PROJECTIONS["board"]
        stored = [s async for s in store.read()]
        one_by_one = board.initial()
        for s in stored:
            one_by_one = board.fold(one_by_one, s.event)
        assert state == one_by_one == replay(board, stored)
        assert len(state.goals) == last // EVENTS_PER_GOAL
        partial, n = await replay_log(PROJECTIONS["board"], store.read(), until_seq=500)
        assert n == 500 and partial == replay(PROJECTIONS["board"], stored, until_seq=500)
        elapsed, tail, size = await cold_start(store, last)
        assert tail == 1000 and elapsed > 0 and size > 0
    finally:
        await nc.jetstream().delete_stream(CONFIG.stream)
