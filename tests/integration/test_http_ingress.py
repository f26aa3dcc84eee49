"""The HTTP ingress on a real uvicorn and nats-server, through a real HTTP client (httpx)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
import pytest

from callsheet.events.catalog import (
    AnyEvent,
    GoalCompleted,
    GoalCompletedData,
    GoalSubmitted,
    GoalSubmittedData,
    TaskProgress,
    TaskProgressData,
)
from callsheet.events.codec import to_dict
from callsheet.events.store import EventStore
from callsheet.web.ingress import IngressLimits
from callsheet.web.openapi import openapi
from callsheet.web.server import ServerLimits
from tests.integration.http_support import serving


def goal(goal_id: str = "g1", producer: str = "billing", title: str = "Invoices") -> GoalSubmitted:
    return GoalSubmitted.new(
        data=GoalSubmittedData(title=title), goal_id=goal_id, producer=producer
    )


def progress(
    task: str, percent: float, producer: str = "billing", goal_id: str = "g1"
) -> TaskProgress:
    return TaskProgress.new(
        data=TaskProgressData(worker=producer, percent=float(percent)),
        goal_id=goal_id,
        task_id=task,
        producer=producer,
    )


def problem(response: object) -> tuple[int, str | None]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert set(body) == {"error", "field"} and body["error"], body
    return response.status_code, body["field"]


async def test_publish_retry_and_forged_duplicate(store: EventStore) -> None:
    async with serving(store) as http:
        auth = await http.token("billing")
        event = goal()
        first = await http.post("/v1/events", event, auth)
        assert first.status_code == 201, first.text
        assert first.json() == {"id": event.id, "seq": 1, "duplicate": False}
        again = await http.post("/v1/events", event, auth)  # a retry: same position
        assert again.status_code == 200
        assert again.json() == {"id": event.id, "seq": 1, "duplicate": True}
        forged = msgspec.structs.replace(event, data=GoalSubmittedData(title="Forged"))
        assert problem(await http.post("/v1/events", forged, auth)) == (409, "$.id")
        assert await store.stream_last_seq() == 1
        assert (await store.get(1)).event == event  # the stored one is untouched


async def test_tokens_are_required_and_speak_for_one_producer(store: EventStore) -> None:
    async with serving(store) as http:
        billing = await http.token("billing")
        revoked = await http.token("old-service")
        assert await http.tokens.revoke("old-service") == 1
        answers = []
        for headers in (
            {},
            {"Authorization": "Bearer cst_not-a-token"},
            {"Authorization": "Basic YTpi"},
            {"Authorization": billing["Authorization"] + "x"},
            revoked,
        ):
            response = await http.post("/v1/events", goal(), headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            answers.append(response.json())
        # Never a word on whether the token, or its producer, ever existed.
        assert all(a == answers[0] for a in answers)
        assert answers[0]["field"] == "Authorization"
        other = goal(producer="shipping")
        assert problem(await http.post("/v1/events", other, billing)) == (403, "$.producer")
        got = await http.client.get(http.url + "/v1/events", headers=revoked)
        assert got.status_code == 401
        assert await store.stream_last_seq() == 0


async def test_bad_bodies_get_a_4xx_naming_the_field(store: EventStore) -> None:
    async with serving(store) as http:
        auth = await http.token("billing")
        body = to_dict(progress("t1", 40.0))
        cases: list[tuple[bytes | dict[str, object], int, str | None]] = [
            (b"{not json", 400, "$"),
            (b"[1, 2]", 400, "$"),
            ({**body, "colour": "red"}, 400, "$.colour"),
            ({**body, "data": {**body["data"], "percent": 140}}, 400, "$.data.percent"),
            ({**body, "task_id": None}, 400, "$.task_id"),
            ({k: v for k, v in body.items() if k != "goal_id"}, 400, "$.goal_id"),
            ({**body, "type": "task.teleported"}, 400, "$.type"),
            ({**body, "goal_id": "😀" * 65}, 400, "$.goal_id"),  # over an id's 128 bytes
        ]
        for sent, status, field in cases:
            assert problem(await http.post("/v1/events", sent, auth)) == (status, field), sent
        as_form = await http.client.post(
            http.url + "/v1/events",
            content=msgspec.json.encode(body),
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert problem(as_form) == (415, "Content-Type")
        assert await store.stream_last_seq() == 0
        # ...and the server still serves.
        assert (await http.post("/v1/events", progress("t1", 40.0), auth)).status_code == 201


async def raw_exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) on a raw connection; return what the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_a_50_mb_body_is_refused_before_it_is_read(store: EventStore) -> None:
    async with serving(store) as http:
        auth = (await http.token("billing"))["Authorization"]
        head = (
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
        ).encode()
        answer = await raw_exchange(http.port, head)  # the 50 MB never sent
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"over the limit of" in answer
        # Chunked, with no length given: read up to the limit, then refused.
        chunk = b"x" * 65536
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))
        head = (
            "POST /v1/events:batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        small = IngressLimits().max_batch_bytes
        assert 20 * len(chunk) < small  # under the batch limit: this one is read, and refused
        answer = await raw_exchange(http.port, head, chunked + b"0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert await store.stream_last_seq() == 0


async def test_batches_are_atomic_and_idempotent(store: EventStore) -> None:
    async with serving(store) as http:
        auth = await http.token("billing")
        events: list[AnyEvent] = [goal(), progress("t1", 10), progress("t2", 20)]
        batch = {"events": [to_dict(e) for e in events]}
        bad = {"events": [*batch["events"][:1], {**batch["events"][1], "task_id": None}]}
        assert problem(await http.post("/v1/events:batch", bad, auth)) == (
            400,
            "$.events[1].task_id",
        )
        other = {"events": [*batch["events"], to_dict(progress("t3", 5, producer="x"))]}
        assert problem(await http.post("/v1/events:batch", other, auth)) == (
            403,
            "$.events[3].producer",
        )
        twice = {"events": [*batch["events"], batch["events"][0]]}
        assert problem(await http.post("/v1/events:batch", twice, auth)) == (
            400,
            "$.events[3].id",
        )
        too_many = {"events": [to_dict(progress(f"t{i}", 1)) for i in range(1001)]}
        assert problem(await http.post("/v1/events:batch", too_many, auth)) == (
            413,
            "$.events",
        )
        empties: list[dict[str, object]] = [{"events": []}, {}, {"evnts": []}]
        for empty in empties:
            status, _ = problem(await http.post("/v1/events:batch", empty, auth))
            assert status == 400
        assert await store.stream_last_seq() == 0  # nothing of any refused batch

        stored = await http.post("/v1/events:batch", batch, auth)
        assert stored.status_code == 201, stored.text
        assert [p["seq"] for p in stored.json()["events"]] == [1, 2, 3]
        retry = await http.post("/v1/events:batch", batch, auth)
        assert retry.status_code == 200
        assert [p["duplicate"] for p in retry.json()["events"]] == [True, True, True]
        changed = TaskProgressData(worker="billing", percent=99.0)
        forged = to_dict(msgspec.structs.replace(progress("t1", 10), id=events[1].id, data=changed))
        status, _ = problem(
            await http.post("/v1/events:batch", {"events": [*batch["events"][:1], forged]}, auth)
        )
        assert status == 409
        assert await store.stream_last_seq() == 3


async def test_reading_the_log_with_the_filters_of_callsheet_events(store: EventStore) -> None:
    async with serving(store) as http:
        auth = await http.token("billing")
        events: list[AnyEvent] = [goal(), progress("t1", 10), progress("t2", 20)]
        events += [goal("g2"), progress("t1", 50, goal_id="g2"), progress("t1", 60)]
        for event in events:
            assert (await http.post("/v1/events", event, auth)).status_code == 201

        async def ids(query: str) -> list[str]:
            got = await http.client.get(f"{http.url}/v1/events?{query}", headers=auth)
            assert got.status_code == 200, got.text
            return [e["event"]["id"] for e in got.json()["events"]]

        assert await ids("") == [e.id for e in events]
        assert await ids("goal=g1") == [e.id for e in events if e.goal_id == "g1"]
        assert await ids("goal=g1&task=t1") == [events[1].id, events[5].id]
        assert await ids("type=goal.submitted") == [events[0].id, events[3].id]
        assert await ids("type=task.*&goal=g2") == [events[4].id]
        assert await ids("type=task.*&type=task.progress&goal=g2") == [events[4].id]
        assert await ids("from_seq=2&until_seq=3") == [events[1].id, events[2].id]
        page = await http.client.get(f"{http.url}/v1/events?limit=4", headers=auth)
        assert page.json()["next_from_seq"] == 5
        rest = await ids("from_seq=5&limit=4")
        assert rest == [events[4].id, events[5].id]
        for query, field in (
            ("gaol=g1", "gaol"),
            ("limit=0", "limit"),
            ("limit=abc", "limit"),
            ("since=2026-11-23T10:42:00", "since"),
            ("since=yesterday", "since"),
            ("type=task", "type"),
            ("type=task.>", "type"),
            ("goal=g1&goal=g2", "goal"),
            ("&".join(f"type=t{i}.x" for i in range(33)), "type"),
            (f"goal={'x' * 129}", "goal"),
        ):
            got = await http.client.get(f"{http.url}/v1/events?{query}", headers=auth)
            assert problem(got) == (400, field), query


async def test_a_goals_board(store: EventStore) -> None:
    async with serving(store) as http:
        auth = await http.token("billing")
        for event in (goal(), progress("t1", 40)):
            await http.post("/v1/events", event, auth)
        board = await http.client.get(http.url + "/v1/goals/g1/board", headers=auth)
        assert board.status_code == 200
        got = board.json()
        assert got["title"] == "Invoices" and got["events"] == 2
        assert got["tasks"]["t1"]["status"] == "running" and got["tasks"]["t1"]["percent"] == 40
        missing = await http.client.get(http.url + "/v1/goals/nope/board", headers=auth)
        assert problem(missing) == (404, "goal")
        newline = await http.client.get(http.url + "/v1/goals/a%0Ab/board", headers=auth)
        assert newline.status_code == 404 and newline.json()["error"]


async def test_rate_limit_per_producer_with_retry_after(store: EventStore) -> None:
    async with serving(store, limits=IngressLimits(rate=3, window=60)) as http:
        billing, shipping = await http.token("billing"), await http.token("shipping")
        for i in range(3):
            assert (await http.post("/v1/events", progress(f"t{i}", 1), billing)).status_code == 201
        over = await http.post("/v1/events", progress("t9", 1), billing)
        assert problem(over)[0] == 429
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # Another producer has its own allowance.
        mine = progress("t1", 1, producer="shipping")
        assert (await http.post("/v1/events", mine, shipping)).status_code == 201
        assert await store.stream_last_seq() == 4


async def test_slow_clients_are_cut_off_and_others_served(store: EventStore) -> None:
    limits = IngressLimits(body_seconds=0.5)
    async with serving(store, limits=limits, server_limits=ServerLimits(head_seconds=0.5)) as http:
        auth = await http.token("billing")
        slow = [await asyncio.open_connection("127.0.0.1", http.port) for _ in range(20)]
        for _, writer in slow:
            writer.write(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and no more
            await writer.drain()
        # Meanwhile others are served.
        assert (await http.post("/v1/events", goal(), auth)).status_code == 201
        for reader, writer in slow:  # each is closed by the server
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
        # A body that stops arriving gets a 408.
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        writer.write(
            (
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: {auth['Authorization']}\r\nContent-Length: 100\r\n\r\n{{"
            ).encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert await store.stream_last_seq() == 1


@dataclass(frozen=True)
class Refused:
    problem: str
    field: str


async def test_a_policy_per_producer_is_applied(store: EventStore) -> None:
    async def only_goals(producer: str, event: AnyEvent) -> Refused | None:
        if event.event_type != "goal.submitted":
            return Refused(f"{producer} may not publish {event.event_type} events", "$.type")
        return None

    async with serving(store, policy=only_goals) as http:
        auth = await http.token("billing")
        assert (await http.post("/v1/events", goal(), auth)).status_code == 201
        assert problem(await http.post("/v1/events", progress("t1", 1), auth)) == (403, "$.type")
        batch = {"events": [to_dict(goal("g2")), to_dict(progress("t1", 1))]}
        assert problem(await http.post("/v1/events:batch", batch, auth)) == (
            403,
            "$.events[1].type",
        )
        assert await store.stream_last_seq() == 1


async def test_by_default_the_gatekeepers_policy_applies(store: EventStore) -> None:
    """No policy given: an external producer has the gatekeeper's default rights."""
    async with serving(store, trusting=False) as http:
        auth = await http.token("billing")
        assert (await http.post("/v1/events", goal(), auth)).status_code == 201
        done = GoalCompleted.new(
            data=GoalCompletedData(outcome="succeeded"), goal_id="g1", producer="billing"
        )
        assert problem(await http.post("/v1/events", done, auth)) == (403, "$.type")
        assert problem(await http.post("/v1/events", progress("t1", 1), auth)) == (403, "$.type")
        assert await store.stream_last_seq() == 1


