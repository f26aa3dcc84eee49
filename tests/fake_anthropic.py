"""A local server that speaks the Anthropic Messages API, for the Claude path's tests.

It answers ``POST /v1/messages`` from a script of replies (status, headers, body),
the last one repeating, and records every request it got. Point the SDK at it
with ``ANTHROPIC_BASE_URL``; no request ever leaves the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], dict[str, Any]]
"""Status, headers and JSON body of one answer."""


def tool_answer(output: dict[str, Any], *, tokens: tuple[int, int] = (120, 40)) -> Reply:
    """A successful answer: the model called the structured-output tool with ``output``."""
    return (
        200,
        {},
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "answer", "input": output}],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
        },
    )


def error(status: int, kind: str, *, retry_after_ms: int | None = 20) -> Reply:
    """An API error as Anthropic sends it (429 rate_limit_error, 529 overloaded_error...)."""
    headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
    body = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
    return status, headers, body


class FakeMessagesAPI:
    """The server; ``replies`` is the script (or a function of the request body)."""

    def __init__(self, replies: list[Reply] | Callable[[dict[str, Any]], Reply]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(size) or b"{}")
                status, headers, answer = outer.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"path": path, "body": body})
            if callable(self.replies):
                return self.replies(body)
            index = min(len(self.requests) - 1, len(self.replies) - 1)
            return self.replies[index]

    @contextmanager
    def running(self) -> Iterator[FakeMessagesAPI]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
