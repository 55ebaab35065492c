"""CallbackSimulator (reference section 6): what it builds parses and verifies; replies are checked.

The simulator's output is checked with ``MsgCrypto`` and ``parse_message`` directly, and its
HTTP methods against a small stdlib server that answers with ``MsgCrypto`` alone, so these
tests do not depend on the server modules (tests/test_real_servers.py drives those).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import urllib3

import wxcorp_fast
from wxcorp_fast import (
    Base64Error,
    CorpIdMismatchError,
    DecryptError,
    MsgCrypto,
    SignatureError,
    XMLParseError,
    parse_message,
)
from wxcorp_fast.testing import KINDS, CallbackSimulator
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.simulator import MSG_REPLY_FIELDS, MSG_REPLY_NOT_FOR_REQUEST

NOW = 1_700_000_000
OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_KEY = wxcorp_fast.decode_aes_key(v.ENCODING_AES_KEY)

# The typed fields each kind must parse to (beyond to/from/create_time/agent_id, checked apart).
EXPECTED: dict[str, dict[str, Any]] = {
    "text": {"msg_type": "text", "content": "hello from the simulator"},
    "image": {
        "msg_type": "image",
        "pic_url": "https://wework.qpic.cn/wwpic/simulated/0",
        "media_id": "1L3zRxmVWEmRr6Qb0cS5aeVNS3i5ms9bF0ezz_fHXfCY",
    },
    "voice": {
        "msg_type": "voice",
        "format": "amr",
        "media_id": "1oIyqJq2iBZCNvKNkTqGWP7F7bHv1ijV4Jmmb48Fwcv8",
    },
    "video": {
        "msg_type": "video",
        "media_id": "1fRxnKPjjhtDQiBTHqw8uW7JRdkfbx1Y6Nc2Sb34fzTU",
        "thumb_media_id": "1tq6S4Vd7ikTFSNpsrmDJk6WxXOqLmvk5q4AJdOnRvwk",
    },
    "location": {
        "msg_type": "location",
        "location_x": 23.134521,
        "location_y": 113.358803,
        "scale": 20,
        "label": "广州市海珠区新港中路397号",
    },
    "link": {
        "msg_type": "link",
        "title": "企业微信开发文档",
        "description": "接收消息与事件",
        "url": "https://developer.work.weixin.qq.com/document/path/90239",
        "pic_url": "https://wework.qpic.cn/wwpic/simulated/1",
    },
    "subscribe": {"msg_type": "event", "event": "subscribe", "event_key": ""},
    "unsubscribe": {"msg_type": "event", "event": "unsubscribe"},
    "enter_agent": {"msg_type": "event", "event": "enter_agent", "event_key": ""},
    "LOCATION": {
        "msg_type": "event",
        "event": "LOCATION",
        "latitude": 23.104105,
        "longitude": 113.320107,
        "precision": 65.0,
    },
    "click": {"msg_type": "event", "event": "click", "event_key": "MENU_CLICK_1"},
    "view": {"msg_type": "event", "event": "view", "event_key": "https://work.weixin.qq.com/"},
    "scancode_push": {
        "event": "scancode_push",
        "event_key": "MENU_SCAN",
        "scan_code_info": {"scan_type": "qrcode", "scan_result": "https://example.com/scan/1"},
    },
    "pic_weixin": {
        "event": "pic_weixin",
        "event_key": "MENU_PIC",
        "send_pics_info": {"count": 1, "pic_list": ["1b5f7c23b5bf75682a53e7b6d163e185"]},
    },
    "location_select": {
        "event": "location_select",
        "event_key": "MENU_LOCATION",
        "send_location_info": {
            "location_x": 23.0,
            "location_y": 113.5,
            "scale": 15,
            "label": "广州市海珠区客村艺苑路 106号",
            "poiname": "",
        },
    },
    "change_contact": {
        "event": "change_contact",
        "change_type": "update_user",
        "user_id": "zhangsan",
        "from_user_name": "sys",
    },
    "batch_job_result": {"event": "batch_job_result", "from_user_name": "sys"},
}


@pytest.fixture
def sim() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, clock=lambda: NOW)


@pytest.fixture
def crypto() -> Any:
    return MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)


def open_request(crypto: Any, query: dict[str, str], body: bytes) -> wxcorp_fast.MixedMessage:
    """Verify and decrypt a simulated POST the way a server does, and parse it."""
    xml = crypto.decrypt(body, query["msg_signature"], query["timestamp"], query["nonce"])
    return parse_message(xml)


def test_kinds_cover_the_issue() -> None:
    assert set(KINDS) == set(EXPECTED)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_kind_parses_to_its_typed_fields(
    sim: CallbackSimulator, crypto: Any, kind: str
) -> None:
    query, body = sim.message(**KINDS[kind])
    assert query["timestamp"] == str(NOW)
    assert query["msg_signature"] == wxcorp_fast.msg_signature(
        v.TOKEN, query["timestamp"], query["nonce"], wxcorp_fast.parse_envelope(body).encrypt
    )
    envelope = wxcorp_fast.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == (v.CORP_ID, v.AGENT_ID)

    msg = open_request(crypto, query, body)
    fields = msg.to_dict()
    expected = {
        "to_user_name": v.CORP_ID,
        "from_user_name": "zhangsan",
        "create_time": NOW,
        "agent_id": v.AGENT_ID,
        **EXPECTED[kind],
    }
    assert {name: fields[name] for name in expected} == expected
    assert (msg.msg_id != 0) == (msg.msg_type != "event")


def test_change_contact_carries_nested_elements(sim: CallbackSimulator) -> None:
    raw = parse_message(sim.message_xml(**KINDS["change_contact"])).raw
    assert raw["Department"] == "1,2,3"
    items = raw["ExtAttr"]["Item"]
    assert [item["Name"] for item in items] == ["爱好", "卡号"]
    assert items[0]["Text"] == {"Value": "旅游"}
    assert items[1]["Web"]["Url"] == "https://work.weixin.qq.com"


def test_batch_job_result_carries_the_job(sim: CallbackSimulator) -> None:
    job = parse_message(sim.message_xml(**KINDS["batch_job_result"])).raw["BatchJob"]
    assert job == {
        "JobId": "S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4",
        "JobType": "sync_user",
        "ErrCode": "0",
        "ErrMsg": "ok",
    }


def test_msg_ids_differ(sim: CallbackSimulator) -> None:
    ids = {parse_message(sim.message_xml("text")).msg_id for _ in range(5)}
    assert len(ids) == 5


def test_fields_by_snake_name_or_tag_and_removal(sim: CallbackSimulator, crypto: Any) -> None:
    query, body = sim.message(
        "text",
        content="a ]]> b <c> & d",
        Extra={"Item": [1, 2.5, "x"]},
        msg_id=7,
        timestamp=NOW + 5,
        nonce="42",
    )
    assert (query["timestamp"], query["nonce"]) == (str(NOW + 5), "42")
    msg = open_request(crypto, query, body)
    assert (msg.content, msg.msg_id) == ("a ]]> b <c> & d", 7)
    assert msg.raw["Extra"] == {"Item": ["1", "2.5", "x"]}

    query, body = sim.message("event", event="custom", agent_id=None, EventKey="k")
    assert b"AgentID" not in body
    msg = open_request(crypto, query, body)
    assert (msg.event, msg.event_key, msg.agent_id) == ("custom", "k", 0)
    assert "AgentID" not in msg.raw


def test_envelope_follows_the_inner_to_user_name_and_agent_id(sim: CallbackSimulator) -> None:
    _, body = sim.message("text", to_user_name="wwOTHER", agent_id=999)
    envelope = wxcorp_fast.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == ("wwOTHER", 999)


def _encrypt(body: bytes) -> str:
    return wxcorp_fast.parse_envelope(body).encrypt


def test_envelope_fields_can_be_overridden(sim: CallbackSimulator, crypto: Any) -> None:
    query, body = sim.message("text", envelope_to="wwOTHER", envelope_agent_id=999)
    envelope = wxcorp_fast.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == ("wwOTHER", 999)
    msg = open_request(crypto, query, body)  # the inner message is untouched
    assert (msg.to_user_name, msg.agent_id) == (v.CORP_ID, v.AGENT_ID)
    # an AgentID on the envelope of a message that has none
    _, body = sim.message("text", agent_id=None, envelope_agent_id=v.AGENT_ID)
    assert wxcorp_fast.parse_envelope(body).agent_id == v.AGENT_ID
    # one override: the other field still follows the message
    _, body = sim.message("text", agent_id=5, envelope_to="wwOTHER")
    envelope = wxcorp_fast.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == ("wwOTHER", 5)


def test_envelope_of_any_bytes_when_both_fields_are_given(
    sim: CallbackSimulator, crypto: Any
) -> None:
    query, body = sim.envelope(b"not xml", envelope_to=v.CORP_ID, envelope_agent_id=v.AGENT_ID)
    assert crypto.decrypt(body, query["msg_signature"], query["timestamp"], query["nonce"]) == (
        b"not xml"
    )
    for kw in ({}, {"envelope_to": v.CORP_ID}, {"envelope_agent_id": v.AGENT_ID}):
        with pytest.raises(XMLParseError):
            sim.envelope(b"not xml", **kw)


def test_frame_corp_id(sim: CallbackSimulator, crypto: Any) -> None:
    query, body = sim.message("text", frame_corp_id="wwFRAME")
    assert wxcorp_fast.decrypt_msg(_encrypt(body), AES_KEY)[2] == "wwFRAME"
    assert wxcorp_fast.parse_envelope(body).to_user_name == v.CORP_ID
    with pytest.raises(CorpIdMismatchError):
        open_request(crypto, query, body)


def test_aes_key(sim: CallbackSimulator, crypto: Any) -> None:
    other = wxcorp_fast.decode_aes_key(OTHER_KEY)
    query, body = sim.message("text", content="rotated", aes_key=other)
    rotated = MsgCrypto(v.TOKEN, OTHER_KEY, v.CORP_ID)
    assert open_request(rotated, query, body).content == "rotated"
    with pytest.raises((DecryptError, CorpIdMismatchError)):
        open_request(crypto, query, body)


def test_random_pins_the_frame(sim: CallbackSimulator) -> None:
    xml = sim.message_xml("text")
    _, body = sim.envelope(xml, random=b"R" * 16)
    assert wxcorp_fast.decrypt_msg(_encrypt(body), AES_KEY)[:2] == (b"R" * 16, xml)
    _, again = sim.envelope(xml, random=b"R" * 16)
    assert again == body  # the same message, byte for byte
    fresh = {wxcorp_fast.decrypt_msg(_encrypt(sim.envelope(xml)[1]), AES_KEY)[0] for _ in range(3)}
    assert len(fresh) == 3 and b"R" * 16 not in fresh
    with pytest.raises(ValueError):
        sim.envelope(xml, random=b"short")


def test_message_passes_the_tamper_options_on(sim: CallbackSimulator) -> None:
    other = wxcorp_fast.decode_aes_key(OTHER_KEY)
    query, body = sim.message(
        "text",
        content="all",
        timestamp=NOW - 1,
        nonce="77",
        envelope_to="wwTO",
        envelope_agent_id=3,
        frame_corp_id="wwFRAME",
        aes_key=other,
        random=b"r" * 16,
    )
    assert (query["timestamp"], query["nonce"]) == (str(NOW - 1), "77")
    envelope = wxcorp_fast.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == ("wwTO", 3)
    random, xml, corp_id = wxcorp_fast.decrypt_msg(envelope.encrypt, other)
    assert (random, corp_id, parse_message(xml).content) == (b"r" * 16, "wwFRAME", "all")
    assert query == sim.sign(envelope.encrypt, timestamp=NOW - 1, nonce="77")


def test_url_verification_tamper_options(sim: CallbackSimulator, crypto: Any) -> None:
    q = sim.url_verification(b"e", frame_corp_id="wwFRAME").query
    assert wxcorp_fast.decrypt_msg(q["echostr"], AES_KEY)[1:] == (b"e", "wwFRAME")
    with pytest.raises(CorpIdMismatchError):
        crypto.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
    q = sim.url_verification(b"e", aes_key=wxcorp_fast.decode_aes_key(OTHER_KEY)).query
    rotated = MsgCrypto(v.TOKEN, OTHER_KEY, v.CORP_ID)
    assert rotated.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]) == (
        b"e"
    )


@pytest.mark.parametrize("encrypt", ["@@@@", "", "not base64!", "QUJD"])
def test_sign_signs_any_encrypt_text(sim: CallbackSimulator, encrypt: str) -> None:
    query = sim.sign(encrypt, timestamp=NOW, nonce="9")
    assert query == {
        "msg_signature": wxcorp_fast.msg_signature(v.TOKEN, str(NOW), "9", encrypt),
        "timestamp": str(NOW),
        "nonce": "9",
    }
    drawn = sim.sign(encrypt)
    assert drawn["timestamp"] == str(NOW) and drawn["nonce"].isdigit()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"msg_type": "event"}, ValueError),
        ({"Bad Tag": "x"}, ValueError),
        ({"Flag": True}, TypeError),
        ({"Blob": b"bytes"}, TypeError),
    ],
)
def test_bad_fields_are_refused(
    sim: CallbackSimulator, fields: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        sim.message(**fields)


def test_url_verification(sim: CallbackSimulator, crypto: Any) -> None:
    check = sim.url_verification(b"12345", nonce="n1")
    q = check.query
    assert set(q) == {"msg_signature", "timestamp", "nonce", "echostr"}
    assert (q["timestamp"], q["nonce"], check.echo) == (str(NOW), "n1", b"12345")
    echo = crypto.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
    assert echo == b"12345"
    assert sim.url_verification().echo != sim.url_verification().echo


def test_open_reply_accepts_a_real_reply(sim: CallbackSimulator, crypto: Any) -> None:
    inner = b"<xml><Content><![CDATA[hi]]></Content></xml>"
    assert sim.open_reply(crypto.encrypt(inner, "123", NOW)) == inner
    assert sim.open_reply(crypto.encrypt(inner, "123").decode()) == inner


def test_open_reply_checks_the_request_it_answers(sim: CallbackSimulator, crypto: Any) -> None:
    query, _ = sim.message("text", timestamp=NOW, nonce="123")
    reply = crypto.encrypt(b"<xml/>", "123", NOW)
    assert sim.open_reply(reply, query=query) == b"<xml/>"
    for other in ({**query, "nonce": "124"}, {**query, "timestamp": str(NOW + 1)}, {}):
        assert sim.open_reply(reply) == b"<xml/>"  # without query: the signature only
        with pytest.raises(SignatureError) as info:
            sim.open_reply(reply, query=other)
        assert str(info.value) == MSG_REPLY_NOT_FOR_REQUEST


def _tamper_encrypt(envelope: bytes) -> bytes:
    encrypt = parse_message(envelope).raw["Encrypt"]
    raw = bytearray(base64.b64decode(encrypt))
    raw[-1] ^= 1
    return envelope.replace(encrypt.encode(), base64.b64encode(bytes(raw)))


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [
        (_tamper_encrypt, SignatureError, "signature mismatch"),
        (
            lambda e: e.replace(b"<Nonce><![CDATA[123]]>", b"<Nonce><![CDATA[124]]>"),
            SignatureError,
            "signature mismatch",
        ),
        (
            lambda e: e.replace(b"<TimeStamp>", b"<TimeStamp>1"),
            SignatureError,
            "signature mismatch",
        ),
        (lambda e: e.split(b"<MsgSignature>")[0] + b"</xml>", SignatureError, MSG_REPLY_FIELDS),
        (lambda e: e[:-3], XMLParseError, "not well-formed XML"),
        (lambda e: b"", XMLParseError, "not well-formed XML"),
    ],
)
def test_open_reply_rejects_a_tampered_envelope(
    sim: CallbackSimulator, crypto: Any, tamper: Any, error: type[Exception], message: str
) -> None:
    envelope = crypto.encrypt(b"<xml><Content>secret-content</Content></xml>", "123", NOW)
    with pytest.raises(error) as info:
        sim.open_reply(tamper(envelope))
    assert str(info.value) == message
    assert "secret-content" not in str(info.value)


def test_open_reply_rejects_another_corp_and_a_bad_encrypt(sim: CallbackSimulator) -> None:
    other = MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, "wwOTHERCORP")
    with pytest.raises(CorpIdMismatchError):
        sim.open_reply(other.encrypt(b"<xml/>", "1"))
    encrypt = "not*base64"
    sig = wxcorp_fast.msg_signature(v.TOKEN, NOW, "1", encrypt)
    body = (
        f"<xml><Encrypt>{encrypt}</Encrypt><MsgSignature>{sig}</MsgSignature>"
        f"<TimeStamp>{NOW}</TimeStamp><Nonce>1</Nonce></xml>"
    )
    with pytest.raises(Base64Error):
        sim.open_reply(body)


def test_open_reply_rejects_another_token(sim: CallbackSimulator) -> None:
    other = MsgCrypto("another-token", v.ENCODING_AES_KEY, v.CORP_ID)
    with pytest.raises(SignatureError):
        sim.open_reply(other.encrypt(b"<xml/>", "1"))


def test_repr_has_no_secret(sim: CallbackSimulator) -> None:
    assert v.TOKEN not in repr(sim) and v.ENCODING_AES_KEY not in repr(sim)


# --------------------------------------------------------------------------- over HTTP


class _EchoHandler(BaseHTTPRequestHandler):
    """Answer the URL check and echo each message's MsgType back, with MsgCrypto only."""

    crypto = MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    seen: list[tuple[str, str, dict[str, str]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query))
        self.seen.append(("GET", url.path, q))
        try:
            echo = self.crypto.verify_url(
                q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]
            )
        except (KeyError, wxcorp_fast.CallbackError):
            return self._answer(400, b"bad")
        self._answer(200, b"wrong" if url.path == "/wrong-echo" else echo)

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query))
        self.seen.append(("POST", url.path, q))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            msg = parse_message(
                self.crypto.decrypt(body, q["msg_signature"], q["timestamp"], q["nonce"])
            )
        except (KeyError, wxcorp_fast.CallbackError):
            return self._answer(400, b"bad")
        if url.path == "/empty":
            return self._answer(200, b"")
        reply = self.crypto.encrypt(
            f"<xml><Got>{msg.msg_type}</Got></xml>", q["nonce"], q["timestamp"]
        )
        if url.path == "/tampered":
            reply = reply.replace(b"<Nonce><![CDATA[", b"<Nonce><![CDATA[9")
        self._answer(200, reply)


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _EchoHandler.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_post_opens_the_reply(sim: CallbackSimulator, echo_url: str) -> None:
    result = sim.post(echo_url + "/cb?agent_server=a", "image")
    assert result.status == 200
    assert result.reply == b"<xml><Got>image</Got></xml>"
    method, path, query = _EchoHandler.seen[-1]
    assert (method, path, query["agent_server"]) == ("POST", "/cb", "a")


