"""API client costs: a cached token() hit, and get_json against a bare urllib3 request.

FakeWorkServer runs in a subprocess here, so that its request handling does not compete
with the measured client for this process's GIL; both sides of the get_json comparison
call the same endpoint of the same server, one request per round, over a kept-alive
connection.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from wxcorp_fast import CorpClient, DefaultAccessTokenServer, RedisAccessTokenServer
from wxcorp_fast.testing.fake_work import FAKE_CORP_SECRET, GETCALLBACKIP
from wxcorp_fast.testing.vectors import CORP_ID

SERVE = (
    "import sys\n"
    "from wxcorp_fast.testing import FakeWorkServer\n"
    "with FakeWorkServer() as fake:\n"
    "    print(fake.base_url, flush=True)\n"
    "    sys.stdin.read()\n"
)


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
