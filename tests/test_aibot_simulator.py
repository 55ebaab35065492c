"""AIBotSimulator: every kind parses to its typed fields, envelopes verify with AIBotCrypto,
``open_reply`` refuses tampered replies, conversations check the protocol, over HTTP too."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from wxcorp_fast.aibot import AIBotCrypto, AIBotServer, StreamReply, parse_aibot_message
from wxcorp_fast.errors import JSONParseError, SignatureError
from wxcorp_fast.testing import AIBOT_KINDS, AIBotSimulator
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.aibot_simulator import _IMAGE_URL as IMAGE_URL
from wxcorp_fast.testing.aibot_simulator import SimulatorError


@pytest.fixture
def sim() -> AIBotSimulator:
    return AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY, chatid="CHAT1", userid="lisi")


@pytest.mark.parametrize("kind", AIBOT_KINDS)
def test_every_kind_parses(sim, kind):
    msg = parse_aibot_message(sim.kind_json(kind))
    assert msg.aibotid == "AIBOTID" and msg.from_userid == "lisi" and msg.msgid
    assert (msg.chatid, msg.chattype) == ("CHAT1", "group")
    if kind in ("enter_chat", "template_card_event", "feedback_event"):
        assert (msg.msgtype, msg.event_type) == ("event", kind) and msg.create_time > 0
    else:
        assert msg.msgtype == kind and msg.response_url.startswith("https://")
    expected = {
        "text": ("content", "hello from the simulator"),
        "voice": ("voice_content", "hello from the simulator"),
        "template_card_event": ("selected_items", (("q1", ("one", "two")),)),
        "feedback_event": ("inaccurate_reasons", (2, 4)),
        "mixed": ("items", (("text", "a picture:", ""), ("image", "", IMAGE_URL))),
        "image": ("image_url", IMAGE_URL),
        "file": ("file_url", IMAGE_URL),
    }
    if kind in expected:
        name, value = expected[kind]
        assert getattr(msg, name) == value


def test_messages_are_unique_and_overridable(sim):
    first, second = (parse_aibot_message(sim.message_json("text")) for _ in range(2))
    assert first.msgid != second.msgid and first.response_url != second.response_url
    msg = parse_aibot_message(
        sim.message_json(
            "text",
            msgid="fixed",
            response_url=None,
            quote={"msgtype": "text", "text": {"content": "q"}},
        )
    )
    assert (msg.msgid, msg.response_url, msg.raw["quote"]["text"]["content"]) == ("fixed", "", "q")
    assert parse_aibot_message(sim.message_json("stream", stream_id="s")).stream_id == "s"


def test_envelopes_verify(sim):
    crypto = AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    data = sim.message_json("text")
    query, body = sim.envelope(data, timestamp=123, nonce="n1")
    assert (query["timestamp"], query["nonce"]) == ("123", "n1")
    assert crypto.decrypt_json(body, query["msg_signature"], "123", "n1") == data
    check = sim.url_verification(b"echo!")
    assert (
        crypto.verify_url(
            check.query["msg_signature"],
            check.query["timestamp"],
            check.query["nonce"],
            check.query["echostr"],
        )
        == b"echo!"
    )


def test_open_reply(sim):
    crypto = AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    reply = crypto.encrypt_json(b'{"msgtype":"text"}', "n", 5)
    assert sim.open_reply(reply) == b'{"msgtype":"text"}'
    doc = json.loads(reply)
    for tampered, error in [
        ({**doc, "msgsignature": "0" * 40}, SignatureError),
        ({k: val for k, val in doc.items() if k != "nonce"}, SignatureError),
        ({**doc, "timestamp": "5"}, SignatureError),
    ]:
        with pytest.raises(error):
            sim.open_reply(json.dumps(tampered))
    for body in (b"nope", b"[1]"):
        with pytest.raises(JSONParseError):
            sim.open_reply(body)


def test_conversation_checks_the_protocol(sim):
    app = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, lambda r: "not streamed")
    assert sim.conversation(app).content == "not streamed"
    never = AIBotServer(
        v.TOKEN, v.ENCODING_AES_KEY, lambda r: StreamReply("...", finish=False, stream_id="forever")
    )
    with pytest.raises(SimulatorError, match="did not finish in 3"):
        sim.conversation(never, max_refreshes=3, interval=0)
    empty = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, lambda r: None)
    with pytest.raises(SimulatorError, match="not answered with a stream"):
        sim.conversation(empty)
    failing = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, lambda r: 1 / 0)
    with pytest.raises(SimulatorError, match="HTTP 500"):
        sim.conversation(failing)


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to the WSGI-like ``serve`` of the server's app."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.server.app.serve(self.command, dict(parse_qsl(split.query)), body)  # type: ignore[attr-defined]
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = _serve

    def log_message(self, *args: object) -> None:
        pass


def test_over_http(sim):
    def handler(request):
        yield "over "
        yield "http"

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.app = AIBotServer(
        v.TOKEN,
        v.ENCODING_AES_KEY,
        handler,  # type: ignore[attr-defined]
        first_reply_deadline=0,
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        assert sim.get(url).reply is not None
        assert sim.conversation(url, interval=0).content == "over http"
        result = sim.send(url, {}, b"{}")
        assert (result.status, result.reply) == (400, None)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
