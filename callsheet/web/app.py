"""The dashboard's web app (starlette): the page, a JSON API, and server-sent events.

Routes (all ``GET``):

- ``/``: the page (``static/``); it draws everything from the API below.
- ``/api/goals``: every goal, most recently active first.
- ``/api/goals/{goal}``: the goal's header and panels.
- ``/api/goals/{goal}/tree``: its events as causal-tree nodes.
- ``/api/goals/{goal}/events?task=&type=&since=&until=&offset=&limit=``: a page of its log.
- ``/api/events/{id}``: one event in full, with its ``why`` chain.
- ``/api/stream?goal=G``: server-sent events: ``goals`` (the list) and, with a
  goal, ``goal`` (its header and panels) each time the log moves.

Bad requests get a 400 with ``{"error": ...}`` naming the parameter, unknown goals
and events a 404; nothing a client sends stops the server. With a ``token``
every request must carry it (``Authorization: Bearer T``, or ``?token=T`` once:
the page then keeps it in a cookie).

The HTTP ingress (``callsheet.web.ingress``), when given, is mounted at ``/v1``;
it has its own tokens, one per producer, so the dashboard's token is not asked
there.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from callsheet.web.hub import EventFilter, Hub, UnknownError

__all__ = ["BadRequest", "create_app"]

STATIC = Path(__file__).parent / "static"
INGRESS_PREFIX = "/v1"
_COOKIE = "callsheet_token"
_MAX_LIMIT = 1000


class BadRequest(ValueError):
    """A parameter the API cannot use (answered with a 400 naming it)."""


class JSON(Response):
    """A JSON response encoded by msgspec (datetimes and all)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _time(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO time, not {text[:40]!r}") from None
    if value.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (e.g. 2026-11-23T10:42:00Z)")
    return value


def _text(request: Request, name: str) -> str | None:
    text = request.query_params.get(name)
    if text is not None and len(text) > 512:
        raise BadRequest(f"{name} is too long")
    return text or None


Handler = Callable[[Request], Awaitable[Response]]


def _answers(hub: Hub, handler: Callable[[Hub, Request], Any]) -> Handler:
    """A route that answers ``handler``'s value as JSON, and its errors as 400 or 404."""

    async def endpoint(request: Request) -> Response:
        await hub.ready.wait()
        try:
            return JSON(handler(hub, request))
        except BadRequest as exc:
            return JSON({"error": str(exc)}, status_code=400)
        except UnknownError as exc:
            return JSON({"error": str(exc.args[0])}, status_code=404)

    return endpoint


def _goal(hub: Hub, request: Request) -> Any:
    return hub.goal(request.path_params["goal"])


def _tree(hub: Hub, request: Request) -> Any:
    return hub.tree(request.path_params["goal"])


def _events(hub: Hub, request: Request) -> Any:
    where = EventFilter(
        task=_text(request, "task"),
        type=_text(request, "type"),
        since=_time(request, "since"),
        until=_time(request, "until"),
        offset=_int(request, "offset", 0, 0, 10**9),
        limit=_int(request, "limit", 100, 1, _MAX_LIMIT),
    )
    return hub.events(request.path_params["goal"], where)


def _event(hub: Hub, request: Request) -> Any:
    return hub.event(request.path_params["event_id"])


def _stream(hub: Hub, *, ping: float) -> Handler:
    async def endpoint(request: Request) -> Response:
        goal = request.query_params.get("goal") or None

        async def news() -> AsyncIterator[ServerSentEvent]:
            await hub.ready.wait()
            seen = -1
            while True:
                if hub.version != seen:
                    seen = hub.version
                    yield ServerSentEvent(_encode_sse(hub.goals()), event="goals")
                    if goal is not None:
                        try:
                            yield ServerSentEvent(_encode_sse(hub.goal(goal)), event="goal")
                        except UnknownError as exc:
                            yield ServerSentEvent(
                                _encode_sse({"error": exc.args[0]}), event="problem"
                            )
                # A burst of events makes one update, at most 5 a second.
                await asyncio.sleep(0.2)
                await hub.wait(seen, timeout=ping)

        # A client that goes away ends the generator (sse-starlette cancels it).
        return EventSourceResponse(news(), ping=ping, headers={"Cache-Control": "no-store"})

    return endpoint


def _encode_sse(data: Any) -> str:
    return msgspec.json.encode(data).decode()


def create_app(
    hub: Hub, *, token: str | None = None, ping: float = 15.0, ingress: Any = None
) -> Starlette:
    """The dashboard app over ``hub`` (which the caller runs), optionally behind a token.

    Args:
        hub: The folded log the pages show.
        token: The secret every dashboard request must carry, if any.
        ping: Seconds between keep-alive comments of the event streams.
        ingress: An ASGI app to mount at ``/v1`` (``HttpIngress.app()``).
    """

    async def index(request: Request) -> Response:
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        given = request.query_params.get("token")
        if token is not None and given is not None:
            response.set_cookie(_COOKIE, given, httponly=True, samesite="strict")
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(INGRESS_PREFIX):
            # A path the /v1 mount cannot take (a newline in it): still the API's kind of answer.
            return JSON({"error": str(exc.detail), "field": None}, status_code=exc.status_code)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    app = Starlette(
        exception_handlers={HTTPException: not_found},
        routes=[
            Route("/", index),
            Route("/api/goals", _answers(hub, lambda h, r: h.goals())),
            Route("/api/goals/{goal:str}", _answers(hub, _goal)),
            Route("/api/goals/{goal:str}/tree", _answers(hub, _tree)),
            Route("/api/goals/{goal:str}/events", _answers(hub, _events)),
            Route("/api/events/{event_id:str}", _answers(hub, _event)),
            Route("/api/stream", _stream(hub, ping=ping)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *([Mount(INGRESS_PREFIX, app=ingress)] if ingress is not None else []),
        ],
    )
    if token is not None:
        app.add_middleware(_TokenGate, token=token)
    return app


class _TokenGate:
    """Refuses requests without the token (401), checked in constant time."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _allowed(self, scope: Any) -> bool:
        request = Request(scope)
        given = request.query_params.get("token") or request.cookies.get(_COOKIE) or ""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:]
        return hmac.compare_digest(given.encode(), self.token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        ingress = path == INGRESS_PREFIX or path.startswith(INGRESS_PREFIX + "/")
        if scope["type"] == "http" and not ingress and not self._allowed(scope):
            response = JSON({"error": "a valid token is required"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
