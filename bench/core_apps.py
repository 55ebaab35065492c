"""Core-only callback apps: the compiled core's own work on a callback, and nothing else.

Each request: the envelope parsed, its signature computed and compared, the frame decrypted,
the message parsed, a text reply rendered and encrypted. No replay window, no envelope or
agent checks, no dedupe, no routing, no framework: a lower bound for any app built on the
core, between the do-nothing app (``null_apps.py``) and the echo bot (``our_apps.py``) in
bench/http_bench.py's table. Not a callback server (a bad request is a 500).

    gunicorn 'core_apps:wsgi_app()'
    uvicorn --factory core_apps:asgi_app
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wxcorp_fast._core import core
from wxcorp_fast.callback.replies import TextReply
from wxcorp_fast.testing import vectors as v

_codec = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
_key = core.decode_aes_key(v.ENCODING_AES_KEY)


def _answer(query_string: str, body: bytes) -> bytes:
    """The encrypted echo of the callback ``body``, signed with the query's parameters."""
    query = dict(part.split("=", 1) for part in query_string.split("&"))
    _, _, encrypt = core.parse_envelope(body)
    if (
        core.msg_signature(v.TOKEN, query["timestamp"], query["nonce"], encrypt)
        != (query["msg_signature"])
    ):
        raise ValueError("bad signature")
    msg = core.parse_message(core.decrypt_msg(encrypt, _key)[1])
    timestamp = int(query["timestamp"])
    inner = TextReply(msg.content).render(msg.from_user_name, msg.to_user_name, timestamp)
    reply: bytes = _codec.encrypt(inner, query["nonce"], timestamp)
    return reply


def wsgi_app() -> Callable[..., Iterable[bytes]]:
    """The core-only WSGI app."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        reply = _answer(environ["QUERY_STRING"], body)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(reply))),
            ],
        )
        return [reply]

    return app


def asgi_app() -> Callable[..., Any]:
    """The core-only ASGI 3 app (lifespan answered)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup / shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = (await receive())["body"]  # wrk's small body comes in one message
        reply = _answer(scope["query_string"].decode("latin-1"), body)
        headers = [
            (b"content-type", b"application/xml; charset=utf-8"),
            (b"content-length", str(len(reply)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply})

    return app
