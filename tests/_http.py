"""Drive the frontends in process: real WSGI environs and hand-made ASGI receive/send."""

from __future__ import annotations

import io
import sys
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator


class CountingInput(io.BytesIO):
    """``wsgi.input`` that counts the bytes handed out and returns at most ``chunk`` per read."""

    def __init__(self, data: bytes, chunk: int = 1 << 30) -> None:
        super().__init__(data)
        self.chunk = chunk
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.chunk
        data = super().read(min(size, self.chunk))
        self.bytes_read += len(data)
        return data


def environ(
    method: str = "POST",
    query: dict[str, str] | str = "",
    body: bytes = b"",
    *,
    content_length: str | None = "auto",
    terminated: bool = False,
    chunk: int = 1 << 30,
) -> dict[str, Any]:
    """A WSGI environ as a server builds it (wsgiref defaults plus the request)."""
    stream = CountingInput(body, chunk)
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": query if isinstance(query, str) else urlencode(query),
        "wsgi.input": stream,
        "wsgi.errors": sys.stderr,
        "tests.input": stream,  # wsgiref.validate wraps wsgi.input; keep the counter at hand
    }
    if content_length == "auto":
        content_length = str(len(body)) if method == "POST" else None
    if content_length is not None:
        env["CONTENT_LENGTH"] = content_length
        env["CONTENT_TYPE"] = "text/xml"
    if terminated:
        env["wsgi.input_terminated"] = True
    setup_testing_defaults(env)
    return env


def call_wsgi(
    app: Any, env: dict[str, Any], validate: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """Call a WSGI app (through ``wsgiref.validate`` by default); return status, headers, body."""
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"], started["headers"] = status, headers
        return lambda data: None

    wrapped = validator(app) if validate else app
    result = wrapped(env, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    status = int(started["status"].split(" ", 1)[0])
    return status, dict(started["headers"]), body


class ASGICall:
    """One ASGI request: feeds ``messages`` to receive, records what the app sends."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self.messages:
            return self.messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def http_scope(
    method: str = "POST",
    query: dict[str, str] | str = "",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    """An ASGI 3 http scope."""
    qs = query if isinstance(query, str) else urlencode(query)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": qs.encode("latin-1"),
        "root_path": "",
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


def body_messages(body: bytes, chunk: int | None = None) -> list[dict[str, Any]]:
    """``http.request`` messages carrying ``body`` in chunks."""
    if chunk is None or not body:
        return [{"type": "http.request", "body": body, "more_body": False}]
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
