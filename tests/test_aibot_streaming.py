"""Streamed answers: generators and async generators, the stream stores, several workers.

Nothing here depends on timing: generators that must be caught mid-stream wait on events
the test sets, stores expire through an injected clock (memory) or a deleted key (Redis),
and the first reply's deadline is 0 unless a test waits for the generator's end.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from wxcorp_fast.aibot import (
    AIBotRequest,
    AIBotServer,
    MemoryStreamStore,
    RedisStreamStore,
    StreamReply,
    StreamState,
)
from wxcorp_fast.aibot.replies import MAX_CONTENT_BYTES
from wxcorp_fast.aibot.streaming import DEFAULT_ERROR_TEXT, StreamProducer
from wxcorp_fast.testing import AIBotSimulator
from wxcorp_fast.testing import vectors as v

from _clock import FakeClock


@pytest.fixture
def sim() -> AIBotSimulator:
    return AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY)


def server(handler: Any, **options: Any) -> AIBotServer:
    options.setdefault("first_reply_deadline", 0)
    return AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, handler, **options)


def words(request: AIBotRequest) -> Iterator[str]:
    for word in request.msg.content.split():
        yield word + " "


async def async_words(request: AIBotRequest) -> AsyncIterator[str]:
    for word in request.msg.content.split():
        await asyncio.sleep(0)
        yield word + " "


TEXT = "one two three four five six seven eight nine ten"
FULL = "".join(w + " " for w in TEXT.split())


def assert_grows(contents: list[str]) -> None:
    """Each reply's content extends the one before (what a chat shows, growing)."""
    for before, after in zip(contents, contents[1:]):
        assert after.startswith(before)


@pytest.mark.parametrize("handler", [words, async_words], ids=["generator", "async-generator"])
def test_conversation_wsgi(sim, handler):
    app = server(handler)
    conversation = sim.conversation(app, TEXT, interval=0)
    assert conversation.content == FULL and conversation.replies[-1]["stream"]["finish"]
    assert_grows(conversation.contents)
    assert len(conversation.stream_id) == 32


@pytest.mark.parametrize("handler", [words, async_words], ids=["generator", "async-generator"])
def test_conversation_asgi(sim, handler):
    app = server(handler)
    conversation = asyncio.run(sim.aconversation(app.asgi, TEXT, interval=0))
    assert conversation.content == FULL
    assert_grows(conversation.contents)


def test_first_reply_waits_for_a_quick_generator(sim):
    """With a deadline, a generator that ends in time is answered whole, at once."""
    app = server(words, first_reply_deadline=30)
    conversation = sim.conversation(app, TEXT)
    assert (conversation.refreshes, conversation.content) == (0, FULL)
    done = asyncio.run(sim.aconversation(server(async_words, first_reply_deadline=30).asgi, TEXT))
    assert (done.refreshes, done.content) == (0, FULL)


def test_first_reply_carries_what_is_ready(sim):
    """The first reply goes at the deadline with the text so far; refreshes follow it."""
    release = threading.Event()
    started = threading.Event()

    def handler(request):
        yield "thinking... "
        started.set()
        release.wait(30)
        yield "done"

    app = server(handler)
    first = sim.post(app, "text")
    doc = first.json()
    assert doc["stream"]["finish"] is False and doc["stream"]["content"] in ("", "thinking... ")
    started.wait(30)
    stream_id = doc["stream"]["id"]
    refresh = sim.message_json("stream", stream_id=stream_id)
    assert sim.post_json(app, refresh).json()["stream"] == {
        "id": stream_id,
        "finish": False,
        "content": "thinking... ",
    }
    release.set()
    conversation_end = None
    for _ in range(10_000):
        conversation_end = sim.post_json(app, refresh).json()["stream"]
        if conversation_end["finish"]:
            break
        release.wait(0.001)
    assert conversation_end == {"id": stream_id, "finish": True, "content": "thinking... done"}


@pytest.mark.parametrize("kind", ["generator", "async-generator"])
def test_generator_that_raises_finishes_with_error_text(sim, kind, caplog):
    def sync_handler(request):
        yield "partial answer"
        raise RuntimeError("the model went away")

    async def async_handler(request):
        yield "partial answer"
        raise RuntimeError("the model went away")

    app = server(sync_handler if kind == "generator" else async_handler, stream_error_text="出错了")
    caplog.set_level(logging.ERROR)
    conversation = sim.conversation(app, interval=0)
    assert conversation.content == "partial answer\n\n出错了"
    assert "streamed answer failed" in caplog.text and "the model went away" in caplog.text
    assert v.TOKEN not in caplog.text and v.ENCODING_AES_KEY not in caplog.text


