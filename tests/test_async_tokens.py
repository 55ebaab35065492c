"""The async token servers against FakeWorkServer and a real Redis, mixed with the blocking ones.

Each test runs its coroutine with ``asyncio.run`` (no pytest plugin).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio

from wxcorp_fast import APIError, RedisAccessTokenServer
from wxcorp_fast.api import (
    AsyncAccessTokenServer,
    AsyncCorpClient,
    AsyncDefaultAccessTokenServer,
    AsyncRedisAccessTokenServer,
    CorpClient,
)
from wxcorp_fast.api.tokens import REREAD_INTERVAL
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import FakeWorkServer
from wxcorp_fast.testing.fake_work import GETCALLBACKIP, GETTOKEN

from _clock import FakeClock
from _redis_server import RedisServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_url(redis_server: RedisServer, redis_client: Any) -> Iterator[str]:
    """The session's redis-server, its database emptied (by ``redis_client``)."""
    yield redis_server.url


def default_server(fake: FakeWorkServer, clock: Any = None) -> AsyncDefaultAccessTokenServer:
    extra = {} if clock is None else {"clock": clock}
    return AsyncDefaultAccessTokenServer(
        fake.corp_id, fake.corp_secret, base_url=fake.base_url, **extra
    )


def async_redis_server(
    fake: FakeWorkServer, client: Any, clock: Any = None, **kwargs: Any
) -> AsyncRedisAccessTokenServer:
    if clock is not None:
        kwargs["clock"] = clock
    return AsyncRedisAccessTokenServer(
        fake.corp_id, fake.corp_secret, client, base_url=fake.base_url, **kwargs
    )


def sync_redis_server(
    fake: FakeWorkServer, client: Any, clock: Any = None, **kwargs: Any
) -> RedisAccessTokenServer:
    if clock is not None:
        kwargs["clock"] = clock
    return RedisAccessTokenServer(
        fake.corp_id, fake.corp_secret, client, base_url=fake.base_url, **kwargs
    )


def test_signatures_and_abc() -> None:
    assert [p.name for p in inspect.signature(AsyncDefaultAccessTokenServer).parameters.values()][
        :4
    ] == ["corp_id", "corp_secret", "session", "base_url"]
    assert [p.name for p in inspect.signature(AsyncRedisAccessTokenServer).parameters.values()][
        :6
    ] == ["corp_id", "corp_secret", "redis", "session", "base_url", "key_prefix"]
    assert (
        inspect.signature(AsyncRedisAccessTokenServer).parameters["key_prefix"].default
        == "wxcorp_fast:"
    )
    for cls in (AsyncDefaultAccessTokenServer, AsyncRedisAccessTokenServer):
        assert issubclass(cls, AsyncAccessTokenServer)
        assert inspect.iscoroutinefunction(cls.token)
        assert inspect.iscoroutinefunction(cls.token_refresh)
    with pytest.raises(TypeError):
        AsyncAccessTokenServer()  # type: ignore[abstract]
    with pytest.raises(ValueError):
        AsyncDefaultAccessTokenServer("", "secret")


def test_token_is_cached_until_the_refresh_time(
    fake_work: FakeWorkServer, clock: FakeClock
) -> None:
    async def main() -> None:
        async with default_server(fake_work, clock) as server:
            first = await server.token()
            clock.advance(6599.9)
            assert await server.token() == first and fake_work.gettoken_calls == 1
            clock.advance(0.1)
            assert await server.token() == fake_work.tokens[1] != first

    asyncio.run(main())


def test_1000_concurrent_token_calls_on_a_cold_cache_cause_one_gettoken(
    fake_work: FakeWorkServer,
) -> None:
    fake_work.delay(0.2, path=GETTOKEN)

    async def main() -> list[str]:
        async with default_server(fake_work) as server:
            return await asyncio.gather(*(server.token() for _ in range(1000)))

    assert asyncio.run(main()) == [fake_work.tokens[0]] * 1000
    assert fake_work.gettoken_calls == 1


def test_refresh_window_and_the_refused_token(fake_work: FakeWorkServer, clock: FakeClock) -> None:
    async def main() -> None:
        async with default_server(fake_work, clock) as server:
            first = await server.token()
            assert await server.token_refresh() == first  # the 2 s window
            second = await server.token_refresh(stale=first)
            assert second != first and fake_work.gettoken_calls == 2
            refreshes = [server.token_refresh(stale=first) for _ in range(50)]
            assert await asyncio.gather(*refreshes) == [second] * 50
            clock.advance(2.0)
            assert await server.token_refresh() == fake_work.tokens[2]
            assert fake_work.gettoken_calls == 3

    asyncio.run(main())


def test_failed_fetch_raises_and_backs_off(fake_work: FakeWorkServer, clock: FakeClock) -> None:
    fake_work.fail(40001, times=2, path=GETTOKEN)

    async def main() -> None:
        async with default_server(fake_work, clock) as server:
            for _ in range(3):
                with pytest.raises(APIError) as info:
                    await server.token()
                assert info.value.errcode == 40001
            assert fake_work.gettoken_calls == 1
            clock.advance(1.0)
            with pytest.raises(APIError):
                await server.token()
            clock.advance(2.0)
            assert await server.token() == fake_work.tokens[0]
            assert fake_work.gettoken_calls == 3

    asyncio.run(main())


