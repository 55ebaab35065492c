"""Dedupe stores, alone and under serve_http: WeChat's retries don't run a handler twice."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast import (
    AgentServerFrontend,
    AsyncRedisDedupeStore,
    DefaultAgentServer,
    MemoryDedupeStore,
    RedisDedupeStore,
    Request,
    serve_http,
)
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

from _http import ASGICall, body_messages, call_wsgi, environ, http_scope

CREATE_TIME = 1409659813


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of stores of one kind (Redis ones share the test's database)."""
    if request.param == "memory":
        yield lambda **kw: MemoryDedupeStore(**kw)
    else:
        client = request.getfixturevalue("redis_client")
        yield lambda **kw: RedisDedupeStore(client, **kw)


def test_store_protocol(make_store: Any) -> None:
    store = make_store()
    assert store.begin("a") is None  # new: now in flight
    assert store.begin("a") == b""  # in flight: an empty answer
    store.finish("a", b"<xml>reply</xml>")
    assert store.begin("a") == b"<xml>reply</xml>"
    store.finish("b", b"")
    assert store.begin("b") == b""
    store.discard("a")  # a stored reply stays
    assert store.begin("a") == b"<xml>reply</xml>"
    assert store.begin("c") is None
    store.discard("c")  # an in-flight mark goes
    assert store.begin("c") is None


def test_entries_expire(make_store: Any) -> None:
    store = make_store(ttl=0.05)
    assert store.begin("k") is None
    store.finish("k", b"<r/>")
    deadline = time.monotonic() + 5
    while store.begin("k") is not None:
        assert time.monotonic() < deadline, "entry never expired"
        time.sleep(0.02)


def test_memory_store_is_bounded() -> None:
    store = MemoryDedupeStore(max_entries=3)
    for key in "abcd":
        assert store.begin(key) is None
    assert len(store) == 3
    assert store.begin("a") is None  # the oldest was dropped
    assert store.begin("d") == b""


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"ttl": -1}, {"ttl": "60"}, {"max_entries": 0}])
def test_memory_store_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MemoryDedupeStore(**kwargs)


def test_redis_store_keys(redis_client: Any) -> None:
    store = RedisDedupeStore(redis_client, ttl=30, key_prefix="app:")
    store.begin("wx:218:1")
    assert redis_client.keys("*") == [b"app:wx:218:1"]
    assert 0 < redis_client.pttl("app:wx:218:1") <= 30_000
    store.finish("wx:218:1", b"<r/>")
    assert 0 < redis_client.pttl("app:wx:218:1") <= 30_000


def test_redis_store_is_shared_and_discard_spares_a_stored_reply(redis_client: Any) -> None:
    one, two = RedisDedupeStore(redis_client), RedisDedupeStore(redis_client)
    assert one.begin("k") is None
    assert two.begin("k") == b""
    one.finish("k", b"<r/>")
    two.discard("k")  # only an in-flight mark is forgotten
    assert two.begin("k") == b"<r/>"


def test_redis_store_with_decoded_responses(redis_server: Any) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        client.flushdb()
        store = RedisDedupeStore(client)
        assert store.begin("k") is None
        store.finish("k", "<r>企业</r>".encode())
        assert store.begin("k") == "<r>企业</r>".encode()
    finally:
        client.close()


# -- under serve_http -------------------------------------------------------------------


class Counting:
    """A handler counting its calls; ``gate`` (when set) holds it until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.reply: Any = "reply"
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, request: Request) -> Any:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("handler failed")
        return None if self.reply is None else TextReply(f"{self.reply} {self.calls}")


def send(wechat: CallbackSimulator, xml: bytes, n: int = 0) -> tuple[dict[str, str], bytes]:
    """The n-th copy of ``xml`` (0: the first; WeChat's retries: a new nonce and random)."""
    return wechat.envelope(xml, nonce=f"99{n}", random=bytes([n]) * 16)


@pytest.fixture
def wechat() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


@pytest.fixture
def counting() -> Counting:
    return Counting()


@pytest.fixture
def agent(counting: Counting) -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, counting)


def content(wechat: CallbackSimulator, response: Any, query: dict[str, str]) -> str:
    return wxcorp_fast.parse_message(wechat.open_reply(response.body, query=query)).content


