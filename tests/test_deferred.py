"""Deferred replies in process: WSGI and ASGI frontends, a real CorpClient, FakeWorkServer.

A slow handler blocks on a gate the test opens, so "the request was answered before the
handler finished" is a fact of ordering, never of timing. The late reply goes through a
``CorpClient`` (with ``DefaultAccessTokenServer``) to ``FakeWorkServer``; under ASGI through
``AsyncCorpClient`` (aiohttp).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast import (
    AgentServerFrontend,
    CorpClient,
    DefaultAccessTokenServer,
    DefaultAgentServer,
    Deferred,
    MemoryDedupeStore,
    MessageServeMux,
    MultiAgentServerFrontend,
    Request,
    serve_http,
)
from wxcorp_fast.api import AsyncCorpClient, AsyncDefaultAccessTokenServer
from wxcorp_fast.callback import DeferredReplies
from wxcorp_fast.callback.deferred import outgoing_message
from wxcorp_fast.replies import Article, ImageReply, NewsReply, TextReply, VideoReply, VoiceReply
from wxcorp_fast.testing import CallbackSimulator, FakeWorkServer
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.fake_work import MESSAGE_SEND

from _http import ASGICall, body_messages, call_wsgi, environ, http_scope

DEADLINE = 0.2
LOGGER = "wxcorp_fast.callback.deferred"


def corp_client(fake: FakeWorkServer) -> CorpClient:
    tokens = DefaultAccessTokenServer(fake.corp_id, fake.corp_secret, base_url=fake.base_url)
    return CorpClient(tokens, base_url=fake.base_url)


def run_scenario(client: AsyncCorpClient, scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an ASGI scenario in a new event loop, then close the client's sessions there."""

    async def main() -> None:
        try:
            await asyncio.wait_for(scenario(), 30)
        finally:
            await client.aclose()
            await client.access_token_server.aclose()

    asyncio.run(main())


class Slow:
    """A handler that records its calls and holds until ``gate`` opens (or raises, or returns)."""

    def __init__(self, reply: Any = "done") -> None:
        self.reply = reply
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls = 0
        self.finished = 0
        self.fail = False

    def __call__(self, request: Request) -> Any:
        self.calls += 1
        self.entered.release()
        assert self.gate.wait(30)
        self.finished += 1
        if self.fail:
            raise RuntimeError("the slow handler failed")
        return self.reply


@pytest.fixture
def client(fake_work: FakeWorkServer) -> CorpClient:
    return corp_client(fake_work)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DeferredReplies, "delivery_retry_delays", (0.01, 0.02, 0.04))


def agent_with(handler: Any, agent_id: int = v.AGENT_ID) -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, agent_id, v.TOKEN, v.ENCODING_AES_KEY, handler)


def sim(agent_id: int = v.AGENT_ID) -> CallbackSimulator:
    """WeChat's side of one agent (each envelope: a fresh nonce and random, as retries have)."""
    return CallbackSimulator(v.CORP_ID, agent_id, v.TOKEN, v.ENCODING_AES_KEY)


def post_wsgi(app: Any, wechat: CallbackSimulator, xml: bytes) -> tuple[int, bytes]:
    query, body = wechat.envelope(xml)
    status, _, out = call_wsgi(app, environ("POST", query, body))
    return status, out


def text(content: str = "hi", msg_id: int = 1) -> bytes:
    return sim().message_xml("text", content=content, msg_id=msg_id)


def sent(fake: FakeWorkServer) -> list[tuple[str, Any]]:
    return [(m["msgtype"], m[m["msgtype"]]) for m in fake.messages]


# -- WSGI ---------------------------------------------------------------------------------


