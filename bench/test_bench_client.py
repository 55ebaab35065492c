"""API client costs: cached token() hits, get_json against bare urllib3 / aiohttp, bursts.

FakeWorkServer runs in a subprocess here, so that its request handling does not compete
with the measured client for this process's GIL; both sides of a get_json comparison call
the same endpoint of the same server over a kept-alive connection (the blocking pair one
request per round, the async pair 10 sequential requests per event-loop run).

- ``token() cached hit``: the blocking servers' ``token()`` with a fresh token cached.
- ``async token() cached hit``: 1000 ``await server.token()`` in one coroutine, run by
  the event loop (its own cost, ~20 µs a run, is spread over the 1000).
- ``1000 concurrent send_text, cold token cache``: 1000 ``AsyncCorpClient.send_text``
  gathered, against 1000 ``asyncio.to_thread(CorpClient.send_text)`` gathered (the
  default executor's threads), each round on fresh token servers; every round checks on
  the fake server's counters that it cost one gettoken and delivered 1000 messages.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import urllib3

from wxcorp_fast import CorpClient, DefaultAccessTokenServer, RedisAccessTokenServer
from wxcorp_fast.api import (
    AsyncCorpClient,
    AsyncDefaultAccessTokenServer,
    AsyncRedisAccessTokenServer,
)
from wxcorp_fast.testing.fake_work import FAKE_CORP_SECRET, GETCALLBACKIP
from wxcorp_fast.testing.vectors import CORP_ID

SERVE = (
    "import sys\n"
    "from wxcorp_fast.testing import FakeWorkServer\n"
    "with FakeWorkServer() as fake:\n"
    "    fake.route('GET', '/stats', lambda request: {\n"
    "        'gettoken_calls': fake.gettoken_calls, 'messages': len(fake.messages)})\n"
    "    print(fake.base_url, flush=True)\n"
    "    sys.stdin.read()\n"
)
SEQUENTIAL = 10  # async get_json calls per event-loop run
HITS = 1000  # async token() hits per event-loop run
BURST = 1000


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    """The base URL of a FakeWorkServer serving from a subprocess."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        yield proc.stdout.readline().strip()
        proc.stdin.close()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server (the tests' helper, loaded from ``tests/``)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "_redis_server.py"
    spec = importlib.util.spec_from_file_location("_redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.RedisServer() as server:
        yield server.url


@pytest.mark.parametrize("kind", ["default", "redis"])
def test_token_hit(
    benchmark: Any, request: pytest.FixtureRequest, fake_url: str, kind: str
) -> None:
    """``token()`` with a fresh token cached (Redis: the process-local copy, no round trip)."""
    benchmark.group = "token() cached hit"
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        server: DefaultAccessTokenServer | RedisAccessTokenServer = RedisAccessTokenServer(
            CORP_ID, FAKE_CORP_SECRET, client, base_url=fake_url
        )
    else:
        server = DefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url)
    token = server.token()
    assert benchmark(server.token) == token


@pytest.mark.parametrize("side", ["corpclient", "urllib3"])
def test_get_json_round_trip(benchmark: Any, fake_url: str, side: str) -> None:
    """GET getcallbackip into a dict: ``CorpClient.get_json`` or urllib3 + ``json.loads``."""
    benchmark.group = "get_json round trip"
    tokens = DefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url)
    if side == "corpclient":
        client = CorpClient(tokens, base_url=fake_url)

        def call() -> dict[str, Any]:
            return client.get_json(GETCALLBACKIP)
    else:
        http = urllib3.PoolManager()
        url = f"{fake_url}{GETCALLBACKIP}?access_token={tokens.token()}"

        def call() -> dict[str, Any]:
            data: dict[str, Any] = json.loads(http.request("GET", url).data)
            return data

    assert benchmark(call)["errcode"] == 0


