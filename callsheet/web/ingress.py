"""The HTTP ingress: any service publishes and reads events over HTTP, under ``/v1``.

Routes (``callsheet serve`` mounts them beside the dashboard):

- ``POST /v1/events``: one event envelope; 201 ``Position``, or 200 for a retry
  of an event already stored (same id, same body).
- ``POST /v1/events:batch``: ``{"events": [...]}``, appended atomically (all or
  none), at most the store's batch limit.
- ``GET /v1/events``: the log, with the filters of ``callsheet events``.
- ``GET /v1/goals/{goal}/board``: a goal's board, folded from the log.
- ``GET /v1/openapi.json``: the OpenAPI document (no token needed).

Every other request carries ``Authorization: Bearer <token>``, a token made with
``callsheet token create PRODUCER``; an event's ``producer`` must be the
token's (403 otherwise). Events are validated by the gatekeeper's path (the
codec, then ``Gatekeeper.admit``), so HTTP and NATS producers meet the same
rules; ``policy`` can add a per-producer rule. Refusals are JSON ``Problem``
bodies naming the field: 400 invalid, 401 no valid token (never saying whether
a producer exists), 403 another producer's name or refused by the policy, 409 an
id stored with another body, 413 over a size or count limit, 429 over the
producer's rate (with ``Retry-After``), 503 the log unavailable (retry).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, get_args

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from callsheet.agents.ratelimit import RateLimit
from callsheet.events.catalog import AnyEvent
from callsheet.events.codec import decode
from callsheet.events.envelope import Id
from callsheet.events.errors import (
    AppendError,
    BatchTooLargeError,
    DuplicateEventIdError,
    EventDecodeError,
    EventError,
    StoreError,
)
from callsheet.events.store import Appended, EventStore
from callsheet.events.subjects import MAX_ID_BYTES
from callsheet.ingress.gatekeeper import Gatekeeper
from callsheet.ingress.policy import Policy
from callsheet.ingress.tokens import Tokens
from callsheet.projections import PROJECTIONS, replay_log
from callsheet.replay.jsonable import to_jsonable
from callsheet.web.bodies import BatchAnswer, EventPage, PageEvent, Position, Problem

__all__ = ["MAX_SEQ", "ApiError", "HttpIngress", "IngressLimits", "ProducerPolicy", "Refusal"]

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
MAX_SEQ = 2**64 - 1
"""Largest sequence a query may name (JetStream's are unsigned 64-bit)."""
_EVENT_PARAMS = frozenset(
    {"goal", "task", "type", "from_seq", "until_seq", "since", "until", "limit"}
)


class Refusal(Protocol):
    """Why a policy refuses an event (``callsheet.ingress.policy.Refusal`` has this shape)."""

    @property
    def problem(self) -> str:
        """What is not allowed, in one line."""
        ...

    @property
    def field(self) -> str:
        """JSON path of the field at fault."""
        ...


ProducerPolicy = Callable[[str, AnyEvent], Awaitable[Refusal | None]]
"""A rule over (authenticated producer, event): None lets the event pass."""


class ApiError(Exception):
    """A refusal, answered as a ``Problem`` with its status."""

    def __init__(
        self,
        status: int,
        error: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class IngressLimits:
    """What one request and one producer may do.

    Attributes:
        max_event_bytes: Largest body of ``POST /v1/events`` (None: the server's
            message limit, as the gatekeeper applies it).
        max_batch_bytes: Largest body of ``POST /v1/events:batch``.
        rate: Requests a producer may make within ``window`` seconds.
        window: The rate's window, in seconds.
        body_seconds: Time a client has to send its body (slow bodies get a 408).
        page: Most events one ``GET /v1/events`` answers.
    """

    max_event_bytes: int | None = None
    max_batch_bytes: int = 8 * 1024 * 1024
    rate: int = 100
    window: float = 1.0
    body_seconds: float = 10.0
    page: int = 1000


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(value), status, headers, media_type="application/json")


def _problem(exc: ApiError) -> Response:
    return _json(Problem(error=exc.error, field=exc.field), exc.status, exc.headers)


def _position(appended: Appended) -> Position:
    return Position(id=appended.event_id, seq=appended.seq, duplicate=appended.duplicate)


def _in_batch(field: str, index: int) -> str:
    """A field path of the ``index``-th event of a batch: ``$.data`` -> ``$.events[3].data``."""
    return f"$.events[{index}]" + field.removeprefix("$")


class _RawBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


_batch_decoder = msgspec.json.Decoder(_RawBatch)


def _batch_problem(exc: msgspec.ValidationError | msgspec.DecodeError) -> ApiError:
    text, _, where = str(exc).partition(" - at `")
    if not isinstance(exc, msgspec.ValidationError):
        return ApiError(400, f"not valid JSON ({text})", "$")
    if "missing required field" in text:
        return ApiError(400, "is required but missing", "$.events")
    if "unknown field" in text:
        name = text.split("`")[1] if "`" in text else "?"
        return ApiError(400, 'is not a known field (a batch is {"events": [...]})', f"$.{name}")
    return ApiError(400, text[:1].lower() + text[1:], where.rstrip("`") or "$")


class HttpIngress:
    """The ``/v1`` routes over a log; see the module docstring.

    Args:
        store: The log.
        tokens: The producers' tokens.
        limits: Sizes, rates and timeouts.
        policy: A further rule per producer and event (403 when it refuses); the
            gatekeeper's default ``Policy()`` (an external service's rights) if None.
    """

    def __init__(
        self,
        store: EventStore,
        tokens: Tokens,
        *,
        limits: IngressLimits | None = None,
        policy: ProducerPolicy | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.limits = limits or IngressLimits()
        self.policy: ProducerPolicy = policy if policy is not None else Policy()
        self.gatekeeper = Gatekeeper(store.nc, store)
        self._rates = RateLimit(self.limits.rate, self.limits.window)

    @property
    def max_event_bytes(self) -> int:
        """Largest single event accepted: the limit given, or the server's message size."""
        return self.limits.max_event_bytes or self.store.nc.max_payload

    def app(self) -> Starlette:
        """The ASGI app of the routes, to mount at ``/v1``."""

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            detail = exc.detail
            if exc.status_code == 405:
                detail = f"{request.method} is not allowed on {request.url.path}"
            return _problem(ApiError(exc.status_code, str(detail), None, dict(exc.headers or {})))

        return Starlette(
            routes=[
                Route("/events", self._guarded(self._events), methods=["GET", "POST"]),
                Route("/events:batch", self._guarded(self._post_batch), methods=["POST"]),
                Route("/goals/{goal:str}/board", self._guarded(self._board), methods=["GET"]),
                Route("/openapi.json", self._openapi, methods=["GET"]),
            ],
            exception_handlers={HTTPException: http_error},
        )

    # -- the steps every request takes --------------------------------------------

    async def _producer(self, request: Request) -> str:
        """The producer the request's bearer token speaks for (401 otherwise)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        producer = None
        if scheme.lower() == "bearer" and token.strip():
            producer = await self.tokens.producer_of(token.strip())
        if producer is None:
            raise ApiError(
                401,
                "a valid bearer token is required (Authorization: Bearer <token>; "
                "make one with `callsheet token create PRODUCER`)",
                "Authorization",
                {"WWW-Authenticate": 'Bearer realm="callsheet"'},
            )
        return producer

    def _throttle(self, producer: str) -> None:
        now = datetime.now(UTC)
        wait = self._rates.retry_after(producer, now)
        if wait > 0:
            raise ApiError(
                429,
                f"{producer} is over its rate of {self.limits.rate} requests per "
                f"{self.limits.window:g} s: retry after {wait:.2f} s",
                None,
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        self._rates.record(producer, now)

    def _guarded(
        self, handler: Callable[[Request, str], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                producer = await self._producer(request)
                self._throttle(producer)
                return await handler(request, producer)
            except ApiError as exc:
                return _problem(exc)
            except StoreError as exc:
                return _problem(ApiError(503, f"the log is unavailable: {exc}", None, _RETRY))
            except (ConnectionError, TimeoutError) as exc:
                return _problem(ApiError(503, f"the log is unavailable: {exc}", None, _RETRY))
            except EventError as exc:  # e.g. an id that cannot be a subject token
                field = exc.field if isinstance(exc, EventDecodeError) else None
                return _problem(ApiError(400, str(exc), field))
            except Exception as exc:  # a bug: answer, log, and keep serving
                log.exception("%s %s failed", request.method, request.url.path)
                return _problem(ApiError(500, f"internal error: {type(exc).__name__}"))

        return endpoint

    async def _body(self, request: Request, limit: int) -> bytes:
        """The request's body, read up to ``limit`` bytes within the time allowed."""
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if kind.lower() != "application/json":
            problem = f"the body must be application/json, not {kind[:60]}"
            raise ApiError(415, problem, "Content-Type")
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ApiError(400, "is not a number of bytes", "Content-Length")
            if int(declared) > limit:
                raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(size, limit, at_least=True)
                    chunks.append(chunk)
        except TimeoutError:
            raise ApiError(
                408,
                f"the body did not arrive within {self.limits.body_seconds:g} s",
                "$",
                {"Connection": "close"},
            ) from None
        except ClientDisconnect:
            raise ApiError(400, "the client went away before the body ended", "$") from None
        return b"".join(chunks)

    async def _check(self, producer: str, event: AnyEvent, where: str = "$") -> None:
        """The event may be published by ``producer`` (403 otherwise)."""
        if event.producer != producer:
            raise ApiError(
                403,
                f"producer {event.producer!r} is not the token's producer {producer!r}",
                where + ".producer",
            )
        refusal = await self.policy(producer, event)
        if refusal is not None:
            raise ApiError(403, refusal.problem, where + refusal.field.removeprefix("$"))

    # -- routes -----------------------------------------------------------------

    async def _events(self, request: Request, producer: str) -> Response:
        if request.method == "POST":
            return await self._post_event(request, producer)
        return await self._get_events(request, producer)

    async def _post_event(self, request: Request, producer: str) -> Response:
        limit = self.max_event_bytes
        body = await self._body(request, limit)
        try:
            event = decode(body, max_bytes=limit)
        except EventDecodeError as exc:
            raise ApiError(400, exc.problem, exc.field) from None
        await self._check(producer, event)
        try:
            appended = await self.gatekeeper.admit(body)
        except DuplicateEventIdError as exc:
            raise ApiError(409, str(exc), "$.id") from None
        return _json(_position(appended), 200 if appended.duplicate else 201)

    async def _post_batch(self, request: Request, producer: str) -> Response:
        body = await self._body(request, self.limits.max_batch_bytes)
        try:
            raws = _batch_decoder.decode(body).events
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _batch_problem(exc) from None
        most = self.store.config.max_batch
        if not raws:
            raise ApiError(400, "a batch needs at least one event", "$.events")
        if len(raws) > most:
            raise ApiError(
                413,
                f"{len(raws)} events are over the limit of {most} per atomic batch: "
                "split them into several batches (each is atomic on its own)",
                "$.events",
            )
        events = await self._decode_batch(raws, producer)
        try:
            stored = await self.store.append_batch(events)
        except DuplicateEventIdError as exc:
            index = next(i for i, e in enumerate(events) if e.id == exc.event_id)
            raise ApiError(409, str(exc), _in_batch("$.id", index)) from None
        except BatchTooLargeError as exc:
            raise ApiError(413, str(exc), "$.events") from None
        except AppendError as exc:
            if "already stored" not in str(exc):
                raise
            raise ApiError(
                409,
                f"{exc}: a batch is stored whole or not at all, so resend only the new events",
                "$.events",
            ) from None
        answer = BatchAnswer(events=[_position(a) for a in stored])
        return _json(answer, 200 if all(a.duplicate for a in stored) else 201)

    async def _decode_batch(self, raws: Sequence[msgspec.Raw], producer: str) -> list[AnyEvent]:
        limit = self.max_event_bytes
        events: list[AnyEvent] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raws):
            try:
                event = decode(memoryview(raw), max_bytes=limit)
            except EventDecodeError as exc:
                status = 413 if "over the limit" in exc.problem else 400
                raise ApiError(status, exc.problem, _in_batch(exc.field, index)) from None
            if event.id in seen:
                raise ApiError(
                    400,
                    f"repeats the id of event {seen[event.id]} of the batch",
                    _in_batch("$.id", index),
                )
            seen[event.id] = index
            await self._check(producer, event, _in_batch("$", index))
            events.append(event)
        return events

    async def _get_events(self, request: Request, producer: str) -> Response:
        query = _Query(request)
        query.no_others()
        limit = query.integer("limit", min(100, self.limits.page), 1, self.limits.page)
        types = query.types()
        reading = self.store.read(
            goal_id=query.identifier("goal"),
            task_id=query.identifier("task"),
            types=types,
            from_seq=query.integer("from_seq", None, 1, MAX_SEQ),
            until_seq=query.integer("until_seq", None, 1, MAX_SEQ),
            since=query.time("since"),
            until=query.time("until"),
        )
        page: list[PageEvent] = []
        more = False
        try:
            async for stored in reading:
                if len(page) == limit:
                    more = True
                    break
                page.append(
                    PageEvent(
                        seq=stored.seq,
                        subject=stored.subject,
                        stored_at=stored.stored_at,
                        event=stored.event,
                    )
                )
        finally:
            await reading.aclose()  # stopped early: its consumer goes now
        next_seq = page[-1].seq + 1 if more and page else None
        return _json(EventPage(events=page, next_from_seq=next_seq))

    async def _board(self, request: Request, producer: str) -> Response:
        goal = _identifier(request.path_params["goal"], "goal")
        projection = PROJECTIONS["board"]
        state, count = await replay_log(projection, self.store.read(goal_id=goal))
        board = state.goals.get(goal)
        if count == 0 or board is None:
            raise ApiError(404, f"no goal {goal!r} in the log", "goal")
        return _json(to_jsonable(board))

    async def _openapi(self, request: Request) -> Response:
        from callsheet.web.openapi import openapi

        return _json(openapi(max_batch=self.store.config.max_batch, page=self.limits.page))


_RETRY = {"Retry-After": "1"}
_MAX_TYPES = 32
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\.(?:[a-z][a-z0-9_]{0,63}|\*)$")


def _too_large(size: int, limit: int, *, at_least: bool = False) -> ApiError:
    more = "more than " if at_least else ""
    return ApiError(
        413,
        f"the body is {more}{size} bytes, over the limit of {limit}",
        "$",
        {"Connection": "close"},
    )


ID_MAX_CHARS: int = get_args(Id)[1].max_length
"""Longest id of the envelope, in characters (``Id``'s limit)."""


def _identifier(value: str, name: str) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if not value or len(value) > ID_MAX_CHARS or size > MAX_ID_BYTES:
        raise ApiError(
            400, f"must be an id of 1 to {ID_MAX_CHARS} characters ({MAX_ID_BYTES} bytes)", name
        )
    return value


class _Query:
    """The query parameters of ``GET /v1/events``, each checked and named when wrong."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def _one(self, name: str) -> str | None:
        values = self.params.getlist(name)
        if len(values) > 1:
            raise ApiError(400, "is given more than once", name)
        return values[0] if values else None

    def identifier(self, name: str) -> str | None:
        value = self._one(name)
        return None if value is None else _identifier(value, name)

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self._one(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise ApiError(400, f"must be a whole number from {low} to {high}", name)
        return int(value)

    def time(self, name: str) -> datetime | None:
        value = self._one(name)
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(400, "must be an ISO 8601 time (2026-11-23T10:42:00Z)", name) from None
        if when.tzinfo is None:
            raise ApiError(400, "needs a Z or an offset (2026-11-23T10:42:00Z)", name)
        return when

    def types(self) -> list[str]:
        found = self.params.getlist("type")
        if len(found) > _MAX_TYPES:
            raise ApiError(400, f"is given {len(found)} times: at most {_MAX_TYPES}", "type")
        for value in found:
            if not _TYPE_RE.match(value):
                problem = f"{value[:40]!r} must be 'category.action' or 'category.*'"
                raise ApiError(400, problem, "type")
        return found

    def no_others(self) -> None:
        unknown = sorted(set(self.params.keys()) - _EVENT_PARAMS)
        if unknown:
            known = ", ".join(sorted(_EVENT_PARAMS))
            raise ApiError(400, f"is not a parameter (known: {known})", unknown[0])