def test_retry_gets_the_stored_reply(
    make_store: Any, agent: DefaultAgentServer, counting: Counting, wechat: CallbackSimulator
) -> None:
    store = make_store()
    xml = wechat.message_xml("text", content="hi", msg_id=1, create_time=CREATE_TIME)
    query, body = send(wechat, xml)
    assert content(wechat, serve_http("POST", query, body, agent, dedupe=store), query) == "reply 1"
    for n in (1, 2, 3):
        query, body = send(wechat, xml, n)
        response = serve_http("POST", query, body, agent, dedupe=store)
        assert content(wechat, response, query) == "reply 1"  # sealed for the retry's nonce
    assert counting.calls == 1
    query, body = send(
        wechat, wechat.message_xml("text", content="hi", msg_id=2, create_time=CREATE_TIME)
    )
    serve_http("POST", query, body, agent, dedupe=store)
    assert counting.calls == 2  # another MsgId is another message


def test_events_without_msg_id_are_identified_by_their_xml(
    make_store: Any, agent: DefaultAgentServer, counting: Counting, wechat: CallbackSimulator
) -> None:
    store = make_store()
    xml = wechat.message_xml("event", event="click", event_key="K", create_time=CREATE_TIME)
    for n in (0, 1):
        query, body = send(wechat, xml, n)
        serve_http("POST", query, body, agent, dedupe=store)
    assert counting.calls == 1
    query, body = send(
        wechat, wechat.message_xml("event", event="click", event_key="J", create_time=CREATE_TIME)
    )
    serve_http("POST", query, body, agent, dedupe=store)
    assert counting.calls == 2


def test_same_msg_id_of_another_agent_is_handled(make_store: Any, counting: Counting) -> None:
    store = make_store()
    for agent_id in (1, 2):
        agent = DefaultAgentServer(v.CORP_ID, agent_id, v.TOKEN, v.ENCODING_AES_KEY, counting)
        wechat = CallbackSimulator(v.CORP_ID, agent_id, v.TOKEN, v.ENCODING_AES_KEY)
        query, body = wechat.message("text", msg_id=1, create_time=CREATE_TIME)
        assert serve_http("POST", query, body, agent, dedupe=store).status == 200
    assert counting.calls == 2


def test_empty_reply_is_remembered(
    make_store: Any, agent: DefaultAgentServer, counting: Counting, wechat: CallbackSimulator
) -> None:
    store = make_store()
    counting.reply = None
    xml = wechat.message_xml("text")
    for n in (0, 1):
        query, body = send(wechat, xml, n)
        response = serve_http("POST", query, body, agent, dedupe=store)
        assert (response.status, response.body) == (200, b"")
    assert counting.calls == 1


def test_a_failed_handler_runs_again_on_retry(
    make_store: Any, agent: DefaultAgentServer, counting: Counting, wechat: CallbackSimulator
) -> None:
    store = make_store()
    xml = wechat.message_xml("text")
    counting.fail = True
    query, body = send(wechat, xml)
    assert serve_http("POST", query, body, agent, dedupe=store).status == 500
    counting.fail = False
    query, body = send(wechat, xml, 1)
    assert content(wechat, serve_http("POST", query, body, agent, dedupe=store), query) == "reply 2"


def test_copy_in_flight_gets_an_empty_answer(
    make_store: Any, agent: DefaultAgentServer, counting: Counting, wechat: CallbackSimulator
) -> None:
    store = make_store()
    counting.gate = threading.Event()
    xml = wechat.message_xml("text")
    query, body = send(wechat, xml)
    first: list[Any] = []
    worker = threading.Thread(
        target=lambda: first.append(serve_http("POST", query, body, agent, dedupe=store))
    )
    worker.start()
    try:
        assert counting.entered.wait(10)
        query2, body2 = send(wechat, xml, 1)
        response = serve_http("POST", query2, body2, agent, dedupe=store)
        assert (response.status, response.body) == (200, b"")
    finally:
        counting.gate.set()
        worker.join(10)
    assert content(wechat, first[0], query) == "reply 1"
    assert counting.calls == 1


def test_invalid_requests_never_reach_the_store(
    agent: DefaultAgentServer, wechat: CallbackSimulator
) -> None:
    store = MemoryDedupeStore()
    query, body = wechat.message()
    serve_http("POST", {**query, "msg_signature": "0" * 40}, body, agent, dedupe=store)
    assert len(store) == 0


class BrokenStore:
    def begin(self, key: str) -> bytes | None:
        raise ConnectionError("store down")

    def finish(self, key: str, reply: bytes) -> None:
        raise ConnectionError("store down")

    def discard(self, key: str) -> None:
        raise ConnectionError("store down")