def test_secrets_never_in_reprs_errors_or_logs(
    fake_work: FakeWorkServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        for server in (default_server(fake_work), async_redis_server(fake_work, client)):
            async with server:
                await server.token()
                texts.extend([repr(server), str(server)])
        bad = AsyncDefaultAccessTokenServer(
            fake_work.corp_id, "wrong-secret-xyz", base_url=fake_work.base_url
        )
        with pytest.raises(APIError) as info:
            await bad.token()
        texts.extend([str(info.value), repr(info.value), *traceback.format_exception(info.value)])
        await bad.aclose()
        await client.aclose()

    asyncio.run(main())
    texts.extend(record.getMessage() for record in caplog.records)
    assert texts[0] == (
        f"AsyncDefaultAccessTokenServer(corp_id={fake_work.corp_id!r},"
        f" base_url={fake_work.base_url!r})"
    )
    assert len(fake_work.tokens) == 2
    for text in texts:
        for secret in (fake_work.corp_secret, "wrong-secret-xyz", *fake_work.tokens):
            assert secret not in text


# --------------------------------------------------------------------------- Redis


def test_async_and_blocking_redis_servers_share_keys_and_token(
    fake_work: FakeWorkServer, redis_client: Any, redis_url: str, clock: FakeClock
) -> None:
    blocking = sync_redis_server(fake_work, redis_client, clock)

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        async with async_redis_server(fake_work, client, clock) as server:
            assert (server.key, server.lock_key, server.recent_key) == (
                blocking.key,
                blocking.lock_key,
                blocking.recent_key,
            )
            first = await server.token()
            assert blocking.token() == first and fake_work.gettoken_calls == 1
            # the blocking one refreshes (refused token): the async one reads it within 1 s
            second = blocking.token_refresh(stale=first)
            assert second != first
            assert await server.token() == first  # its local copy, < 1 s old
            clock.advance(REREAD_INTERVAL)
            assert await server.token() == second
            # a refused async call adopts the newer token a blocking process stored
            redis_client.delete(blocking.recent_key)  # as if the 2 s window had passed
            third = blocking.token_refresh(stale=second)
            assert await server.token_refresh(stale=second) == third
            assert await server.token_refresh(stale=first) == third
            assert fake_work.gettoken_calls == 3
            # and the other way round
            fourth = await server.token_refresh(stale=third)
            assert blocking.token_refresh(stale=third) == fourth
            assert fake_work.gettoken_calls == 4
            assert not redis_client.exists(blocking.lock_key)
        await client.aclose()

    asyncio.run(main())


def test_threads_and_tasks_on_a_cold_redis_cause_one_gettoken(
    fake_work: FakeWorkServer, redis_client: Any, redis_url: str
) -> None:
    fake_work.delay(0.3, path=GETTOKEN)
    blocking = sync_redis_server(fake_work, redis_client)
    start = threading.Barrier(9, timeout=30)
    results: list[str] = []

    def thread() -> None:
        start.wait()
        results.append(blocking.token())

    async def main() -> list[str]:
        client = redis.asyncio.Redis.from_url(redis_url)
        servers = [async_redis_server(fake_work, client) for _ in range(4)]
        await asyncio.to_thread(start.wait)
        tokens = await asyncio.gather(*(s.token() for s in servers for _ in range(25)))
        for server in servers:
            await server.aclose()
        await client.aclose()
        return tokens

    threads = [threading.Thread(target=thread) for _ in range(8)]
    for t in threads:
        t.start()
    tokens = asyncio.run(main())
    for t in threads:
        t.join(30)
    assert fake_work.gettoken_calls == 1
    assert set(tokens) | set(results) == {fake_work.tokens[0]}
    assert len(tokens) + len(results) == 108


def test_mixed_clients_converge_after_an_expiry(
    fake_work: FakeWorkServer, redis_client: Any, redis_url: str
) -> None:
    blocking = CorpClient(sync_redis_server(fake_work, redis_client), base_url=fake_work.base_url)

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        async with (
            async_redis_server(fake_work, client) as server,
            AsyncCorpClient(server, base_url=fake_work.base_url) as aclient,
        ):
            await aclient.get_callback_ip()
            blocking.get_callback_ip()
            fake_work.expire_tokens()
            await aclient.get_callback_ip()  # refused, inside the window: fetches
            await asyncio.to_thread(blocking.get_callback_ip)  # refused: adopts it
        await client.aclose()

    asyncio.run(main())
    assert fake_work.gettoken_calls == 2
    assert fake_work.calls[GETCALLBACKIP] == 6
    assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]


def test_async_redis_waiter_gives_up_on_a_lock_never_released(
    fake_work: FakeWorkServer, redis_client: Any, redis_url: str
) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        async with async_redis_server(fake_work, client, lock_ttl=0.3) as server:
            redis_client.set(server.lock_key, "someone-else", px=60_000)
            with pytest.raises(TransportError, match="lock"):
                await server.token()
        await client.aclose()

    asyncio.run(main())
    assert fake_work.gettoken_calls == 0