async def test_the_dashboard_token_does_not_guard_v1_and_openapi_is_served(
    store: EventStore,
) -> None:
    async with serving(store, dashboard_token="the-dashboard-secret") as http:
        auth = await http.token("billing")
        assert (await http.client.get(http.url + "/api/goals")).status_code == 401
        assert (await http.client.get(http.url + "/v1/events", headers=auth)).status_code == 200
        doc = await http.client.get(http.url + "/v1/openapi.json")
        assert doc.status_code == 200
        assert doc.json() == msgspec.json.decode(msgspec.json.encode(openapi()))
        wrong = await http.client.delete(http.url + "/v1/events", headers=auth)
        assert problem(wrong)[0] == 405
        assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


async def test_concurrent_producers_all_land(store: EventStore) -> None:
    async with serving(store) as http:
        tokens = {name: await http.token(name) for name in ("a", "b", "c")}
        sent = [progress(f"t{i}", i, producer=name) for name in tokens for i in range(10)]
        answers = await asyncio.gather(
            *(http.post("/v1/events", e, tokens[e.producer]) for e in sent)
        )
        assert all(a.status_code == 201 for a in answers)
        assert sorted(a.json()["seq"] for a in answers) == list(range(1, 31))
        stored = {s.event.id async for s in store.read()}
        assert stored == {e.id for e in sent}
        assert (await store.get(answers[0].json()["seq"])).event == sent[0]


pytestmark = pytest.mark.timeout(60)