def test_a_failing_store_fails_open(
    agent: DefaultAgentServer,
    counting: Counting,
    caplog: pytest.LogCaptureFixture,
    wechat: CallbackSimulator,
) -> None:
    query, body = wechat.message()
    with caplog.at_level(logging.ERROR, logger="wxcorp_fast.server"):
        response = serve_http("POST", query, body, agent, dedupe=BrokenStore())
    assert content(wechat, response, query) == "reply 1"
    assert "dedupe store failed" in caplog.text


def test_a_store_that_fails_after_the_claim_still_answers(
    agent: DefaultAgentServer,
    counting: Counting,
    caplog: pytest.LogCaptureFixture,
    wechat: CallbackSimulator,
) -> None:
    class FailsLater(MemoryDedupeStore):
        def finish(self, key: str, reply: bytes) -> None:
            raise ConnectionError("store down")

    query, body = wechat.message()
    response = serve_http("POST", query, body, agent, dedupe=FailsLater())
    assert content(wechat, response, query) == "reply 1"
    assert "dedupe store failed" in caplog.text


def test_one_claim_wins_among_concurrent_copies(make_store: Any) -> None:
    store = make_store()
    results: list[bytes | None] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait(10)
        seen = store.begin("same message")
        with lock:
            results.append(seen)

    workers = [threading.Thread(target=claim) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert sorted(results, key=lambda r: r is not None) == [None] + [b""] * 7


# -- the async store, and stores of the wrong kind -----------------------------------------


def run_with_async_redis(url: str, body: Any) -> Any:
    """Run ``await body(client)`` with a fresh ``redis.asyncio`` client on ``url``."""
    import redis.asyncio

    async def main() -> Any:
        client = redis.asyncio.Redis.from_url(url)
        try:
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_async_store_protocol(redis_server: Any, redis_client: Any) -> None:
    async def body(client: Any) -> list[bytes | None]:
        store = AsyncRedisDedupeStore(client)
        seen = [await store.begin("a"), await store.begin("a")]
        await store.finish("a", b"<xml>reply</xml>")
        await store.discard("a")  # a stored reply stays
        seen.append(await store.begin("a"))
        seen.append(await store.begin("c"))
        await store.discard("c")  # an in-flight mark goes
        seen.append(await store.begin("c"))
        return seen

    assert run_with_async_redis(redis_server.url, body) == [
        None,
        b"",
        b"<xml>reply</xml>",
        None,
        None,
    ]


def test_sync_and_async_stores_share_one_redis(redis_server: Any, redis_client: Any) -> None:
    sync_store = RedisDedupeStore(redis_client, ttl=30, key_prefix="app:")

    async def body(client: Any) -> None:
        async_store = AsyncRedisDedupeStore(client, ttl=30, key_prefix="app:")
        assert sync_store.begin("m1") is None
        assert await async_store.begin("m1") == b""  # in flight in the other kind of worker
        sync_store.finish("m1", b"<r>sync</r>")
        assert await async_store.begin("m1") == b"<r>sync</r>"
        assert await async_store.begin("m2") is None
        assert sync_store.begin("m2") == b""
        await async_store.finish("m2", "<r>企业</r>".encode())
        sync_store.discard("m2")  # a stored reply stays, whoever stored it
        assert sync_store.begin("m2") == "<r>企业</r>".encode()

    run_with_async_redis(redis_server.url, body)
    assert sorted(redis_client.keys("*")) == [b"app:m1", b"app:m2"]
    assert 0 < redis_client.pttl("app:m2") <= 30_000


def test_a_redis_client_of_the_wrong_kind_is_refused(redis_server: Any, redis_client: Any) -> None:
    with pytest.raises(TypeError, match="AsyncRedisDedupeStore needs a redis.asyncio client"):
        AsyncRedisDedupeStore(redis_client)

    async def body(client: Any) -> None:
        with pytest.raises(TypeError, match="RedisDedupeStore needs a synchronous redis.Redis"):
            RedisDedupeStore(client)

    run_with_async_redis(redis_server.url, body)


def test_async_store_repr_and_ttl(redis_server: Any) -> None:
    async def body(client: Any) -> None:
        store = AsyncRedisDedupeStore(client, ttl=12.5, key_prefix="p:")
        assert (store.ttl, repr(store)) == (
            12.5,
            "AsyncRedisDedupeStore(ttl=12.5, key_prefix='p:')",
        )
        assert redis_server.url not in repr(store)
        with pytest.raises(ValueError):
            AsyncRedisDedupeStore(client, ttl=0)

    run_with_async_redis(redis_server.url, body)


def test_wsgi_refuses_an_async_store_with_a_logged_500(
    redis_server: Any,
    agent: DefaultAgentServer,
    counting: Counting,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis.asyncio

    store = AsyncRedisDedupeStore(redis.asyncio.Redis.from_url(redis_server.url))
    query, body = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY).message(
        "text", content="hello", msg_id=1
    )
    with caplog.at_level(logging.ERROR):
        response = serve_http("POST", query, body, agent, dedupe=store)
        status, _, out = call_wsgi(
            AgentServerFrontend(agent, dedupe=store), environ("POST", query, body)
        )
    assert (response.status, status, out) == (500, 500, b"Internal Server Error\n")
    assert counting.calls == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    for text in errors:
        assert "AsyncRedisDedupeStore is an async dedupe store" in text
        assert "WSGI entry point" in text


class SuspendingStore(MemoryDedupeStore):
    """An async store whose every call yields to the event loop before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.awaited = 0

    async def begin(self, key: str) -> bytes | None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.awaited += 1
        return super().begin(key)

    async def finish(self, key: str, reply: bytes) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.awaited += 1
        super().finish(key, reply)

    async def discard(self, key: str) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.awaited += 1
        super().discard(key)


def asgi_post(app: Any, query: dict[str, str], body: bytes) -> ASGICall:
    call = ASGICall(body_messages(body))
    asyncio.run(asyncio.wait_for(app(http_scope("POST", query), call.receive, call.send), 10))
    return call


def test_asgi_awaits_an_async_store(agent: DefaultAgentServer, counting: Counting) -> None:
    store = SuspendingStore()
    app = AgentServerFrontend(agent, dedupe=store).asgi
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
    xml = wechat.message_xml("text", content="hi", msg_id=1)
    query, body = send(wechat, xml)
    assert content(wechat, asgi_post(app, query, body), query) == "reply 1"
    assert store.awaited == 2  # begin, then finish
    query, body = send(wechat, xml, 1)
    assert content(wechat, asgi_post(app, query, body), query) == "reply 1"
    counting.fail = True
    query, body = send(wechat, wechat.message_xml("text", content="x", msg_id=2))
    assert asgi_post(app, query, body).status == 500
    assert store.awaited == 5  # begin, discard
    assert counting.calls == 2


def test_asgi_and_wsgi_workers_share_one_redis(
    redis_server: Any, redis_client: Any, agent: DefaultAgentServer, counting: Counting
) -> None:
    """An ASGI worker on AsyncRedisDedupeStore and a WSGI one on RedisDedupeStore, one Redis."""
    wsgi = AgentServerFrontend(agent, dedupe=RedisDedupeStore(redis_client))
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
    xml = wechat.message_xml("text", content="hi", msg_id=1)
    query, body = send(wechat, xml)

    async def body_(client: Any) -> ASGICall:
        app = AgentServerFrontend(agent, dedupe=AsyncRedisDedupeStore(client)).asgi
        call = ASGICall(body_messages(body))
        await app(http_scope("POST", query), call.receive, call.send)
        query2, body2 = send(wechat, xml, 2)
        again = ASGICall(body_messages(body2))
        await app(http_scope("POST", query2), again.receive, again.send)
        assert content(wechat, again, query2) == "reply 1"
        return call

    first = run_with_async_redis(redis_server.url, body_)
    assert content(wechat, first, query) == "reply 1"
    query, body = send(wechat, xml, 1)
    status, _, out = call_wsgi(wsgi, environ("POST", query, body))
    assert status == 200
    assert wxcorp_fast.parse_message(wechat.open_reply(out, query=query)).content == "reply 1"
    assert counting.calls == 1


class BrokenAsyncStore:
    async def begin(self, key: str) -> bytes | None:
        raise ConnectionError("store down")

    async def finish(self, key: str, reply: bytes) -> None:
        raise ConnectionError("store down")

    async def discard(self, key: str) -> None:
        raise ConnectionError("store down")


def test_a_failing_async_store_fails_open(
    agent: DefaultAgentServer, counting: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    app = AgentServerFrontend(agent, dedupe=BrokenAsyncStore()).asgi
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
    query, body = wechat.message("text", content="hello", msg_id=1)
    assert content(wechat, asgi_post(app, query, body), query) == "reply 1"
    assert "dedupe store failed; handling the message without it" in caplog.text
