"""serve_http / serve_http_async / write_response: every check of docs/reference.md section 3."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wxcorp_fast
from wxcorp_fast import (
    CorpIdMismatchError,
    DefaultAgentServer,
    Request,
    Response,
    parse_message,
    serve_http,
    serve_http_async,
    write_response,
)
from wxcorp_fast.errors import CallbackError
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NEWER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"
AES_KEY = wxcorp_fast.decode_aes_key(v.ENCODING_AES_KEY)
NONCE = "1372623149"
RANDOM = b"0123456789abcdef"


class Recorder:
    """A message handler that records its requests and answers with ``reply``."""

    def __init__(self, reply: Any = None) -> None:
        self.reply = reply
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Any:
        self.requests.append(request)
        return self.reply(request) if callable(self.reply) else self.reply


@pytest.fixture
def wechat() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


@pytest.fixture
def handler() -> Recorder:
    return Recorder(lambda r: TextReply("echo: " + r.msg.content))


@pytest.fixture
def agent(handler: Recorder) -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, handler)


def rejected(response: Response, error: type[CallbackError]) -> None:
    assert response.status == 400
    assert response.body == f"{error.__name__} ({error.code})\n".encode()
    assert ("Content-Type", "text/plain; charset=utf-8") in response.headers


def reply_random(envelope: bytes) -> bytes:
    """The frame random of a reply envelope."""
    return wxcorp_fast.decrypt_msg(parse_message(envelope).raw["Encrypt"], AES_KEY)[0]


# -- POST -------------------------------------------------------------------------------


def test_post_builds_the_request_and_encrypts_the_reply(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder
) -> None:
    xml = wechat.message_xml("text", content="hi", msg_id=1)
    query, body = wechat.envelope(xml, nonce=NONCE, random=RANDOM)
    marker = object()
    response = serve_http("POST", query, body, agent, http_request=marker)
    assert response.status == 200
    assert ("Content-Length", str(len(response.body))) in response.headers
    request = handler.requests[0]
    assert request.http_request is marker
    assert request.query == query
    assert request.msg_signature == query["msg_signature"]
    assert request.timestamp == int(query["timestamp"])
    assert request.nonce == NONCE
    assert request.raw_msg_xml == xml
    assert request.msg.content == "hi" and request.msg.msg_id == 1
    assert request.aes_key == AES_KEY
    assert request.random == RANDOM
    assert (request.corp_id, request.agent_id, request.agent_token) == (v.CORP_ID, 218, v.TOKEN)
    reply = wxcorp_fast.parse_message(wechat.open_reply(response.body, query=query))
    assert reply_random(response.body) != RANDOM  # a fresh random, not the request's
    assert reply.content == "echo: hi"
    assert (reply.to_user_name, reply.from_user_name) == ("zhangsan", v.CORP_ID)
    assert reply.create_time == request.timestamp


def test_two_replies_to_one_request_use_fresh_randoms(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    query, body = wechat.message(random=RANDOM)
    first = serve_http("POST", query, body, agent).body
    second = serve_http("POST", query, body, agent).body
    assert first != second
    assert wechat.open_reply(first, query=query) == wechat.open_reply(second, query=query)
    randoms = {reply_random(first), reply_random(second)}
    assert len(randoms) == 2 and RANDOM not in randoms  # fresh, and not the request's


def test_bytes_replies_are_inner_xml_encrypted_as_given(wechat: CallbackSimulator) -> None:
    reply = b"<xml><MsgType>text</MsgType></xml>"
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: reply)
    query, body = wechat.message()
    response = serve_http("POST", query, body, agent)
    assert wechat.open_reply(response.body, query=query) == reply


@pytest.mark.parametrize("text", ["pong", "<xml>not inner xml</xml>", "企业微信 ]]> 回复"])
def test_a_str_reply_is_a_text_reply(wechat: CallbackSimulator, text: str) -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: text)
    query, body = wechat.message()
    response = serve_http("POST", query, body, agent)
    msg = parse_message(wechat.open_reply(response.body, query=query))
    assert (msg.msg_type, msg.content) == ("text", text)
    assert (msg.to_user_name, msg.from_user_name) == ("zhangsan", v.CORP_ID)


@pytest.mark.parametrize("reply", [{"content": "hi"}, ["hi"], 42, 1.5])
def test_other_reply_types_are_a_logged_500(
    wechat: CallbackSimulator, reply: object, caplog: pytest.LogCaptureFixture
) -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: reply)
    query, body = wechat.message()
    with caplog.at_level(logging.ERROR):
        response = serve_http("POST", query, body, agent)
    assert response.status == 500
    assert f"cannot return {type(reply).__name__}" in caplog.text


def test_none_reply_is_an_empty_200(wechat: CallbackSimulator) -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, Recorder(None))
    query, body = wechat.message()
    response = serve_http("POST", query, body, agent)
    assert (response.status, response.body) == (200, b"")
    assert ("Content-Length", "0") in response.headers


@pytest.mark.parametrize("drop", ["msg_signature", "timestamp", "nonce"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_missing_or_empty_signed_parameter(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder, drop: str, method: str
) -> None:
    query, body = wechat.message() if method == "POST" else (wechat.url_verification().query, b"")
    for broken in ({k: q for k, q in query.items() if k != drop}, {**query, drop: ""}):
        rejected(serve_http(method, broken, body, agent), wxcorp_fast.SignatureError)
    assert handler.requests == []


@pytest.mark.parametrize(
    ("name", "value", "options"),
    [
        # a timestamp that is not an integer (no replay window: the type check alone rejects)
        *(
            ("timestamp", timestamp, {"replay_window": None})
            for timestamp in ["12a", "-5", "+5", " 5", "1_000", "\uff11\uff12", "1" * 21, "1.5"]
        ),
        # a signature that does not match
        *(("msg_signature", signature, {}) for signature in ["0" * 40, "short", "é" * 40, ""]),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_timestamp_or_signature(
    wechat: CallbackSimulator,
    agent: DefaultAgentServer,
    name: str,
    value: str,
    options: dict[str, Any],
    method: str,
) -> None:
    query, body = wechat.message() if method == "POST" else (wechat.url_verification().query, b"")
    rejected(
        serve_http(method, {**query, name: value}, body, agent, **options),
        wxcorp_fast.SignatureError,
    )


def test_signature_covers_the_encrypt_text(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    query, body = wechat.message("text", content="one")
    _, other_body = wechat.message("text", content="two")
    rejected(serve_http("POST", query, other_body, agent), wxcorp_fast.SignatureError)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>',
    ],
)
def test_bad_envelope(wechat: CallbackSimulator, agent: DefaultAgentServer, body: bytes) -> None:
    query, _ = wechat.message()
    rejected(serve_http("POST", query, body, agent), wxcorp_fast.XMLParseError)


def test_corp_and_agent_checks(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder
) -> None:
    cases = [
        wechat.message(envelope_to="wx_other_corp"),
        wechat.message(envelope_agent_id=219),
        wechat.message(frame_corp_id="wx_other_corp"),
        # the inner message disagrees with a right envelope
        wechat.message("text", to_user_name="wx_other_corp", content="x", envelope_to=v.CORP_ID),
        wechat.message("text", agent_id=219, content="x", envelope_agent_id=v.AGENT_ID),
        wechat.message("text", agent_id=None, content="x", envelope_agent_id=v.AGENT_ID),
        # AgentID 0 passes the envelope check, but only subscribe/unsubscribe may use it
        wechat.message("text", agent_id=0, content="x", envelope_agent_id=0),
        wechat.message("event", event="click", event_key=None, agent_id=0, envelope_agent_id=0),
    ]
    for query, body in cases:
        rejected(serve_http("POST", query, body, agent), CorpIdMismatchError)
    assert handler.requests == []


@pytest.mark.parametrize("event", ["subscribe", "unsubscribe"])
def test_agent_id_0_is_allowed_for_subscription_events(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder, event: str
) -> None:
    query, body = wechat.message("event", event=event, agent_id=0, envelope_agent_id=0)
    assert serve_http("POST", query, body, agent).status == 200
    assert handler.requests[0].agent_id == 0


def test_empty_corp_id_skips_the_corp_and_agent_checks_only(
    wechat: CallbackSimulator, handler: Recorder
) -> None:
    agent = DefaultAgentServer("", 1, v.TOKEN, v.ENCODING_AES_KEY, handler)
    other = CallbackSimulator("wx_other_corp", 5, v.TOKEN, v.ENCODING_AES_KEY)
    query, body = other.message()
    response = serve_http("POST", query, body, agent)
    assert response.status == 200
    assert handler.requests[0].corp_id == "wx_other_corp"
    assert other.open_reply(response.body, query=query)  # the frame has the envelope's corp id
    # the consistency of envelope, frame and message is still checked
    for query, body in (
        other.message(envelope_to="wx_third"),
        other.message("text", to_user_name="wx_third", content="x", envelope_to="wx_other_corp"),
        other.message("text", agent_id=6, content="x", envelope_agent_id=5),
    ):
        rejected(serve_http("POST", query, body, agent), CorpIdMismatchError)


def test_undecryptable_message(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    query, body = wechat.message(aes_key=wxcorp_fast.decode_aes_key(OTHER_KEY))
    response = serve_http("POST", query, body, agent)
    assert response.status == 400
    assert response.body in (b"DecryptError (-40007)\n", b"CorpIdMismatchError (-40005)\n")


def test_bad_base64_in_a_signed_envelope(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    body = (
        b"<xml><ToUserName>wx5823bf96d3bd56c7</ToUserName>"
        b"<Encrypt>@@@@</Encrypt><AgentID>218</AgentID></xml>"
    )
    query = wechat.sign("@@@@")
    rejected(serve_http("POST", query, body, agent), wxcorp_fast.Base64Error)


# -- GET --------------------------------------------------------------------------------


def test_get_answers_the_echostr(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder
) -> None:
    response = serve_http("GET", wechat.url_verification(b"echo 42").query, b"", agent)
    assert (response.status, response.body) == (200, b"echo 42")
    assert ("Content-Length", "7") in response.headers
    assert handler.requests == []


def test_get_with_the_docs_example(handler: Recorder) -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, handler)
    query = {
        "msg_signature": v.ECHO_MSG_SIGNATURE,
        "timestamp": v.ECHO_TIMESTAMP,
        "nonce": v.ECHO_NONCE,
        "echostr": v.ECHOSTR,
    }
    response = serve_http("GET", query, b"", agent, replay_window=None)
    assert response.body == b"1616140317555161061"
    rejected(serve_http("GET", query, b"", agent), wxcorp_fast.StaleRequestError)


def test_get_checks(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    query = wechat.url_verification().query
    rejected(serve_http("GET", {**query, "echostr": ""}, b"", agent), wxcorp_fast.SignatureError)
    rejected(
        serve_http("GET", {**wechat.sign("not base64!"), "echostr": "not base64!"}, b"", agent),
        wxcorp_fast.Base64Error,
    )
    other_corp = wechat.url_verification(b"x", frame_corp_id="wx_other").query
    rejected(serve_http("GET", other_corp, b"", agent), CorpIdMismatchError)
    anyone = DefaultAgentServer("", 0, v.TOKEN, v.ENCODING_AES_KEY, Recorder())
    assert serve_http("GET", other_corp, b"", anyone).body == b"x"


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "post"])
def test_other_methods_get_405(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder, method: str
) -> None:
    query, body = wechat.message()
    response = serve_http(method, query, body, agent)
    assert response.status == 405
    assert ("Allow", "GET, POST") in response.headers
    assert handler.requests == []


# -- replay window ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_replay_window(wechat: CallbackSimulator, agent: DefaultAgentServer, method: str) -> None:
    def call(offset: int, **kw: Any) -> Response:
        ts = int(time.time()) + offset
        if method == "POST":
            query, body = wechat.message(timestamp=ts)
        else:
            query, body = wechat.url_verification(timestamp=ts).query, b""
        return serve_http(method, query, body, agent, **kw)

    assert call(-250).status == 200
    assert call(250).status == 200
    rejected(call(-400), wxcorp_fast.StaleRequestError)
    rejected(call(400), wxcorp_fast.StaleRequestError)
    rejected(call(-40, replay_window=30), wxcorp_fast.StaleRequestError)
    assert call(-(10**6), replay_window=None).status == 200


def test_replay_window_is_checked_after_the_signature(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    query, body = wechat.message(timestamp=1)
    rejected(
        serve_http("POST", {**query, "msg_signature": "0" * 40}, body, agent),
        wxcorp_fast.SignatureError,
    )
    rejected(serve_http("POST", query, body, agent), wxcorp_fast.StaleRequestError)


# -- key rotation -----------------------------------------------------------------------


def test_rotation_falls_back_to_the_last_key(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder
) -> None:
    old = AES_KEY
    agent.update_aes_key(OTHER_KEY)
    new = wxcorp_fast.decode_aes_key(OTHER_KEY)
    # POST sealed with the old key: opened with it, answered with it
    query, body = wechat.message("text", content="old")
    response = serve_http("POST", query, body, agent)
    assert handler.requests[-1].aes_key == old
    reply = wechat.open_reply(response.body, query=query)
    assert wxcorp_fast.parse_message(reply).content == "echo: old"
    # POST sealed with the new key
    query, body = wechat.message("text", content="new", aes_key=new)
    response = serve_http("POST", query, body, agent)
    assert handler.requests[-1].aes_key == new
    rotated = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, OTHER_KEY)
    assert rotated.open_reply(response.body, query=query)
    # GET with either key
    for echo, key in ((b"a", None), (b"b", new)):
        check = wechat.url_verification(echo, aes_key=key).query
        assert serve_http("GET", check, b"", agent).body == echo
    # two rotations later the first key is gone
    agent.update_aes_key(NEWER_KEY)
    query, body = wechat.message("text", content="old")
    assert serve_http("POST", query, body, agent).status == 400
    assert serve_http("GET", wechat.url_verification(b"a").query, b"", agent).status == 400


class PlainAgent:
    """An AgentServer that is not a DefaultAgentServer (the protocol is enough)."""

    def __init__(self, current: bytes, last: bytes, handler: Any) -> None:
        self.corp_id, self.agent_id, self.token = v.CORP_ID, v.AGENT_ID, v.TOKEN
        self.current_aes_key, self.last_aes_key, self.message_handler = current, last, handler


def test_any_agent_server_protocol_object(wechat: CallbackSimulator, handler: Recorder) -> None:
    new = wxcorp_fast.decode_aes_key(OTHER_KEY)
    agent = PlainAgent(new, AES_KEY, handler)
    assert isinstance(agent, wxcorp_fast.AgentServer)
    query, body = wechat.message("text", content="via protocol")
    response = serve_http("POST", query, body, agent)
    assert handler.requests[0].aes_key == AES_KEY
    assert (
        wxcorp_fast.parse_message(wechat.open_reply(response.body, query=query)).content
        == "echo: via protocol"
    )


# -- handlers that fail -----------------------------------------------------------------


def _raise(request: Request) -> None:
    raise RuntimeError("boom in handler")


def test_handler_raising_is_a_logged_500(
    wechat: CallbackSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"fail": True}

    def flaky(request: Request) -> TextReply:
        if state["fail"]:
            raise RuntimeError("boom in handler")
        return TextReply("fine")

    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, flaky)
    query, body = wechat.message("text", content="secret plaintext")
    with caplog.at_level(logging.ERROR, logger="wxcorp_fast.server"):
        response = serve_http("POST", query, body, agent)
    assert (response.status, response.body) == (500, b"Internal Server Error\n")
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "boom in handler" in caplog.text
    for secret in (v.TOKEN, v.ENCODING_AES_KEY, query["msg_signature"], "secret plaintext"):
        assert secret not in record.getMessage()
    state["fail"] = False  # and the server keeps serving
    assert serve_http("POST", query, body, agent).status == 200


@pytest.mark.parametrize("reply", [42, object(), TextReply], ids=["int", "object", "class"])
def test_handler_returning_something_else_is_a_500(
    wechat: CallbackSimulator, reply: Any, caplog: pytest.LogCaptureFixture
) -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: reply)
    query, body = wechat.message()
    assert serve_http("POST", query, body, agent).status == 500
    assert caplog.records[-1].exc_info is not None


def test_async_handler_under_sync_serve_http_is_a_logged_500(
    wechat: CallbackSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Request) -> TextReply:
        return TextReply("never")

    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, handler)
    query, body = wechat.message()
    response = serve_http("POST", query, body, agent)  # the coroutine is closed: no warning
    assert response.status == 500
    assert "serve_http_async" in caplog.text


# -- invalid-request handler ------------------------------------------------------------


def test_default_invalid_request_answer_is_logged_without_secrets(
    wechat: CallbackSimulator, agent: DefaultAgentServer, caplog: pytest.LogCaptureFixture
) -> None:
    query, body = wechat.message("text", content="plaintext")
    bad = {**query, "msg_signature": "f" * 40}
    with caplog.at_level(logging.WARNING, logger="wxcorp_fast"):
        response = serve_http("POST", bad, body, agent)
    assert response.body == b"SignatureError (-40001)\n"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "rejected callback: SignatureError (-40001): signature mismatch — check the Token"
        " configured for agent 218"
    )
    for secret in (v.TOKEN, v.ENCODING_AES_KEY, bad["msg_signature"], "plaintext"):
        assert secret not in record.getMessage()


OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.mark.parametrize(
    ("misconfigured", "request_kw", "expected"),
    [
        (
            {"token": "not-the-token"},
            {},
            "SignatureError (-40001): signature mismatch — check"
            " the Token configured for agent 218",
        ),
        (
            {"aes_key": OTHER_KEY},
            {},
            "DecryptError (-40007): bad PKCS#7 padding — the"
            " EncodingAESKey does not match the one in the admin console",
        ),
        (
            {"corp_id": "ww-other-corp"},
            {},
            "CorpIdMismatchError (-40005): envelope ToUserName"
            " is not the agent's corp_id: envelope 'wx5823bf96d3bd56c7', agent 'ww-other-corp'"
            " — check the corp_id configured for agent 218",
        ),
        (
            {},
            {"envelope_agent_id": 1000002},
            "CorpIdMismatchError (-40005): envelope AgentID is"
            " not the agent's: envelope AgentID 1000002, this agent's 218 — this callback is for"
            " another app",
        ),
        (
            {},
            {"timestamp": 1409659813},
            "StaleRequestError (-40001): timestamp outside the replay window: ",
        ),
    ],
    ids=["token", "aes_key", "corp_id", "agent_id", "clock"],
)
def test_rejection_log_says_what_to_fix(
    wechat: CallbackSimulator,
    misconfigured: dict[str, Any],
    request_kw: dict[str, Any],
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings: dict[str, Any] = {
        "corp_id": v.CORP_ID,
        "agent_id": 218,
        "token": v.TOKEN,
        "aes_key": v.ENCODING_AES_KEY,
        **misconfigured,
    }
    agent = DefaultAgentServer(message_handler=Recorder(None), **settings)
    query, body = wechat.message(**request_kw)
    with caplog.at_level(logging.WARNING, logger="wxcorp_fast"):
        response = serve_http("POST", query, body, agent)
    assert response.status == 400
    assert b":" not in response.body  # the caller gets class and code only
    [record] = caplog.records
    assert record.getMessage().startswith("rejected callback: " + expected)
    for secret in (v.TOKEN, v.ENCODING_AES_KEY, "not-the-token", OTHER_KEY):
        assert secret not in record.getMessage()


def test_custom_invalid_request_handler(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    seen: list[tuple[Any, CallbackError]] = []

    def custom(http_request: Any, error: CallbackError) -> Response | None:
        seen.append((http_request, error))
        return Response(403, [], b"no") if isinstance(error, wxcorp_fast.SignatureError) else None

    query, body = wechat.message()
    marker = object()
    response = serve_http("POST", {**query, "nonce": ""}, body, agent, custom, marker)
    assert (response.status, response.body) == (403, b"no")
    assert seen[0][0] is marker and isinstance(seen[0][1], wxcorp_fast.SignatureError)
    rejected(serve_http("POST", query, b"junk", agent, custom), wxcorp_fast.XMLParseError)

    def broken(http_request: Any, error: CallbackError) -> Response | None:
        raise RuntimeError("handler bug")

    assert serve_http("POST", query, b"junk", agent, broken).status == 500


# -- write_response ---------------------------------------------------------------------


def test_write_response(
    wechat: CallbackSimulator, agent: DefaultAgentServer, handler: Recorder
) -> None:
    query, body = wechat.message("text", content="hi")
    serve_http("POST", query, body, agent)
    request = handler.requests[0]
    envelope = write_response(request, TextReply("later"))
    assert wxcorp_fast.parse_message(wechat.open_reply(envelope, query=query)).content == "later"
    assert wechat.open_reply(write_response(request, b"<xml/>"), query=query) == b"<xml/>"
    assert write_response(request, None) == b""


# -- serve_http_async -------------------------------------------------------------------


def test_async_handlers_are_awaited(wechat: CallbackSimulator) -> None:
    async def handler(request: Request) -> TextReply:
        await asyncio.sleep(0)
        return TextReply("async " + request.msg.content)

    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, handler)
    query, body = wechat.message("text", content="hi")
    response = asyncio.run(serve_http_async("POST", query, body, agent))
    reply = wechat.open_reply(response.body, query=query)
    assert wxcorp_fast.parse_message(reply).content == "async hi"


def test_async_get_and_errors(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    check = wechat.url_verification(b"e").query
    assert asyncio.run(serve_http_async("GET", check, b"", agent)).body == b"e"
    assert asyncio.run(serve_http_async("PUT", {}, b"", agent)).status == 405
    query, body = wechat.message()
    rejected(
        asyncio.run(serve_http_async("POST", {**query, "nonce": ""}, body, agent)),
        wxcorp_fast.SignatureError,
    )
    failing = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, _raise)
    assert asyncio.run(serve_http_async("POST", query, body, failing)).status == 500


def test_sync_handlers_run_inline_or_in_a_thread(wechat: CallbackSimulator) -> None:
    threads: list[int] = []

    def sync_handler(request: Request) -> TextReply:
        threads.append(threading.get_ident())
        return TextReply("sync")

    async def async_handler(request: Request) -> TextReply:
        threads.append(threading.get_ident())
        return TextReply("async")

    query, body = wechat.message()
    for handler in (sync_handler, async_handler):
        agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, handler)
        for in_thread in (False, True):

            async def run(agent: DefaultAgentServer, in_thread: bool) -> tuple[Response, int]:
                response = await serve_http_async(
                    "POST", query, body, agent, run_sync_in_thread=in_thread
                )
                return response, threading.get_ident()

            response, loop_thread = asyncio.run(run(agent, in_thread))
            assert response.status == 200
            moved = handler is sync_handler and in_thread
            assert (threads[-1] != loop_thread) is moved


# -- hostile input ----------------------------------------------------------------------

_PARAM = st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr", "x"])


@settings(max_examples=200)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    query=st.dictionaries(_PARAM, st.text(max_size=60)),
    body=st.binary(max_size=300)
    | st.sampled_from([b"<xml><Encrypt>AAAA</Encrypt></xml>", b"<xml/>"]),
)
def test_hostile_requests_get_an_answer_without_secrets(
    method: str, query: dict[str, str], body: bytes
) -> None:
    calls: list[Request] = []
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, calls.append)
    response = serve_http(method, query, body, agent)
    assert response.status in (400, 405)
    assert calls == []
    for secret in (v.TOKEN.encode(), v.ENCODING_AES_KEY.encode()):
        assert secret not in response.body


@settings(max_examples=100)
@given(st.data())
def test_tampered_callback_posts_are_rejected(data: st.DataObject) -> None:
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
    calls: list[Request] = []
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, calls.append)
    xml = wechat.message_xml("text", content="tamper me", msg_id=1)
    query, body = wechat.envelope(xml, nonce=NONCE, random=RANDOM)
    position = data.draw(st.integers(0, len(body) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[position]))
    tampered = body[:position] + bytes([byte]) + body[position + 1 :]
    response = serve_http("POST", query, tampered, agent)
    if response.status == 200:  # only bytes outside what is signed and checked may change
        assert calls[0].raw_msg_xml == xml
    else:
        assert response.status == 400 and calls == []
