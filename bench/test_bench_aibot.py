"""AI bots: the JSON envelope + crypto + message of both twins against the Python way of today.

Today's way (wechatpy 1.8.18): ``json.loads`` the body, wrap its ``encrypt`` in XML for
``WeChatCrypto.decrypt_message`` (receive id ""), ``json.loads`` the plaintext; for a reply,
``json.dumps`` it and ``encrypt_message`` (its XML envelope, not even rewritten as JSON:
the comparison favours wechatpy). Ours: ``AIBotCrypto.decrypt_json`` + ``parse_aibot_message``
into an ``AIBotMessage``; the stream reply rendered as the server renders it
(``replies.render_stream``) + ``encrypt_json``. Messages are text
messages whose inner JSON is exactly 300, 2048 and 16384 bytes. ``refresh`` is a whole stream
refresh served in process by ``AIBotServer.serve`` (checks, decrypt, parse, store lookup,
reply, encrypt).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from _aibot_samples import seal, text_message  # tests/ is on the path (conftest)
from conftest import NONCE

from wxcorp_fast.testing import vectors as v

SIZES = (300, 2048, 16384)
TIMESTAMP = "1409659813"


@dataclass(frozen=True)
class AIBotImpl:
    name: str
    decrypt_parse: Callable[[bytes, str], Any]
    encrypt_reply: Callable[[str], Any]


def _ours(module_name: str) -> AIBotImpl:
    core = importlib.import_module(module_name)
    from wxcorp_fast.aibot.replies import render_stream

    crypto = core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    decrypt, parse, encrypt = crypto.decrypt_json, core.parse_aibot_message, crypto.encrypt_json
    return AIBotImpl(
        module_name,
        lambda body, sig: parse(decrypt(body, sig, TIMESTAMP, NONCE)),
        lambda content: encrypt(
            render_stream("0123456789abcdef", content, False), NONCE, TIMESTAMP
        ),
    )


def _wechatpy() -> AIBotImpl:
    from wechatpy.enterprise.crypto import WeChatCrypto

    crypto = WeChatCrypto(v.TOKEN, v.ENCODING_AES_KEY, "")

    def decrypt_parse(body: bytes, sig: str) -> Any:
        encrypt = json.loads(body)["encrypt"]
        xml = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return json.loads(crypto.decrypt_message(xml, sig, TIMESTAMP, NONCE))

    def encrypt_reply(content: str) -> Any:
        payload = {
            "msgtype": "stream",
            "stream": {"id": "0123456789abcdef", "finish": False, "content": content},
        }
        return crypto.encrypt_message(json.dumps(payload, ensure_ascii=False), NONCE, TIMESTAMP)

    return AIBotImpl("wechatpy", decrypt_parse, encrypt_reply)


IMPLS = {
    "compiled": lambda: _ours("wxcorp_fast._core_c"),
    "python": lambda: _ours("wxcorp_fast._core_py"),
    "wechatpy": _wechatpy,
}


@pytest.fixture(scope="module", params=list(IMPLS))
def aibot_impl(request: pytest.FixtureRequest) -> AIBotImpl:
    return IMPLS[request.param]()


@pytest.mark.parametrize("size", SIZES)
def test_aibot_decrypt_parse(benchmark: Any, aibot_impl: AIBotImpl, size: int) -> None:
    """Verify + decrypt the JSON envelope + parse the inner message."""
    benchmark.group = f"aibot-decrypt+parse {size}B"
    body, sig, _, _ = seal(text_message(size), "", TIMESTAMP, NONCE)
    msg = benchmark(aibot_impl.decrypt_parse, body, sig)
    content = msg["text"]["content"] if isinstance(msg, dict) else msg.content
    assert content.startswith("hello robot")


@pytest.mark.parametrize("size", SIZES)
def test_aibot_encrypt(benchmark: Any, aibot_impl: AIBotImpl, size: int) -> None:
    """Render a stream reply and encrypt it into its signed envelope."""
    benchmark.group = f"aibot-encrypt {size}B"
    content = ("streamed answer " * (size // 16 + 1))[: size - 70]
    out = benchmark(aibot_impl.encrypt_reply, content)
    assert b"ncrypt" in (out if isinstance(out, bytes) else out.encode())


# ~10 us a call: rounds of one call would time the harness's loop and timer too, so each
# round runs for at least 0.3 ms (about 30 calls)
@pytest.mark.benchmark(min_time=0.0003)
def test_aibot_refresh(benchmark: Any) -> None:
    """A stream refresh (300 B of content) served by AIBotServer.serve in process, on the
    selected core: checks, decrypt, parse, store lookup, reply, encrypt, Response."""
    from wxcorp_fast.aibot import AIBotServer, MemoryStreamStore

    store = MemoryStreamStore()
    store.create("s" * 32, "x" * 300, False)
    # replay_window=None: the body is signed once, for every round
    bot = AIBotServer(
        v.TOKEN, v.ENCODING_AES_KEY, lambda r: None, stream_store=store, replay_window=None
    )
    refresh = json.dumps(
        {
            "msgid": "CAIQz7/MjQYY/NGagIOAgAMgl8jK/gI=",
            "aibotid": "AIBOTID",
            "chattype": "single",
            "from": {"userid": "USERID"},
            "msgtype": "stream",
            "stream": {"id": "s" * 32},
        }
    ).encode()
    body, sig, ts, nonce = seal(refresh)
    query = {"msg_signature": sig, "timestamp": ts, "nonce": nonce}
    benchmark.group = "aibot-refresh 300B"
    response = benchmark(bot.serve, "POST", query, body)
    assert response.status == 200 and response.body.startswith(b'{"encrypt":"')
