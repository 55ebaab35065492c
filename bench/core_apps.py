"""Core-only callback apps: the compiled core's own work on a callback, and nothing else.

Each request goes through the core's one-call paths, as the echo bot's do: the query split
(``_plain_query``), the callback verified, decrypted and parsed (``_open_callback``: the
envelope, agent, signature, frame and message checks), the text reply written
(``_text_reply``) and encrypted. No replay window, no ``Request``, no routing, no handler, no
framework: a lower bound for any app built on the core, between the do-nothing app
(``null_apps.py``) and the echo bot (``our_apps.py``) in bench/http_bench.py's table. Not a
callback server (a bad request is a 500).

The crypto-only apps (``http_bench.py --floor crypto``) go lower still: per request only
the Encrypt text found, decrypted, and a reply of the echo's size encrypted and signed;
nothing verified, nothing parsed: the cryptography no answer can skip.

    gunicorn 'core_apps:wsgi_app()'          gunicorn 'core_apps:crypto_wsgi_app()'
    uvicorn --factory core_apps:asgi_app     uvicorn --factory core_apps:crypto_asgi_app
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wxcorp_fast._core import core
from wxcorp_fast.testing import vectors as v

_codec = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
_key = core.decode_aes_key(v.ENCODING_AES_KEY)


def _answer(query_string: str, body: bytes) -> bytes:
    """The encrypted echo of the callback ``body``, signed with the query's parameters."""
    query = core._plain_query(query_string)
    opened = core._open_callback(query, body, v.TOKEN, _key, v.CORP_ID, v.AGENT_ID)
    if opened is None:
        raise ValueError("the callback does not verify")
    _, timestamp, nonce, _, msg, _, _, _ = opened
    inner = core._text_reply(msg.from_user_name, msg.to_user_name, timestamp, msg.content)
    if inner is None:
        raise ValueError("the text needs escaping")
    reply: bytes = _codec.encrypt(inner, nonce, timestamp)
    return reply


#: The echo's inner reply to bench/http_bench.py's callback, for the crypto-only apps.
_REPLY_INNER = core._text_reply("zhangsan", v.CORP_ID, 1409659813, "hello from wrk") or b""


def _crypto_answer(query_string: str, body: bytes) -> bytes:
    """The cryptography of an answer alone: Encrypt decrypted, a same-size reply encrypted."""
    core.decrypt_msg(core.parse_envelope(body)[2], _key)
    reply: bytes = _codec.encrypt(_REPLY_INNER, "1409659813", 1409659813)
    return reply


def crypto_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """The crypto-only WSGI app."""
    return wsgi_app(_crypto_answer)


def crypto_asgi_app() -> Callable[..., Any]:
    """The crypto-only ASGI 3 app (lifespan answered)."""
    return asgi_app(_crypto_answer)


def wsgi_app(
    answer: Callable[[str, bytes], bytes] = _answer,
) -> Callable[..., Iterable[bytes]]:
    """The core-only WSGI app."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        reply = answer(environ["QUERY_STRING"], body)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(reply))),
            ],
        )
        return [reply]

    return app


def asgi_app(answer: Callable[[str, bytes], bytes] = _answer) -> Callable[..., Any]:
    """The core-only ASGI 3 app (lifespan answered)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup / shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = (await receive())["body"]  # wrk's small body comes in one message
        reply = answer(scope["query_string"].decode("latin-1"), body)
        headers = [
            (b"content-type", b"application/xml; charset=utf-8"),
            (b"content-length", str(len(reply)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply})

    return app
