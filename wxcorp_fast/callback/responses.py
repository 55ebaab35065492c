"""The server's answers: plain-text statuses, and a handler's reply rendered and encrypted.

A reply is rendered with ``to_user_name`` = the message's FromUserName, ``from_user_name`` =
its ToUserName and ``create_time`` = the request's timestamp, then encrypted reusing the
request's timestamp and nonce with a fresh random, the frame carrying the envelope's
ToUserName. One ``MsgCrypto`` per (token, AES key, corp id) is cached for the envelopes.
"""

from __future__ import annotations

import base64
import inspect
from typing import Any, Final

from .._core import core
from .replies import TextReply
from .request import Request, Response

__all__ = [
    "plain_response",
    "text_response",
    "json_response",
    "empty_response",
    "too_large",
    "bad_content_length",
    "method_not_allowed",
    "internal_error",
    "answer",
    "inner_xml",
    "write_response",
]

_TEXT: Final = "text/plain; charset=utf-8"
_XML: Final = "application/xml; charset=utf-8"
_JSON_TYPE: Final = ("Content-Type", "application/json; charset=utf-8")  # one shared tuple

#: (token, aes_key, corp_id) -> MsgCrypto, for the reply envelopes (bounded; cleared when full).
_CODECS: dict[tuple[str, bytes, str], Any] = {}
_MAX_CODECS: Final = 64


def plain_response(status: int, body: bytes, *extra: tuple[str, str]) -> Response:
    """Return a plain-text response (for the frontends' own answers too)."""
    return Response(
        status, [("Content-Type", _TEXT), ("Content-Length", str(len(body))), *extra], body
    )


def text_response(body: bytes) -> Response:
    """Return a 200 plain-text response with ``body`` (the URL check's echostr)."""
    return Response(200, [("Content-Type", _TEXT), ("Content-Length", str(len(body)))], body)


def json_response(body: bytes) -> Response:
    """Return a 200 JSON response with ``body`` (an AI bot's encrypted reply)."""
    return Response(200, [_JSON_TYPE, ("Content-Length", str(len(body)))], body)


def empty_response() -> Response:
    """Return the empty 200 answer (no reply)."""
    return Response(200, [("Content-Type", _TEXT), ("Content-Length", "0")], b"")


def too_large() -> Response:
    """Return the 413 answer to a body over the size limit."""
    return plain_response(413, b"Request Entity Too Large\n")


def bad_content_length() -> Response:
    """Return the 400 answer to a Content-Length that is not a number."""
    return plain_response(400, b"Bad Request: invalid Content-Length\n")


def internal_error() -> Response:
    """Return the 500 answer (nothing of the request in it)."""
    return plain_response(500, b"Internal Server Error\n")


def method_not_allowed() -> Response:
    """Return the 405 answer to a method other than GET and POST."""
    return plain_response(405, b"Method Not Allowed\n", ("Allow", "GET, POST"))


def answer(request: Request, inner: bytes) -> Response:
    """Answer ``request`` with the inner XML ``inner`` encrypted (empty body for ``b""``)."""
    if not inner:
        return Response(200, [("Content-Type", _TEXT), ("Content-Length", "0")], b"")
    ident = (request.agent_token, request.aes_key, request.corp_id)
    codec = _CODECS.get(ident)
    if codec is None:
        encoding_aes_key = base64.b64encode(request.aes_key)[:43].decode("ascii")
        codec = core.MsgCrypto(request.agent_token, encoding_aes_key, request.corp_id)
        if len(_CODECS) >= _MAX_CODECS:
            _CODECS.clear()
        _CODECS[ident] = codec
    body: bytes = codec.encrypt(inner, request.nonce, request.timestamp)
    return Response(200, [("Content-Type", _XML), ("Content-Length", str(len(body)))], body)


def inner_xml(request: Request, reply: object) -> bytes:
    """Render a handler's reply into inner XML (``b""`` for no reply).

    A reply object is rendered; a ``str`` is a text reply (``TextReply(str)``); ``bytes``
    are inner XML, sent as they are; ``None`` is no reply. Anything else is a ``TypeError``.
    """
    if isinstance(reply, str):
        reply = TextReply(reply)
    render = getattr(reply, "render", None)
    if render is not None:
        msg = request.msg
        xml = render(msg.from_user_name, msg.to_user_name, request.timestamp)
        if not isinstance(xml, bytes):
            raise TypeError("a reply's render() must return bytes")
        return xml
    if reply is None:
        return b""
    if isinstance(reply, bytes):
        return reply
    if inspect.iscoroutine(reply):
        reply.close()  # never awaited: close it so it does not warn later
    if inspect.isawaitable(reply):
        raise TypeError(
            "the message handler returned an awaitable; serve it with serve_http_async or .asgi"
        )
    raise TypeError(
        f"a message handler cannot return {type(reply).__name__}: return a reply object, "
        "a str (a text reply), bytes (inner XML) or None"
    )


def write_response(request: Request, reply: object) -> bytes:
    """Return the encrypted reply envelope answering ``request`` (``b""`` for ``None``).

    ``reply`` is a reply object (anything with ``render``), a str (a text reply), or inner
    XML as bytes.
    The envelope reuses the request's timestamp and nonce, with a fresh random.
    """
    return answer(request, inner_xml(request, reply)).body