def test_chunks_must_be_str(sim):
    def handler(request):
        yield "ok "
        yield b"bytes"

    conversation = sim.conversation(server(handler), interval=0)
    assert conversation.content.startswith("ok \n\n")


def test_content_is_cut_at_the_limit_and_the_generator_stopped(sim, caplog):
    closed = threading.Event()

    def handler(request):
        try:
            while True:
                yield "汉字" * 1000
        finally:
            closed.set()

    caplog.set_level(logging.WARNING)
    conversation = sim.conversation(server(handler), interval=0)
    assert closed.is_set()
    data = conversation.content.encode()
    assert MAX_CONTENT_BYTES - 3 < len(data) <= MAX_CONTENT_BYTES
    assert "cut at 20480 bytes" in caplog.text


def test_unused_stream_expires_and_stops_its_generator(sim):
    clock = FakeClock()
    store = MemoryStreamStore(ttl=60, clock=clock)
    release, closed = threading.Event(), threading.Event()

    def handler(request):
        try:
            yield "a"
            release.wait(30)
            yield "b"
            yield "c"
        finally:
            closed.set()

    app = server(handler, stream_store=store)
    stream_id = sim.post(app, "text").json()["stream"]["id"]
    clock.advance(61)  # nobody refreshed it for longer than its ttl
    release.set()
    assert closed.wait(30)
    assert store.get(stream_id) is None
    refresh = sim.post_json(app, sim.message_json("stream", stream_id=stream_id)).json()
    assert refresh["stream"] == {"id": stream_id, "finish": True, "content": ""}


def test_asgi_shutdown_cancels_running_streams(sim):
    async def handler(request):
        yield "started"
        await asyncio.Event().wait()  # never set: only cancellation ends it
        yield "never"

    store = MemoryStreamStore()
    app = server(handler, stream_store=store)

    async def run() -> str:
        stream_id = (await sim.apost_json(app.asgi, sim.message_json("text"))).json()["stream"][
            "id"
        ]
        from _http import ASGICall

        call = ASGICall([{"type": "lifespan.shutdown"}])
        await app.asgi({"type": "lifespan"}, call.receive, call.send)
        return stream_id

    stream_id = asyncio.run(run())
    state = store.get(stream_id)
    assert state is not None and state.finished  # with what it had, then the error text
    assert state.content.endswith(DEFAULT_ERROR_TEXT)


# --------------------------------------------------------------------------- producer


def test_producer_publishes_each_chunk_then_finished():
    store = MemoryStreamStore()
    store.create("s", "", False)
    seen: list[StreamState | None] = []

    def chunks() -> Iterator[str]:
        for chunk in ("a", "", "b"):
            yield chunk
            seen.append(store.get("s"))

    producer = StreamProducer("s", store)
    producer.run(chunks())
    assert seen == [StreamState("a", False), StreamState("a", False), StreamState("ab", False)]
    assert store.get("s") == StreamState("ab", True) and producer.finished


def test_producer_survives_a_failing_store(caplog):
    class Broken:
        def publish(self, stream_id: str, content: str, finished: bool) -> bool:
            raise ConnectionError("redis down")

    closed = []

    def chunks() -> Iterator[str]:
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    caplog.set_level(logging.ERROR)
    producer = StreamProducer("s", Broken())  # type: ignore[arg-type]
    producer.run(chunks())
    assert closed == [True] and producer.finished and "stream store failed" in caplog.text


# --------------------------------------------------------------------------- stores


def test_memory_store():
    clock = FakeClock()
    store = MemoryStreamStore(ttl=10, max_streams=3, clock=clock)
    assert store.get("x") is None and not store.publish("x", "a", False)
    store.create("s", "", False)
    assert store.publish("s", "abc", False) and store.get("s") == StreamState("abc", False)
    clock.advance(9)
    assert store.get("s") is not None  # a refresh starts its ttl again
    clock.advance(9)
    assert store.publish("s", "abcd", True) and store.get("s") == StreamState("abcd", True)
    clock.advance(10)
    assert not store.publish("s", "late", True) and store.get("s") is None
    for name in "abcd":
        store.create(name, name, False)
    assert len(store) == 3 and store.get("a") is None  # the oldest made room
    assert "MemoryStreamStore" in repr(store)
    for bad in ({"ttl": 0}, {"max_streams": 0}, {"ttl": True}):
        with pytest.raises(ValueError):
            MemoryStreamStore(**bad)


