"""The comparison echo bots: wechatpy 1.8.18 behind Flask (WSGI) and Starlette (ASGI).

They do what ``wxcorp_fast.cli.echobot`` does, the way a wechatpy user writes it: verify and
decrypt with ``WeChatCrypto``, parse with ``parse_message``, answer text with the same text
and anything else with a one-line summary, encrypt the reply; 400 on a rejected request.
Credentials: the WeChat Work docs' example (``wxcorp_fast.testing.vectors``).

    gunicorn 'wechatpy_apps:flask_app()'
    uvicorn --factory wechatpy_apps:starlette_app
"""

from __future__ import annotations

from typing import Any
from xml.parsers.expat import ExpatError

from wechatpy.enterprise import create_reply, parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatException

from wxcorp_fast.testing import vectors

REJECTED = (WeChatException, ValueError, KeyError, TypeError, ExpatError)


def _crypto() -> WeChatCrypto:
    return WeChatCrypto(vectors.TOKEN, vectors.ENCODING_AES_KEY, vectors.CORP_ID)


def answer(crypto: WeChatCrypto, method: str, args: Any, body: bytes) -> tuple[int, str]:
    """Handle one callback request; return (status, body)."""
    signature = args.get("msg_signature", "")
    timestamp = args.get("timestamp", "")
    nonce = args.get("nonce", "")
    try:
        if method == "GET":
            return 200, crypto.check_signature(signature, timestamp, nonce, args.get("echostr", ""))
        msg = parse_message(crypto.decrypt_message(body, signature, timestamp, nonce))
    except REJECTED:
        return 400, "rejected"
    if msg.type == "text":
        text = msg.content
    elif msg.type == "event":
        text = f"event {msg.event} key={getattr(msg, 'key', '')}"
    else:
        text = f"{msg.type} message"
    reply = create_reply(text, msg, render=True)
    return 200, crypto.encrypt_message(reply, nonce, timestamp)


def flask_app() -> Any:
    """The echo bot as a Flask application (WSGI)."""
    from flask import Flask, request

    crypto = _crypto()
    app = Flask(__name__)

    @app.route("/", methods=["GET", "POST"])
    def callback() -> tuple[str, int]:
        status, body = answer(crypto, request.method, request.args, request.get_data())
        return body, status

    return app


def starlette_app() -> Any:
    """The echo bot as a Starlette application (ASGI)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    crypto = _crypto()

    async def callback(request: Request) -> PlainTextResponse:
        status, body = answer(crypto, request.method, request.query_params, await request.body())
        return PlainTextResponse(body, status)

    return Starlette(routes=[Route("/", callback, methods=["GET", "POST"])])