def test_post_empty_reply_and_errors(sim: CallbackSimulator, echo_url: str) -> None:
    assert sim.post(echo_url + "/empty").reply is None
    with pytest.raises(SignatureError):
        sim.post(echo_url + "/tampered")
    refused = sim.send(echo_url, {"msg_signature": "0" * 40}, b"<xml/>")
    assert (refused.status, refused.body, refused.reply) == (400, b"bad", None)


def test_get_runs_the_url_check(sim: CallbackSimulator, echo_url: str) -> None:
    result = sim.get(echo_url + "/cb")
    assert result.status == 200 and result.reply == result.body
    with pytest.raises(SignatureError):
        sim.get(echo_url + "/wrong-echo")


# --------------------------------------------------------------------------- WeChat's retries


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _SlowHandler(BaseHTTPRequestHandler):
    """Answer POSTs with an empty 200 after the next of ``delays`` (then at once)."""

    delays: list[float] = []
    got: list[str] = []
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.got.append(self.path + " " + hashlib.sha1(body).hexdigest())
            delay = self.delays.pop(0) if self.delays else 0.0
        time.sleep(delay)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the simulator dropped this try


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = _SlowServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _SlowHandler.got = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_retries_resend_the_same_request_after_no_answer(
    sim: CallbackSimulator, slow_url: str
) -> None:
    _SlowHandler.delays = [3.0, 0.0]  # the first try gets no answer in time, the second does
    result = sim.post(slow_url + "/cb", "text", retries=True, retry_interval=0.3)
    assert (result.status, result.body, result.tries) == (200, b"", 2)
    assert len(_SlowHandler.got) == 2
    assert _SlowHandler.got[0] == _SlowHandler.got[1]  # the same request, byte for byte


def test_retries_end_at_three_tries(sim: CallbackSimulator, slow_url: str) -> None:
    _SlowHandler.delays = [3.0, 3.0, 3.0]
    with pytest.raises(urllib3.exceptions.HTTPError):
        sim.post(slow_url, "text", retries=True, retry_interval=0.2)
    assert len(_SlowHandler.got) == 3


def test_an_answer_in_time_ends_the_schedule(sim: CallbackSimulator, slow_url: str) -> None:
    _SlowHandler.delays = []
    result = sim.post(slow_url, "text", retries=True, retry_interval=5.0)
    assert (result.status, result.tries) == (200, 1)
    assert sim.post(slow_url, "text").tries == 1  # no schedule: one try
    assert len(_SlowHandler.got) == 2