def test_memory_store_drops_the_streams_closest_to_expiry():
    """A refresh keeps an old stream over newer ones that nobody refreshed."""
    clock = FakeClock()
    store = MemoryStreamStore(ttl=10, max_streams=3, clock=clock)
    for name in "abc":
        store.create(name, name, False)
        clock.advance(1)
    clock.advance(2)
    assert store.get("a") == StreamState("a", False)  # now expires 5 s after b
    store.create("d", "d", False)
    assert len(store) == 3 and store.get("b") is None
    assert [store.get(n) is not None for n in "acd"] == [True, True, True]


def test_memory_store_drops_expired_streams_behind_a_refreshed_one():
    clock = FakeClock()
    store = MemoryStreamStore(ttl=10, clock=clock)
    store.create("a", "a", False)
    clock.advance(1)
    store.create("b", "b", False)
    clock.advance(8)
    assert store.get("a") is not None  # a: expires at 19, b at 11
    clock.advance(3)
    store.create("c", "c", False)
    assert len(store) == 2 and store.get("b") is None and store.get("a") is not None


def test_memory_store_threads():
    """Refreshes without the lock alongside creates that evict: each get answers its own
    stream's state or None, and the store stays within max_streams."""
    store = MemoryStreamStore(ttl=60, max_streams=50)
    errors: list[BaseException] = []
    stop = threading.Event()

    def refresher(k: int) -> None:
        try:
            while not stop.is_set():
                for i in range(k, 400, 4):
                    state = store.get(f"s{i}")
                    assert state is None or state.content == f"c{i}"
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=refresher, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            for i in range(400):
                store.create(f"s{i}", f"c{i}", False)
                assert len(store) <= 50
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert errors == [] and len(store) == 50


def test_redis_store(redis_client):
    store = RedisStreamStore(redis_client, ttl=60, key_prefix="t:")
    assert store.get("x") is None and not store.publish("x", "a", False)
    store.create("s", "", False)
    assert store.publish("s", "你好", False)
    assert store.get("s") == StreamState("你好", False)
    redis_client.pexpire("t:s", 5000)
    assert store.publish("s", "你好!", True)
    assert 5000 >= redis_client.pttl("t:s") > 0  # publishing keeps the ttl
    assert store.get("s") == StreamState("你好!", True)
    assert redis_client.pttl("t:s") > 5000  # a refresh starts it again
    redis_client.delete("t:s")  # expired
    assert not store.publish("s", "late", True) and store.get("s") is None
    assert redis_client.keys("*") == []
    with pytest.raises(TypeError):
        RedisStreamStore(redis_client, key_prefix=b"x")  # type: ignore[arg-type]


def test_two_workers_share_a_redis_store(sim, redis_client):
    """The message on one worker, every refresh on another: answered from Redis."""
    release = threading.Event()

    def handler(request):
        yield "first "
        release.wait(30)
        yield "second"

    worker_a = server(handler, stream_store=RedisStreamStore(redis_client))
    worker_b = server(handler, stream_store=RedisStreamStore(redis_client))
    stream_id = sim.post(worker_a, "text").json()["stream"]["id"]
    refresh = sim.message_json("stream", stream_id=stream_id)
    state = None
    for _ in range(10_000):
        state = sim.post_json(worker_b, refresh).json()["stream"]
        if state["content"]:
            break
        release.wait(0.001)
    assert state == {"id": stream_id, "finish": False, "content": "first "}
    release.set()
    for _ in range(10_000):
        state = sim.post_json(worker_b, refresh).json()["stream"]
        if state["finish"]:
            break
        release.wait(0.001)
    assert state == {"id": stream_id, "finish": True, "content": "first second"}


def test_stream_reply_refuses():
    with pytest.raises(ValueError):
        StreamReply("x" * (MAX_CONTENT_BYTES + 1))
    with pytest.raises(ValueError):
        StreamReply("x", finish=False, images=(b"png",))
    with pytest.raises(ValueError):
        StreamReply("x", images=(b"p",) * 11)
    with pytest.raises(TypeError):
        StreamReply(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StreamReply("\ud800")
    with pytest.raises(ValueError):
        StreamReply("x", feedback_id="f" * 257)
    with pytest.raises(TypeError):
        StreamReply("x", stream_id="")