@pytest.mark.parametrize("kind", ["default", "redis"])
def test_async_token_hit(
    benchmark: Any, request: pytest.FixtureRequest, fake_url: str, kind: str
) -> None:
    """1000 ``await server.token()`` with a fresh token cached (Redis: the local copy)."""
    benchmark.group = f"async token() cached hit, {HITS} awaits"
    loop = asyncio.new_event_loop()
    redis_client: Any = None
    if kind == "redis":
        import redis.asyncio

        redis_client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
        server: Any = AsyncRedisAccessTokenServer(
            CORP_ID, FAKE_CORP_SECRET, redis_client, base_url=fake_url
        )
    else:
        server = AsyncDefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url)

    async def hits() -> str:
        for _ in range(HITS):
            token: str = await server.token()
        return token

    try:
        token = loop.run_until_complete(server.token())
        assert benchmark(lambda: loop.run_until_complete(hits())) == token
    finally:
        loop.run_until_complete(server.aclose())
        if redis_client is not None:
            loop.run_until_complete(redis_client.aclose())
        loop.close()


@pytest.mark.parametrize("side", ["asynccorpclient", "aiohttp"])
def test_async_get_json_round_trip(benchmark: Any, fake_url: str, side: str) -> None:
    """10 sequential GET getcallbackip into dicts: ``AsyncCorpClient.get_json`` or aiohttp."""
    benchmark.group = f"async get_json round trip, {SEQUENTIAL} sequential"
    loop = asyncio.new_event_loop()
    tokens = AsyncDefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url)
    client = AsyncCorpClient(tokens, base_url=fake_url)
    url = f"{fake_url}{GETCALLBACKIP}?access_token={loop.run_until_complete(tokens.token())}"

    async def ours() -> dict[str, Any]:
        for _ in range(SEQUENTIAL):
            data = await client.get_json(GETCALLBACKIP)
        return data

    async def bare() -> dict[str, Any]:
        for _ in range(SEQUENTIAL):
            async with client.session.get(url) as response:
                data: dict[str, Any] = json.loads(await response.read())
        return data

    call = ours if side == "asynccorpclient" else bare
    try:
        assert benchmark(lambda: loop.run_until_complete(call()))["errcode"] == 0
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(tokens.aclose())
        loop.close()


@pytest.mark.parametrize("side", ["async", "threads"])
def test_concurrent_sends_on_a_cold_token_cache(benchmark: Any, fake_url: str, side: str) -> None:
    """1000 send_text at once on fresh token servers: AsyncCorpClient, or threads."""
    benchmark.group = f"{BURST} concurrent send_text, cold token cache"
    stats_client = CorpClient(
        DefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url), base_url=fake_url
    )

    async def burst_async() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            tokens = AsyncDefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, session, fake_url)
            client = AsyncCorpClient(tokens, session, fake_url)
            return await asyncio.gather(
                *(client.send_text(1000002, f"m{i}", touser="u") for i in range(BURST))
            )

    async def burst_threads() -> list[dict[str, Any]]:
        tokens = DefaultAccessTokenServer(CORP_ID, FAKE_CORP_SECRET, base_url=fake_url)
        client = CorpClient(tokens, base_url=fake_url)
        return await asyncio.gather(
            *(
                asyncio.to_thread(client.send_text, 1000002, f"m{i}", touser="u")
                for i in range(BURST)
            )
        )

    burst = burst_async if side == "async" else burst_threads

    cpu: list[float] = []

    def one_round() -> None:
        before = stats_client.get_json("/stats")
        started = time.process_time()
        answers = asyncio.run(burst())
        cpu.append(time.process_time() - started)
        after = stats_client.get_json("/stats")
        assert all(answer["errcode"] == 0 for answer in answers)
        assert after["gettoken_calls"] - before["gettoken_calls"] == 1
        assert after["messages"] - before["messages"] == BURST

    benchmark.pedantic(one_round, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["client_cpu_s_min"] = min(cpu)
