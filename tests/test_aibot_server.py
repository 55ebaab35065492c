"""AIBotServer in process, as WSGI (through ``wsgiref.validate``) and as ``.asgi``.

The guards (signature, replay window, body limit, 405/413, JSON, receive id, the rejection
log), the replies of each kind rendered as WeChat Work documents them, the mux, dedupe of
retried msgids, and the routing of stream refreshes. Streaming itself is in
``test_aibot_streaming.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

import pytest

from wxcorp_fast.aibot import (
    AIBotMux,
    AIBotRequest,
    AIBotServer,
    MarkdownReply,
    StreamReply,
    StreamWithTemplateCardReply,
    TemplateCardReply,
    TextReply,
    UpdateTemplateCardReply,
    parse_aibot_message,
)
from wxcorp_fast.callback.dedupe import MemoryDedupeStore
from wxcorp_fast.testing import AIBotSimulator
from wxcorp_fast.testing import vectors as v

from _http import ASGICall, body_messages, call_wsgi, environ, http_scope

SECRETS = (v.TOKEN, v.ENCODING_AES_KEY)
CARD = {
    "card_type": "button_interaction",
    "main_title": {"title": "部署?"},
    "button_list": [{"text": "OK", "style": 1, "key": "ok"}],
    "task_id": "task_1",
}


class Recorder:
    """A handler that records its calls and answers with ``reply`` (or ``reply(request)``)."""

    def __init__(self, reply: Any = None) -> None:
        self.reply = reply
        self.calls: list[AIBotRequest] = []

    def __call__(self, request: AIBotRequest) -> Any:
        self.calls.append(request)
        return self.reply(request) if callable(self.reply) else self.reply


@pytest.fixture
def sim() -> AIBotSimulator:
    return AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY)


def server(handler: Any, **options: Any) -> AIBotServer:
    options.setdefault("first_reply_deadline", 0)
    return AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, handler, **options)


def wsgi(app: AIBotServer, method: str, query: dict[str, str], body: bytes = b"", **kw: Any):
    return call_wsgi(app, environ(method, query, body, **kw))


def asgi(
    app: AIBotServer,
    method: str,
    query: dict[str, str],
    body: bytes = b"",
    chunk: int | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> ASGICall:
    call = ASGICall(body_messages(body, chunk))
    asyncio.run(app.asgi(http_scope(method, query, headers), call.receive, call.send))
    return call


# --------------------------------------------------------------------------- guards


def test_url_check(sim):
    app = server(Recorder())
    check = sim.url_verification()
    assert wsgi(app, "GET", check.query)[::2] == (200, check.echo)
    call = asgi(app, "GET", check.query)
    assert (call.status, call.body) == (200, check.echo)
    bad = {**check.query, "msg_signature": "0" * 40}
    assert wsgi(app, "GET", bad)[::2] == (400, b"SignatureError (-40001)\n")
    no_echo = {k: val for k, val in check.query.items() if k != "echostr"}
    assert wsgi(app, "GET", no_echo)[::2] == (400, b"SignatureError (-40001)\n")
    stale = sim.url_verification(timestamp=int(time.time()) - 3600)
    assert wsgi(app, "GET", stale.query)[::2] == (400, b"StaleRequestError (-40001)\n")


def _hostile(sim: AIBotSimulator) -> dict[str, tuple[dict[str, str], bytes, int, bytes]]:
    """name -> (query, body, status, answer)."""
    query, body = sim.envelope(sim.message_json("text"))
    now = int(time.time())
    stale_q, stale_b = sim.envelope(sim.message_json("text"), timestamp=now - 3600)
    future_q, future_b = sim.envelope(sim.message_json("text"), timestamp=now + 3600)
    # signed, stale, and not a frame: the stale timestamp is reported first
    junk = json.dumps({"encrypt": "QUJD"}).encode()
    junk_q = sim._signed("QUJD", now - 3600, None)
    junk_fresh_q = sim._signed("QUJD", now, None)
    other = AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY, receive_id="wwother")
    other_q, other_b = other.envelope(other.message_json("text"))
    inner_bad_q, inner_bad_b = sim.envelope(b'{"msgid": 1, "msgid": 2}')
    return {
        "bad signature": (
            {**query, "msg_signature": "0" * 40},
            body,
            400,
            b"SignatureError (-40001)\n",
        ),
        "no signature": ({}, body, 400, b"SignatureError (-40001)\n"),
        "timestamp not a number": (
            {**query, "timestamp": "12a"},
            body,
            400,
            b"SignatureError (-40001)\n",
        ),
        "stale": (stale_q, stale_b, 400, b"StaleRequestError (-40001)\n"),
        "future": (future_q, future_b, 400, b"StaleRequestError (-40001)\n"),
        "stale and no frame": (junk_q, junk, 400, b"StaleRequestError (-40001)\n"),
        "no frame": (junk_fresh_q, junk, 400, b"DecryptError (-40007)\n"),
        "not JSON": (query, b"<xml><Encrypt>x</Encrypt></xml>", 400, b"JSONParseError (-40002)\n"),
        "no encrypt": (query, b'{"Encrypt": "x"}', 400, b"JSONParseError (-40002)\n"),
        "duplicate encrypt": (
            query,
            body[:-1] + b', "encrypt": "x"}',
            400,
            b"JSONParseError (-40002)\n",
        ),
        "another receive id": (other_q, other_b, 400, b"CorpIdMismatchError (-40005)\n"),
        "inner JSON duplicate": (inner_bad_q, inner_bad_b, 400, b"JSONParseError (-40002)\n"),
        "2 MB": (query, b" " * (2 << 20), 413, b"Request Entity Too Large\n"),
    }


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_rejected_requests_never_reach_the_handler(sim, kind, caplog):
    handler = Recorder("x")
    app = server(handler)
    caplog.set_level(logging.WARNING)
    for name, (query, body, status, answer) in _hostile(sim).items():
        if kind == "wsgi":
            got = wsgi(app, "POST", query, body)[::2]
        else:
            call = asgi(app, "POST", query, body, chunk=65536)
            got = (call.status, call.body)
        assert got == (status, answer), name
    assert handler.calls == []
    text = caplog.text
    assert "rejected callback: SignatureError (-40001)" in text
    assert not any(secret in text for secret in SECRETS)


def test_methods_and_lengths(sim):
    app = server(Recorder())
    query, body = sim.envelope(sim.message_json("text"))
    for method in ("PUT", "DELETE", "HEAD"):
        status, headers, _ = wsgi(app, method, query)
        assert (status, headers["Allow"]) == (405, "GET, POST")
        assert asgi(app, method, query).status == 405
    assert (
        call_wsgi(app, environ("POST", query, body, content_length="12x"), validate=False)[0] == 400
    )
    call = asgi(app, "POST", query, body, headers=[(b"content-length", b"x")])
    assert call.status == 400
    big = server(Recorder(), max_body_size=100)
    status, _, _ = wsgi(big, "POST", query, body, content_length=None, terminated=True)
    assert status == 413
    call = ASGICall(body_messages(b"x" * 1000, 10))
    asyncio.run(big.asgi(http_scope("POST", query), call.receive, call.send))
    assert call.status == 413 and call.received <= 11  # stopped at the chunk over the limit


def test_lifespan_and_other_scopes():
    app = server(Recorder())
    call = ASGICall([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    asyncio.run(app.asgi({"type": "lifespan"}, call.receive, call.send))
    assert [m["type"] for m in call.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    with pytest.raises(ValueError):
        asyncio.run(app.asgi({"type": "websocket"}, call.receive, call.send))


def test_constructor_checks():
    for options in ({"max_body_size": -1}, {"replay_window": 0}, {"first_reply_deadline": -1}):
        with pytest.raises(ValueError):
            server(Recorder(), **options)
    with pytest.raises(TypeError):
        AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, "not callable")  # type: ignore[arg-type]
    app = server(Recorder(), receive_id="wwcorp")
    assert "wwcorp" in repr(app) and not any(s in repr(app) for s in SECRETS)


def test_replay_window_off(sim):
    handler = Recorder("hi")
    app = server(handler, replay_window=None)
    query, body = sim.envelope(sim.message_json("text"), timestamp=1)
    assert wsgi(app, "POST", query, body)[0] == 200 and len(handler.calls) == 1


# --------------------------------------------------------------------------- the request


def test_request_fields(sim):
    handler = Recorder()
    app = server(handler)
    data = sim.message_json("text", content="你好")
    query, body = sim.envelope(data, nonce="777")
    assert wsgi(app, "POST", query, body)[::2] == (200, b"")
    (request,) = handler.calls
    assert request.msg.content == "你好" and request.raw_msg_json == data
    assert (request.nonce, request.timestamp) == ("777", int(query["timestamp"]))
    assert request.query == query and request.msg_signature == query["msg_signature"]
    assert request.http_request["REQUEST_METHOD"] == "POST"
    assert query["msg_signature"] not in repr(request) and "你好" in repr(request)
    assert data.decode() not in repr(request)


# --------------------------------------------------------------------------- replies


def _reply(sim: AIBotSimulator, app: AIBotServer, data: bytes) -> Any:
    result = sim.post_json(app, data)
    assert result.status == 200, result.body
    return result.json()


def test_reply_kinds(sim):
    handler = Recorder()
    app = server(handler)
    text = sim.message_json("text")
    enter = sim.event_json("enter_chat")
    card_event = sim.event_json("template_card_event", task_id="task_1")

    handler.reply = TextReply("欢迎")
    assert _reply(sim, app, enter) == {"msgtype": "text", "text": {"content": "欢迎"}}
    handler.reply = "欢迎!"
    assert _reply(sim, app, sim.event_json("enter_chat")) == {
        "msgtype": "text",
        "text": {"content": "欢迎!"},
    }
    handler.reply = TemplateCardReply(CARD, feedback_id="fb1")
    assert _reply(sim, app, sim.event_json("enter_chat")) == {
        "msgtype": "template_card",
        "template_card": {**CARD, "feedback": {"id": "fb1"}},
    }

    handler.reply = "plain text"  # a str answering a message: a finished stream
    doc = _reply(sim, app, text)
    assert doc["msgtype"] == "stream" and doc["stream"]["finish"] is True
    assert doc["stream"]["content"] == "plain text" and len(doc["stream"]["id"]) == 32
    handler.reply = TextReply("text")  # text is the welcome's format only
    doc = _reply(sim, app, sim.message_json("text"))
    assert (doc["msgtype"], doc["stream"]["content"]) == ("stream", "text")
    handler.reply = StreamReply("**done**", stream_id="mine", feedback_id="f")
    assert _reply(sim, app, sim.message_json("text")) == {
        "msgtype": "stream",
        "stream": {"id": "mine", "finish": True, "content": "**done**", "feedback": {"id": "f"}},
    }
    handler.reply = StreamReply("pic", images=(b"\x89PNG",))
    item = _reply(sim, app, sim.message_json("text"))["stream"]["msg_item"][0]
    assert item == {
        "msgtype": "image",
        "image": {"base64": "iVBORw==", "md5": hashlib.md5(b"\x89PNG").hexdigest()},
    }
    handler.reply = StreamWithTemplateCardReply("thinking", CARD, finish=False)
    doc = _reply(sim, app, sim.message_json("text"))
    assert doc["msgtype"] == "stream_with_template_card" and doc["template_card"] == CARD
    assert doc["stream"]["finish"] is False
    handler.reply = UpdateTemplateCardReply({**CARD, "main_title": {"title": "done"}}, ["u1"])
    assert _reply(sim, app, card_event) == {
        "response_type": "update_template_card",
        "userids": ["u1"],
        "template_card": {**CARD, "main_title": {"title": "done"}},
    }
    handler.reply = b'{"msgtype":"text","text":{"content":"raw"}}'
    assert _reply(sim, app, sim.event_json("enter_chat"))["text"]["content"] == "raw"


def test_no_reply_and_feedback(sim, caplog):
    handler = Recorder()
    app = server(handler)
    assert sim.post(app, "text").body == b""
    handler.reply = "thanks!"
    caplog.set_level(logging.WARNING)
    result = sim.post_event(app, "feedback_event", feedback_type=2)
    assert (result.status, result.body) == (200, b"")
    assert "feedback_event takes no reply" in caplog.text
    assert handler.calls[-1].msg.feedback_type == 2


@pytest.mark.parametrize(
    "reply", [MarkdownReply("md"), 42, object()], ids=["markdown", "int", "object"]
)
def test_bad_replies_are_500(sim, reply, caplog):
    app = server(Recorder(reply))
    caplog.set_level(logging.ERROR)
    assert sim.post(app, "text").status == 500
    assert "AI-bot handler failed" in caplog.text


def test_handler_that_raises(sim, caplog):
    def handler(request):
        raise RuntimeError("database down")

    app = server(handler)
    caplog.set_level(logging.ERROR)
    result = sim.post(app, "text")
    assert (result.status, result.body) == (500, b"Internal Server Error\n")
    assert "database down" in caplog.text and not any(s in caplog.text for s in SECRETS)


def test_awaitable_under_wsgi_is_500_and_awaited_under_asgi(sim):
    async def handler(request):
        return "async answer"

    app = server(handler)
    assert sim.post(app, "text").status == 500
    result = asyncio.run(sim.apost_json(app.asgi, sim.message_json("text")))
    assert result.json()["stream"]["content"] == "async answer"


def test_run_sync_in_thread(sim):
    import threading

    seen = []
    app = server(
        Recorder(lambda r: seen.append(threading.current_thread().name) or "t"),
        run_sync_in_thread=True,
    )
    asyncio.run(sim.apost_json(app.asgi, sim.message_json("text")))
    assert seen and seen[0] != threading.main_thread().name


# --------------------------------------------------------------------------- mux


def test_mux_routes(sim):
    mux = AIBotMux()
    mux.message_handle("TEXT", lambda r: f"text:{r.msg.content}")

    @mux.message("image")
    async def image(request):
        return f"image:{request.msg.image_url}"

    @mux.event("enter_chat")
    def welcome(request):
        return TextReply("welcome")

    @mux.event("template_card_event")
    def card(request):
        return UpdateTemplateCardReply({**CARD, "task_id": request.msg.task_id})

    @mux.default_message
    def other(request):
        return f"other:{request.msg.msgtype}"

    assert "text" in repr(mux)
    app = server(mux)
    assert _reply(sim, app, sim.message_json("text", content="x"))["stream"]["content"] == "text:x"
    assert _reply(sim, app, sim.message_json("voice"))["stream"]["content"] == "other:voice"
    assert _reply(sim, app, sim.event_json("enter_chat"))["text"]["content"] == "welcome"
    doc = _reply(sim, app, sim.event_json("template_card_event", task_id="T9"))
    assert doc["template_card"]["task_id"] == "T9"
    assert sim.post_event(app, "feedback_event").body == b""  # no route, no default
    image_data = sim.message_json("image", url="http://i")
    assert sim.post_json(app, image_data).status == 500  # async under WSGI
    result = asyncio.run(sim.apost_json(app.asgi, sim.message_json("image", url="http://i")))
    assert result.json()["stream"]["content"] == "image:http://i"
    mux.message_handle("text", lambda r: "replaced")
    assert _reply(sim, app, sim.message_json("text"))["stream"]["content"] == "replaced"

    @mux.default_event
    def any_event(request):
        return None

    feedback = parse_aibot_message(sim.event_json("feedback_event"))
    assert mux.handler_for(AIBotRequest(None, {}, "", 0, "", b"", feedback)) is any_event
    with pytest.raises(TypeError):
        mux.message_handle("", lambda r: None)
    with pytest.raises(TypeError):
        mux.event_handle("x", "not callable")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dedupe


def test_retried_message_gets_the_stored_reply(sim):
    handler = Recorder(lambda r: f"n={len(handler.calls)}")
    app = server(handler)
    data = sim.message_json("text")
    first = _reply(sim, app, data)
    again = _reply(sim, app, data)  # a retry: same msgid, new timestamp, nonce, signature
    assert first == again and len(handler.calls) == 1
    assert _reply(sim, app, sim.message_json("text"))["stream"]["content"] == "n=2"


def test_dedupe_off_and_failed_handler_runs_again(sim):
    handler = Recorder("x")
    app = server(handler, dedupe=False)
    data = sim.message_json("text")
    _reply(sim, app, data)
    _reply(sim, app, data)
    assert len(handler.calls) == 2

    calls = []

    def flaky(request):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("once")
        return "ok"

    app = server(flaky, dedupe=MemoryDedupeStore(ttl=300))
    data = sim.message_json("text")
    assert sim.post_json(app, data).status == 500
    assert _reply(sim, app, data)["stream"]["content"] == "ok" and len(calls) == 2


def test_copy_in_flight_gets_an_empty_answer(sim):
    store = MemoryDedupeStore(ttl=300)
    data = sim.message_json("text")
    msg = parse_aibot_message(data)
    store.begin(f"aibot:{msg.aibotid}:{msg.msgid}")  # another worker is handling it
    handler = Recorder("x")
    app = server(handler, dedupe=store)
    assert sim.post_json(app, data).body == b"" and handler.calls == []


def test_refreshes_are_not_deduped_nor_handled(sim, caplog):
    handler = Recorder("x")
    app = server(handler)
    data = sim.message_json("stream", stream_id="unknown")
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        doc = _reply(sim, app, data)
        assert doc == {
            "msgtype": "stream",
            "stream": {"id": "unknown", "finish": True, "content": ""},
        }
    assert handler.calls == [] and "unknown or expired stream" in caplog.text


def test_stream_left_open_is_refreshed_from_the_store(sim):
    app = server(Recorder(StreamReply("step 1", finish=False, stream_id="s-open")))
    assert _reply(sim, app, sim.message_json("text"))["stream"]["finish"] is False
    refresh = sim.message_json("stream", stream_id="s-open")
    assert _reply(sim, app, refresh)["stream"] == {
        "id": "s-open",
        "finish": False,
        "content": "step 1",
    }
    assert app.stream_store.publish("s-open", "step 1, step 2", True)
    assert _reply(sim, app, refresh)["stream"] == {
        "id": "s-open",
        "finish": True,
        "content": "step 1, step 2",
    }
