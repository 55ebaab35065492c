"""The in-process callback pipeline: ``serve_http`` against the same work on wechatpy 1.8.18.

One POST text message (300 B of inner XML, signed with the current time) answered with a
text reply echoing its content:

- ours: ``serve_http("POST", query, body, agent)`` with a handler returning
  ``TextReply(content)``: every check of the server (replay window included), decrypt,
  parse, ``Request``, handler, render, encrypt, ``Response``;
- wechatpy: ``WeChatCrypto.decrypt_message`` + ``parse_message`` +
  ``create_reply(content, message).render()`` + ``encrypt_message``.

The WSGI and ASGI rows run the same request through ``AgentServerFrontend`` in process
(no sockets), so the frontends' own cost shows next to ``serve_http``'s.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import NONCE, text_message

import wxcorp_fast
from wxcorp_fast.testing import vectors as v

SIZE = 300
#: ``serve_http`` runs on the core selected at import: "compiled", or "python" when
#: WXCORP_FAST_NO_EXTENSIONS is set.
OURS = wxcorp_fast.IMPLEMENTATION


def _signed_post() -> tuple[dict[str, str], bytes, bytes]:
    """``(query, body, inner xml)`` of a 300 B text message signed now."""
    from wxcorp_fast import _core_py

    xml = text_message(SIZE, "ascii")
    timestamp = str(int(time.time()))
    aes_key = _core_py.decode_aes_key(v.ENCODING_AES_KEY)
    encrypt = _core_py.encrypt_msg(xml, v.CORP_ID, aes_key)
    body = (
        f"<xml><ToUserName><![CDATA[{v.CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    ).encode()
    signature = _core_py.msg_signature(v.TOKEN, timestamp, NONCE, encrypt)
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": NONCE}, body, xml


def _ours() -> Any:
    from wxcorp_fast import DefaultAgentServer, serve_http
    from wxcorp_fast.replies import TextReply

    def echo(request: Any) -> TextReply:
        return TextReply(request.msg.content)

    agent = DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, echo)
    query, body, _ = _signed_post()
    return lambda: serve_http("POST", query, body, agent).body


def _wechatpy() -> Any:
    from wechatpy.enterprise import parse_message
    from wechatpy.enterprise.crypto import WeChatCrypto
    from wechatpy.enterprise.replies import create_reply

    crypto = WeChatCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    query, body, _ = _signed_post()
    signature, timestamp, nonce = query["msg_signature"], query["timestamp"], query["nonce"]

    def run() -> str:
        message = parse_message(crypto.decrypt_message(body, signature, timestamp, nonce))
        reply = create_reply(message.content, message).render()
        return crypto.encrypt_message(reply, nonce, timestamp)

    return run


@pytest.mark.parametrize("impl", [OURS, "wechatpy"])
def test_serve_http(benchmark: Any, impl: str) -> None:
    """POST text message -> verified, decrypted, parsed, handled, answered and encrypted."""
    benchmark.group = f"serve_http {SIZE}B"
    run = _wechatpy() if impl == "wechatpy" else _ours()
    envelope = benchmark(run)
    assert "<Encrypt>" in (envelope if isinstance(envelope, str) else envelope.decode())


@pytest.mark.compiled
@pytest.mark.parametrize("frontend", ["wsgi", "asgi"])
def test_frontend_in_process(benchmark: Any, frontend: str) -> None:
    """The same request through AgentServerFrontend as WSGI / ASGI, without sockets."""
    from wxcorp_fast import AgentServerFrontend, DefaultAgentServer
    from wxcorp_fast.replies import TextReply

    agent = DefaultAgentServer(
        v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, lambda r: TextReply(r.msg.content)
    )
    app = AgentServerFrontend(agent)
    query, body, _ = _signed_post()
    query_string = urlencode(query)
    benchmark.group = f"frontends {SIZE}B (compiled)"
    benchmark.name = f"test_frontend_in_process[{frontend}]"
    if frontend == "wsgi":

        def start_response(status: str, headers: Any) -> None:
            pass

        def run() -> bytes:
            environ = {
                "REQUEST_METHOD": "POST",
                "QUERY_STRING": query_string,
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
            return b"".join(app(environ, start_response))

        assert benchmark(run).startswith(b"<xml><Encrypt>")
        return

    scope = {
        "type": "http",
        "method": "POST",
        "query_string": query_string.encode(),
        "headers": [(b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.request", "body": body, "more_body": False}
    sent: list[Any] = []
    loop = asyncio.new_event_loop()

    async def receive() -> Any:
        return message

    async def send(event: Any) -> None:
        sent.append(event)

    def run_asgi() -> None:
        sent.clear()
        loop.run_until_complete(app.asgi(scope, receive, send))

    try:
        benchmark(run_asgi)
    finally:
        loop.close()
    assert sent[1]["body"].startswith(b"<xml><Encrypt>")