def test_a_handler_in_time_is_answered_as_usual(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    app = AgentServerFrontend(
        agent_with(lambda r: TextReply("quick")), reply_deadline=DEADLINE, client=client
    )
    wechat = sim()
    query, body = wechat.message("text", content="hi", msg_id=1)
    status, _, out = call_wsgi(app, environ("POST", query, body))
    assert status == 200
    assert wxcorp_fast.parse_message(wechat.open_reply(out, query=query)).content == "quick"
    app.close()
    assert fake_work.messages == []


def test_a_slow_handler_is_answered_empty_then_its_reply_is_sent(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    slow = Slow(TextReply("the slow answer"))
    app = AgentServerFrontend(agent_with(slow), reply_deadline=DEADLINE, client=client)
    assert post_wsgi(app, sim(), text()) == (200, b"")
    assert (slow.calls, slow.finished, fake_work.messages) == (1, 0, [])  # answered first
    slow.gate.set()
    app.close(10)
    assert slow.finished == 1
    assert fake_work.messages == [
        {
            "touser": "zhangsan",
            "msgtype": "text",
            "agentid": v.AGENT_ID,
            "text": {"content": "the slow answer"},
        }
    ]


def test_copies_of_a_deferred_message_never_run_the_handler_again(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    slow = Slow()
    store = MemoryDedupeStore()
    app = AgentServerFrontend(
        agent_with(slow), reply_deadline=DEADLINE, client=client, dedupe=store
    )
    no_store = AgentServerFrontend(agent_with(slow), reply_deadline=DEADLINE, client=client)
    for frontend in (app, no_store):
        assert post_wsgi(frontend, sim(), text(msg_id=7)) == (200, b"")
        for _retry in (1, 2):  # WeChat's retries: a fresh nonce and random, the same message
            retry = sim()
            assert post_wsgi(frontend, retry, text(msg_id=7)) == (200, b"")
    assert slow.calls == 2  # once per frontend
    slow.gate.set()
    app.close(10)
    no_store.close(10)
    # after the delivery the store remembers an empty answer: a late copy runs nothing
    assert post_wsgi(app, sim(), text(msg_id=7)) == (200, b"")
    assert slow.calls == 2
    assert sent(fake_work) == [("text", {"content": "done"})] * 2


def test_a_handler_that_fails_late_is_logged_and_nothing_is_sent(
    client: CorpClient, fake_work: FakeWorkServer, caplog: pytest.LogCaptureFixture
) -> None:
    slow = Slow()
    slow.fail = True
    app = AgentServerFrontend(agent_with(slow), reply_deadline=DEADLINE, client=client)
    assert post_wsgi(app, sim(), text()) == (200, b"")
    slow.gate.set()
    app.close(10)
    assert fake_work.messages == []
    [record] = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert "failed after its answer; nothing sent" in record.getMessage()
    assert record.exc_info is not None and "the slow handler failed" in caplog.text
    assert v.TOKEN not in caplog.text and v.ENCODING_AES_KEY not in caplog.text


def test_a_handler_that_fails_in_time_gets_a_500(client: CorpClient) -> None:
    def broken(request: Request) -> None:
        raise RuntimeError("in time")

    app = AgentServerFrontend(agent_with(broken), reply_deadline=DEADLINE, client=client)
    assert post_wsgi(app, sim(), text()) == (500, b"Internal Server Error\n")


@pytest.mark.parametrize(
    "reply, expected",
    [
        (TextReply("文本"), ("text", {"content": "文本"})),
        ("a str", ("text", {"content": "a str"})),
        (ImageReply("img-1"), ("image", {"media_id": "img-1"})),
        (VoiceReply("voice-1"), ("voice", {"media_id": "voice-1"})),
        (
            VideoReply("video-1", "标题", "描述"),
            ("video", {"media_id": "video-1", "title": "标题", "description": "描述"}),
        ),
        (
            NewsReply([Article("t1", "d1", "http://p/1", "http://u/1"), Article("t2")]),
            (
                "news",
                {
                    "articles": [
                        {
                            "title": "t1",
                            "description": "d1",
                            "url": "http://u/1",
                            "picurl": "http://p/1",
                        },
                        {"title": "t2", "description": "", "url": "", "picurl": ""},
                    ]
                },
            ),
        ),
    ],
)
def test_each_reply_type_becomes_its_message(
    client: CorpClient, fake_work: FakeWorkServer, reply: Any, expected: tuple[str, Any]
) -> None:
    assert outgoing_message(reply) == expected
    # the same reply as inner XML maps to the same message
    if not isinstance(reply, str):
        assert outgoing_message(reply.render("zhangsan", v.CORP_ID, 1)) == expected
    app = AgentServerFrontend(agent_with(lambda r: Deferred(lambda: reply)), client=client)
    assert post_wsgi(app, sim(), text()) == (200, b"")
    app.close(10)
    assert sent(fake_work) == [expected]


def test_what_cannot_be_sent(caplog: pytest.LogCaptureFixture) -> None:
    assert outgoing_message(None) is None
    with pytest.raises(TypeError, match="a dict reply cannot be sent"):
        outgoing_message({"content": "x"})
    with pytest.raises(TypeError, match="MsgType 'music'"):
        outgoing_message(b"<xml><MsgType>music</MsgType></xml>")


def test_deferred_answers_at_once_without_a_deadline(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    gate = threading.Event()
    seen: list[str] = []

    def later() -> TextReply:
        assert gate.wait(30)
        return TextReply("computed later")

    async def later_async() -> str:
        return "async, under WSGI"

    def handler(request: Request) -> Any:
        seen.append(threading.current_thread().name)
        return Deferred(later if request.msg.content == "sync" else later_async)

    app = AgentServerFrontend(agent_with(handler), client=client)
    assert post_wsgi(app, sim(), text("sync", 1)) == (200, b"")
    assert post_wsgi(app, sim(), text("async", 2)) == (200, b"")
    assert seen == [threading.current_thread().name] * 2  # no deadline: handlers run inline
    gate.set()
    app.close(10)
    assert sorted(m["text"]["content"] for m in fake_work.messages) == [
        "async, under WSGI",
        "computed later",
    ]


def test_deferred_without_a_client_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    called: list[bool] = []
    app = AgentServerFrontend(agent_with(lambda r: Deferred(lambda: called.append(True))))
    assert post_wsgi(app, sim(), text()) == (500, b"Internal Server Error\n")
    assert "returned Deferred, but no client is set" in caplog.text
    assert called == []


def test_transient_delivery_failures_are_retried(
    client: CorpClient,
    fake_work: FakeWorkServer,
    fast_retries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = AgentServerFrontend(agent_with(lambda r: Deferred(lambda: "at last")), client=client)
    fake_work.fail(-1, times=2, path=MESSAGE_SEND)
    assert post_wsgi(app, sim(), text()) == (200, b"")
    app.close(10)
    assert sent(fake_work) == [("text", {"content": "at last"})]
    assert fake_work.calls[MESSAGE_SEND] == 3
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert [("retrying in" in r.getMessage()) for r in warnings] == [True, True]


def test_delivery_gives_up_after_its_tries_or_on_a_lasting_error(
    client: CorpClient,
    fake_work: FakeWorkServer,
    fast_retries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = AgentServerFrontend(agent_with(lambda r: Deferred(lambda: "lost")), client=client)
    fake_work.http_error(502, times=10, path=MESSAGE_SEND)
    assert post_wsgi(app, sim(), text(msg_id=1)) == (200, b"")
    app.close(10)
    assert fake_work.calls[MESSAGE_SEND] == 4  # the first try and 3 more
    fake_work.reset()
    fake_work.fail(40003, times=1, path=MESSAGE_SEND)  # invalid user: no use trying again
    app2 = AgentServerFrontend(agent_with(lambda r: Deferred(lambda: "lost")), client=client)
    assert post_wsgi(app2, sim(), text(msg_id=2)) == (200, b"")
    app2.close(10)
    assert fake_work.calls[MESSAGE_SEND] == 1
    assert fake_work.messages == []
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert [r.getMessage().endswith("deferred reply not delivered") for r in errors] == [True] * 2
    for token in fake_work.tokens:
        assert token not in caplog.text


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads at once; return their results in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_work_in_flight_is_bounded(
    client: CorpClient, fake_work: FakeWorkServer, caplog: pytest.LogCaptureFixture
) -> None:
    slow = Slow()
    app = AgentServerFrontend(
        agent_with(slow), reply_deadline=DEADLINE, client=client, max_deferred=2
    )
    answers = concurrently(
        [functools.partial(post_wsgi, app, sim(), text(msg_id=i)) for i in range(1, 7)]
    )
    assert answers == [(200, b"")] * 6
    assert slow.calls == 2
    refused = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(refused) == 4
    assert all("(max_deferred); answered empty" in r.getMessage() for r in refused)
    slow.gate.set()
    app.close(10)
    assert len(fake_work.messages) == 2


def test_close_drains_then_logs_what_is_left_and_refuses_new_work(
    client: CorpClient, fake_work: FakeWorkServer, caplog: pytest.LogCaptureFixture
) -> None:
    slow = Slow()
    app = AgentServerFrontend(agent_with(slow), reply_deadline=DEADLINE, client=client)
    assert post_wsgi(app, sim(), text(msg_id=5)) == (200, b"")
    app.close(0.1)
    assert (
        f"1 deferred replies did not finish within 0.1 s and are abandoned: "
        f"{v.CORP_ID}:{v.AGENT_ID}:5" in caplog.text
    )
    assert post_wsgi(app, sim(), text(msg_id=6)) == (200, b"")
    assert "deferred replies are closed (shutting down)" in caplog.text
    assert slow.calls == 1
    slow.gate.set()
    app.close(10)  # closing again waits for the rest
    assert sent(fake_work) == [("text", {"content": "done"})]


def test_an_async_client_under_wsgi_is_a_logged_500(
    async_client: AsyncCorpClient, caplog: pytest.LogCaptureFixture
) -> None:
    slow = Slow()
    app = AgentServerFrontend(agent_with(slow), reply_deadline=DEADLINE, client=async_client)
    assert post_wsgi(app, sim(), text()) == (500, b"Internal Server Error\n")
    assert slow.calls == 0
    assert "AsyncCorpClient.send_message is a coroutine function" in caplog.text
    assert "WSGI entry point" in caplog.text


@pytest.mark.parametrize("deadline", [0, -1, 5, 5.5, True, "1"])
def test_reply_deadline_must_be_under_five_seconds(client: CorpClient, deadline: Any) -> None:
    with pytest.raises(ValueError, match="reply_deadline"):
        AgentServerFrontend(agent_with(print), reply_deadline=deadline, client=client)
    with pytest.raises(ValueError, match="reply_deadline"):
        MultiAgentServerFrontend(reply_deadline=deadline, client=client)


def test_settings_that_are_refused(client: CorpClient) -> None:
    with pytest.raises(ValueError, match="reply_deadline needs client="):
        AgentServerFrontend(agent_with(print), reply_deadline=1)
    with pytest.raises(ValueError, match="max_deferred"):
        AgentServerFrontend(agent_with(print), client=client, max_deferred=0)
    with pytest.raises(ValueError, match="needs a client"):
        DeferredReplies(None)
    multi = MultiAgentServerFrontend(reply_deadline=1)
    with pytest.raises(ValueError, match="reply_deadline needs client="):
        multi.set_agent_server("a", agent_with(print))
    multi.set_agent_server("a", agent_with(print), client=client)
    with pytest.raises(TypeError):
        Deferred("not callable")  # type: ignore[arg-type]


def test_multi_agent_frontend_sends_with_each_agents_client(
    fake_work: FakeWorkServer,
) -> None:
    with FakeWorkServer() as other:
        multi = MultiAgentServerFrontend(reply_deadline=DEADLINE, client=corp_client(fake_work))
        for key, agent_id in (("one", 1), ("two", 2)):
            handler = agent_with(lambda r: Deferred(lambda: f"from {r.agent_id}"), agent_id)
            own = corp_client(other) if key == "two" else None
            multi.set_agent_server(key, handler, client=own)
        for key, agent_id in (("one", 1), ("two", 2)):
            query, body = sim(agent_id).message("text", content="hello", msg_id=1)
            status, _, out = call_wsgi(multi, environ("POST", {**query, "agent_server": key}, body))
            assert (status, out) == (200, b"")
        multi.close(10)
        assert [(m["agentid"], m["text"]) for m in fake_work.messages] == [
            (1, {"content": "from 1"})
        ]
        assert [(m["agentid"], m["text"]) for m in other.messages] == [(2, {"content": "from 2"})]


def test_serve_http_takes_deferred_replies_directly(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    slow = Slow("via serve_http")
    deferred = DeferredReplies(client, reply_deadline=DEADLINE)
    query, body = sim().message("text", content="hello", msg_id=1)
    response = serve_http("POST", query, body, agent_with(slow), deferred=deferred)
    assert (response.status, response.body, slow.finished) == (200, b"", 0)
    assert deferred.in_flight == 1
    slow.gate.set()
    deferred.close(10)
    assert deferred.in_flight == 0
    assert sent(fake_work) == [("text", {"content": "via serve_http"})]
    assert "CorpClient" in repr(deferred) and "reply_deadline=0.2" in repr(deferred)


# -- ASGI ---------------------------------------------------------------------------------


async def post_asgi(app: Any, wechat: CallbackSimulator, xml: bytes) -> ASGICall:
    query, body = wechat.envelope(xml)
    call = ASGICall(body_messages(body))
    await app(http_scope("POST", query), call.receive, call.send)
    return call


@pytest.fixture
def async_client(fake_work: FakeWorkServer) -> AsyncCorpClient:
    """The ASGI frontends' client; its session is made in the scenario's loop (run_scenario)."""
    tokens = AsyncDefaultAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, base_url=fake_work.base_url
    )
    return AsyncCorpClient(tokens, base_url=fake_work.base_url)


def test_asgi_slow_async_handler(async_client: AsyncCorpClient, fake_work: FakeWorkServer) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def slow(request: Request) -> TextReply:
            await gate.wait()
            return TextReply(f"late {request.msg.content}")

        frontend = AgentServerFrontend(
            agent_with(slow), reply_deadline=DEADLINE, client=async_client
        )
        call = await post_asgi(frontend.asgi, sim(), text("hi"))
        assert (call.status, call.body, fake_work.messages) == (200, b"", [])
        copy = await post_asgi(frontend.asgi, sim(), text("hi"))
        assert (copy.status, copy.body) == (200, b"")
        gate.set()
        await frontend.aclose(10)

    run_scenario(async_client, scenario)
    assert sent(fake_work) == [("text", {"content": "late hi"})]


def test_asgi_slow_sync_handler_runs_in_a_thread(
    async_client: AsyncCorpClient, fake_work: FakeWorkServer
) -> None:
    slow = Slow("from a thread")
    mux = MessageServeMux()
    mux.message_handle("text", slow)

    @mux.message("text", match=__import__("re").compile("^quick"))
    async def quick(request: Request) -> TextReply:
        return TextReply("quick, on the loop")

    async def scenario() -> None:
        frontend = AgentServerFrontend(
            agent_with(mux), reply_deadline=DEADLINE, client=async_client
        )
        call = await post_asgi(frontend.asgi, sim(), text("slow", 1))
        assert (call.status, call.body, slow.finished) == (200, b"", 0)
        # the loop is free while the sync handler blocks in its thread
        wechat = sim()
        query, body = wechat.envelope(text("quick", 2))
        quick_call = ASGICall(body_messages(body))
        await frontend.asgi(http_scope("POST", query), quick_call.receive, quick_call.send)
        reply = wxcorp_fast.parse_message(wechat.open_reply(quick_call.body, query=query))
        assert reply.content == "quick, on the loop"
        slow.gate.set()
        await frontend.aclose(10)

    run_scenario(async_client, scenario)
    assert sent(fake_work) == [("text", {"content": "from a thread"})]


def test_asgi_deferred_and_a_sync_client(client: CorpClient, fake_work: FakeWorkServer) -> None:
    async def compute() -> NewsReply:
        await asyncio.sleep(0)
        return NewsReply([Article("report", url="https://example.com/r")])

    async def scenario() -> None:
        # a synchronous client works under ASGI too: it sends from a worker thread
        frontend = AgentServerFrontend(agent_with(lambda r: Deferred(compute)), client=client)
        call = await post_asgi(frontend.asgi, sim(), text())
        assert (call.status, call.body) == (200, b"")
        await frontend.aclose(10)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sent(fake_work) == [
        (
            "news",
            {
                "articles": [
                    {
                        "title": "report",
                        "description": "",
                        "url": "https://example.com/r",
                        "picurl": "",
                    }
                ]
            },
        )
    ]


def test_asgi_bound_and_refusals(
    async_client: AsyncCorpClient,
    fake_work: FakeWorkServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        calls: list[int] = []

        async def slow(request: Request) -> str:
            calls.append(request.msg.msg_id)
            await gate.wait()
            return "ok"

        frontend = AgentServerFrontend(
            agent_with(slow), reply_deadline=DEADLINE, client=async_client, max_deferred=3
        )
        answers = await asyncio.gather(
            *(post_asgi(frontend.asgi, sim(), text(msg_id=i)) for i in range(1, 11))
        )
        assert [(a.status, a.body) for a in answers] == [(200, b"")] * 10
        assert len(calls) == 3
        gate.set()
        await frontend.aclose(10)

    run_scenario(async_client, scenario)
    assert len(fake_work.messages) == 3
    refused = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(refused) == 7


def test_lifespan_shutdown_drains_the_deferred_replies(
    async_client: AsyncCorpClient, fake_work: FakeWorkServer
) -> None:
    async def scenario() -> None:
        async def slow(request: Request) -> str:
            await asyncio.sleep(DEADLINE * 2)
            return "drained"

        frontend = AgentServerFrontend(
            agent_with(slow), reply_deadline=DEADLINE, client=async_client
        )
        call = await post_asgi(frontend.asgi, sim(), text())
        assert (call.status, call.body) == (200, b"")
        lifespan = ASGICall([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        await frontend.asgi({"type": "lifespan"}, lifespan.receive, lifespan.send)
        assert [m["type"] for m in lifespan.sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        assert sent(fake_work) == [("text", {"content": "drained"})]

    run_scenario(async_client, scenario)


def test_aclose_cancels_what_does_not_finish(
    async_client: AsyncCorpClient,
    fake_work: FakeWorkServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled: list[bool] = []

    async def scenario() -> None:
        async def never(request: Request) -> str:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return "never"

        frontend = AgentServerFrontend(
            agent_with(never), reply_deadline=DEADLINE, client=async_client
        )
        await post_asgi(frontend.asgi, sim(), text(msg_id=9))
        await frontend.aclose(0.1)

    run_scenario(async_client, scenario)
    assert cancelled == [True]
    assert "1 deferred replies did not finish within 0.1 s" in caplog.text
    assert fake_work.messages == []


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wxcorp_fast-deferred"]


def test_pool_threads_are_daemons_and_end_after_close(
    client: CorpClient, fake_work: FakeWorkServer
) -> None:
    before = len(pool_threads())
    app = AgentServerFrontend(agent_with(lambda r: "x"), reply_deadline=DEADLINE, client=client)
    calls = [functools.partial(post_wsgi, app, sim(), text(msg_id=i)) for i in range(4)]
    answers = concurrently(calls)
    assert [status for status, _ in answers] == [200] * 4
    assert len(pool_threads()) > before
    assert all(t.daemon for t in pool_threads())  # never holding up an exit
    app.close(10)
    deadline = time.monotonic() + 10
    while len(pool_threads()) > before:
        assert time.monotonic() < deadline, "the pool's threads did not end"
        time.sleep(0.01)
