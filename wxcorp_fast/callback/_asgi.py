"""ASGI 3 adaptation: scope + receive -> (method, query, body); ``Response`` -> ``send``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._wsgi import content_length
from .request import Response

__all__ = ["Disconnected", "Receive", "Send", "Scope", "read_body", "send_response", "lifespan"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Disconnected(Exception):
    """The client went away before the body was read."""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        # servers send lowercase names (ASGI: "should"); the length test skips the rest cheaply
        if len(name) == 14 and name.lower() == b"content-length":
            return content_length(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """Return the request body, or ``None`` as soon as it is known to exceed ``limit``.

    A Content-Length over the limit is refused before any receive; otherwise receiving
    stops at the first chunk that takes the total over the limit.

    Raises:
        BadContentLength: the header is not a non-negative integer.
        Disconnected: the client disconnected first.
    """
    length = _content_length(scope)
    if length is not None and length > limit:
        return None
    chunks = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_response(send: Send, response: Response) -> None:
    """Send ``response`` as one start message and one body message (header names lowercased)."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers
            ],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Answer the lifespan protocol: nothing to start; ``await on_shutdown()`` to stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
