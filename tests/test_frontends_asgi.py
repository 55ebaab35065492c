"""The frontends' ``.asgi`` applications, driven with asyncio and hand-made receive/send."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast import (
    AgentServerFrontend,
    DefaultAgentServer,
    MemoryDedupeStore,
    MultiAgentServerFrontend,
    Request,
)
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

from _http import ASGICall, body_messages, http_scope


def run(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> ASGICall:
    call = ASGICall(messages)
    asyncio.run(asyncio.wait_for(app(scope, call.receive, call.send), timeout=10))
    return call


def length_header(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/xml"), (b"content-length", str(len(body)).encode())]


@pytest.fixture
def wechat() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


def agent_with(handler: Any) -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, handler)


def echo(request: Request) -> TextReply:
    return TextReply("echo: " + request.msg.content)


def reply_text(wechat: CallbackSimulator, call: ASGICall, query: dict[str, str]) -> str:
    return wxcorp_fast.parse_message(wechat.open_reply(call.body, query=query)).content


def test_asgi_is_an_asgi3_application() -> None:
    app = AgentServerFrontend(agent_with(echo))
    # what servers check to tell ASGI 3 from ASGI 2 (uvicorn: a function that is a coroutine
    # function; a bound method would be taken for ASGI 2)
    assert inspect.isfunction(app.asgi) and inspect.iscoroutinefunction(app.asgi)
    assert app.asgi is app.asgi


@pytest.mark.parametrize("chunk", [None, 1, 100])
def test_post_in_one_or_many_chunks(wechat: CallbackSimulator, chunk: int | None) -> None:
    app = AgentServerFrontend(agent_with(echo)).asgi
    query, body = wechat.message("text", content="hi")
    call = run(app, http_scope("POST", query, length_header(body)), body_messages(body, chunk))
    assert call.status == 200
    assert call.headers["content-length"] == str(len(call.body))
    assert call.headers["content-type"] == "application/xml; charset=utf-8"
    assert reply_text(wechat, call, query) == "echo: hi"
    assert [m["type"] for m in call.sent] == ["http.response.start", "http.response.body"]


def test_post_without_content_length(wechat: CallbackSimulator) -> None:
    app = AgentServerFrontend(agent_with(echo)).asgi
    query, body = wechat.message("text", content="streamed")
    call = run(app, http_scope("POST", query), body_messages(body, 64))
    assert reply_text(wechat, call, query) == "echo: streamed"


def test_get_and_405(wechat: CallbackSimulator) -> None:
    app = AgentServerFrontend(agent_with(echo)).asgi
    call = run(app, http_scope("GET", wechat.url_verification(b"echo!").query), [])
    assert (call.status, call.body) == (200, b"echo!")
    assert call.received == 0
    call = run(app, http_scope("PUT", wechat.url_verification().query), body_messages(b"x"))
    assert call.status == 405 and call.headers["allow"] == "GET, POST"
    assert call.received == 0


def test_413_by_content_length_receives_nothing(wechat: CallbackSimulator) -> None:
    calls: list[Request] = []
    query, body = wechat.message("text", content="x" * 1000)
    app = AgentServerFrontend(agent_with(calls.append), max_body_size=len(body) - 1).asgi
    call = run(app, http_scope("POST", query, length_header(body)), body_messages(body))
    assert (call.status, call.body) == (413, b"Request Entity Too Large\n")
    assert call.received == 0 and calls == []


def test_413_while_streaming_stops_receiving(wechat: CallbackSimulator) -> None:
    query, _ = wechat.message()
    app = AgentServerFrontend(agent_with(echo), max_body_size=250).asgi
    messages = body_messages(b"<" * 10_000, 100)
    call = run(app, http_scope("POST", query), messages)
    assert call.status == 413
    assert call.received == 3  # 100 + 100 + 100 crosses 250: nothing more is asked for


def test_bad_content_length(wechat: CallbackSimulator) -> None:
    query, body = wechat.message()
    app = AgentServerFrontend(agent_with(echo)).asgi
    call = run(app, http_scope("POST", query, [(b"content-length", b"12x")]), body_messages(body))
    assert call.status == 400 and call.received == 0


def test_client_disconnect_sends_nothing(wechat: CallbackSimulator) -> None:
    calls: list[Request] = []
    query, body = wechat.message()
    app = AgentServerFrontend(agent_with(calls.append)).asgi
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    call = run(app, http_scope("POST", query), messages)
    assert call.sent == [] and calls == []


def test_lifespan() -> None:
    app = AgentServerFrontend(agent_with(echo)).asgi
    call = run(
        app,
        {"type": "lifespan", "asgi": {"version": "3.0"}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert call.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


def test_other_scope_types_raise() -> None:
    app = AgentServerFrontend(agent_with(echo)).asgi
    with pytest.raises(ValueError, match="websocket"):
        run(app, {"type": "websocket"}, [{"type": "websocket.connect"}])


def test_async_handler_is_awaited(wechat: CallbackSimulator) -> None:
    async def handler(request: Request) -> TextReply:
        await asyncio.sleep(0)
        return TextReply("async " + request.msg.content)

    app = AgentServerFrontend(agent_with(handler)).asgi
    query, body = wechat.message("text", content="hi")
    call = run(app, http_scope("POST", query), body_messages(body))
    assert reply_text(wechat, call, query) == "async hi"


@pytest.mark.parametrize("in_thread", [False, True])
def test_sync_handler_inline_or_in_a_thread(wechat: CallbackSimulator, in_thread: bool) -> None:
    ran_on: list[int] = []

    def handler(request: Request) -> TextReply:
        ran_on.append(threading.get_ident())
        return TextReply("sync")

    app = AgentServerFrontend(agent_with(handler), run_sync_in_thread=in_thread).asgi
    query, body = wechat.message()
    loop_thread: list[int] = []

    async def main() -> ASGICall:
        loop_thread.append(threading.get_ident())
        call = ASGICall(body_messages(body))
        await app(http_scope("POST", query), call.receive, call.send)
        return call

    call = asyncio.run(asyncio.wait_for(main(), 10))
    assert reply_text(wechat, call, query) == "sync"
    assert (ran_on[0] != loop_thread[0]) is in_thread


def test_a_slow_sync_handler_in_a_thread_does_not_block_the_loop(wechat: CallbackSimulator) -> None:
    release = threading.Event()

    def slow(request: Request) -> TextReply:
        assert release.wait(10)
        return TextReply("slow")

    app = AgentServerFrontend(agent_with(slow), run_sync_in_thread=True).asgi
    query, body = wechat.message()

    async def main() -> ASGICall:
        call = ASGICall(body_messages(body))
        task = asyncio.create_task(app(http_scope("POST", query), call.receive, call.send))
        await asyncio.sleep(0.05)
        assert not task.done()  # the loop is free while the handler waits
        release.set()
        await asyncio.wait_for(task, 10)
        return call

    call = asyncio.run(main())
    assert reply_text(wechat, call, query) == "slow"


def test_handler_raising_is_a_500_and_serving_goes_on(wechat: CallbackSimulator) -> None:
    state = {"fail": True}

    async def flaky(request: Request) -> TextReply:
        if state["fail"]:
            raise RuntimeError("boom")
        return TextReply("ok")

    app = AgentServerFrontend(agent_with(flaky)).asgi
    query, body = wechat.message("text", content="plaintext")
    call = run(app, http_scope("POST", query), body_messages(body))
    assert (call.status, call.body) == (500, b"Internal Server Error\n")
    state["fail"] = False
    assert run(app, http_scope("POST", query), body_messages(body)).status == 200


def test_rejections_and_dedupe_under_asgi(wechat: CallbackSimulator) -> None:
    calls: list[Request] = []
    app = AgentServerFrontend(agent_with(calls.append), dedupe=MemoryDedupeStore()).asgi
    query, body = wechat.message()
    call = run(app, http_scope("POST", {**query, "msg_signature": "0" * 40}), body_messages(body))
    assert (call.status, call.body) == (400, b"SignatureError (-40001)\n")
    run(app, http_scope("POST", query), body_messages(body))
    run(app, http_scope("POST", query), body_messages(body))
    assert len(calls) == 1


def test_multi_under_asgi(wechat: CallbackSimulator) -> None:
    front = MultiAgentServerFrontend()
    front.set_agent_server("a", agent_with(echo))
    query, body = wechat.message("text", content="multi")
    call = run(front.asgi, http_scope("POST", {**query, "agent_server": "a"}), body_messages(body))
    assert reply_text(wechat, call, query) == "echo: multi"
    call = run(front.asgi, http_scope("POST", {**query, "agent_server": "b"}), body_messages(body))
    assert (call.status, call.body) == (400, b"UnknownAgentError (-40005)\n")
    assert call.received == 0
