"""WSGI adaptation: environ -> (method, query, body); ``Response`` -> ``start_response``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Final

from .request import Response

__all__ = ["BadContentLength", "read_body", "respond"]

_STATUS_LINES: Final = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class BadContentLength(Exception):
    """The Content-Length header is not a non-negative integer."""


def content_length(text: str | bytes | None) -> int | None:
    """Parse a Content-Length value (``None`` when absent)."""
    if text is None or text == "" or text == b"":
        return None
    if not (len(text) <= 19 and text.isdigit() and text.isascii()):
        raise BadContentLength
    return int(text)


def _read_up_to(stream: Any, size: int) -> bytes:
    """Read until ``size`` bytes or the end of ``stream`` (``read`` may return fewer)."""
    chunks = []
    while size > 0:
        chunk = stream.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """Return the request body, or ``None`` when it is over ``limit`` bytes.

    With a Content-Length over the limit nothing is read; without one the body is read
    only when the server marks the input terminated (PEP 3333: ``wsgi.input_terminated``,
    as gunicorn does for chunked requests), and then at most ``limit + 1`` bytes.

    Raises:
        BadContentLength: the header is not a non-negative integer.
    """
    length = content_length(environ.get("CONTENT_LENGTH"))
    stream = environ["wsgi.input"]
    if length is not None:
        return None if length > limit else _read_up_to(stream, length)
    if not environ.get("wsgi.input_terminated"):
        return b""
    body = _read_up_to(stream, limit + 1)
    return None if len(body) > limit else body


def respond(start_response: Callable[..., Any], response: Response) -> Iterable[bytes]:
    """Start the WSGI response and return its body iterable."""
    status = _STATUS_LINES.get(response.status) or f"{response.status} Unknown"
    start_response(status, response.headers)
    return [response.body]
