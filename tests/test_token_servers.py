"""DefaultAccessTokenServer and RedisAccessTokenServer against FakeWorkServer (and a real Redis)."""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import urllib3

from wxcorp_fast import (
    AccessTokenServer,
    APIError,
    CorpClient,
    DefaultAccessTokenServer,
    RedisAccessTokenServer,
)
from wxcorp_fast.api.tokens import (
    REFRESH_WINDOW,
    REREAD_INTERVAL,
    refresh_after,
    refresh_refused,
)
from wxcorp_fast.errors import TransportError
from wxcorp_fast.testing import FakeWorkServer
from wxcorp_fast.testing.fake_work import GETTOKEN

from _clock import FakeClock
from _redis_server import RedisServer

WORKER = Path(__file__).with_name("_token_worker.py")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def default_server(
    fake: FakeWorkServer, clock: Any = time.monotonic, **kwargs: Any
) -> DefaultAccessTokenServer:
    return DefaultAccessTokenServer(
        fake.corp_id, fake.corp_secret, base_url=fake.base_url, clock=clock, **kwargs
    )


def redis_server_for(
    fake: FakeWorkServer, redis_client: Any, clock: Any = time.monotonic, **kwargs: Any
) -> RedisAccessTokenServer:
    return RedisAccessTokenServer(
        fake.corp_id, fake.corp_secret, redis_client, base_url=fake.base_url, clock=clock, **kwargs
    )


def run_threads(count: int, target: Any) -> list[Any]:
    """Start ``count`` threads on a barrier, each calling ``target``; return results."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    return results


# --------------------------------------------------------------------------- refresh margins


@pytest.mark.parametrize(
    ("expires_in", "after"),
    [
        (7200, 6600),
        (3601, 3001),
        (3600, 3300),
        (1801, 1501),
        (1800, 1740),
        (301, 241),
        (300, 290),
        (61, 51),
        (60, 50),
        (31556952, 31556352),
    ],
)
def test_refresh_margins_of_the_go_original(expires_in: int, after: int) -> None:
    assert refresh_after(expires_in) == after


@pytest.mark.parametrize("expires_in", [59, 0, -7200, 31556953, 10**12])
def test_expires_in_outside_60s_to_a_year_is_refused(expires_in: int) -> None:
    with pytest.raises(TransportError, match=f"expires_in {expires_in}"):
        refresh_after(expires_in)


@pytest.mark.parametrize("expires_in", [59, 31556953])
def test_server_refuses_a_bad_expires_in_and_caches_nothing(
    fake_work: FakeWorkServer, clock: FakeClock, expires_in: int
) -> None:
    fake_work.expires_in = expires_in
    server = default_server(fake_work, clock)
    with pytest.raises(TransportError, match="expires_in"):
        server.token()
    fake_work.expires_in = 7200
    clock.advance(1)
    assert server.token() == fake_work.tokens[-1]
    assert fake_work.gettoken_calls == 2


# --------------------------------------------------------------------------- default server


def test_default_server_is_an_access_token_server(fake_work: FakeWorkServer) -> None:
    server = default_server(fake_work)
    assert isinstance(server, AccessTokenServer)
    with pytest.raises(TypeError):
        AccessTokenServer()  # type: ignore[abstract]
    with pytest.raises(ValueError):
        DefaultAccessTokenServer("", "secret")


def test_token_is_cached_until_the_refresh_time(
    fake_work: FakeWorkServer, clock: FakeClock
) -> None:
    server = default_server(fake_work, clock)
    first = server.token()
    assert first == fake_work.tokens[0]
    for _ in range(10):
        assert server.token() == first
    clock.advance(6599.9)
    assert server.token() == first
    assert fake_work.gettoken_calls == 1
    clock.advance(0.1)  # 6600 s after the fetch began: 7200 - 600
    second = server.token()
    assert second != first and second == fake_work.tokens[1]
    assert fake_work.gettoken_calls == 2


def test_32_threads_on_a_cold_cache_cause_one_gettoken(fake_work: FakeWorkServer) -> None:
    fake_work.delay(0.3, path=GETTOKEN)
    server = default_server(fake_work)
    results = run_threads(32, server.token)
    assert fake_work.gettoken_calls == 1
    assert results == [fake_work.tokens[0]] * 32


def test_token_refresh_within_2_seconds_shares_one_fetch(
    fake_work: FakeWorkServer, clock: FakeClock
) -> None:
    server = default_server(fake_work, clock)
    first = server.token_refresh()
    clock.advance(REFRESH_WINDOW - 0.01)
    assert server.token_refresh() == first
    assert fake_work.gettoken_calls == 1
    clock.advance(0.01)
    second = server.token_refresh()
    assert second != first and fake_work.gettoken_calls == 2
    assert server.token() == second


def test_concurrent_token_refresh_calls_share_one_fetch(fake_work: FakeWorkServer) -> None:
    server = default_server(fake_work)
    server.token()
    time.sleep(REFRESH_WINDOW + 0.1)  # out of the first fetch's window
    fake_work.delay(0.3, path=GETTOKEN)
    results = run_threads(8, server.token_refresh)
    assert fake_work.gettoken_calls == 2
    assert results == [fake_work.tokens[1]] * 8


def test_refresh_told_the_refused_token_never_hands_it_back(
    fake_work: FakeWorkServer, clock: FakeClock
) -> None:
    server = default_server(fake_work, clock)
    first = server.token()
    assert server.token_refresh() == first  # the 2 s window merges bare refreshes
    second = server.token_refresh(stale=first)  # but never returns the refused token
    assert second != first and fake_work.gettoken_calls == 2
    assert server.token_refresh(stale=first) == second  # someone refreshed: no new fetch
    clock.advance(60)
    assert server.token_refresh(stale=first) == second  # out of the window too
    assert fake_work.gettoken_calls == 2


def test_threads_refused_the_same_token_cause_one_fetch(fake_work: FakeWorkServer) -> None:
    server = default_server(fake_work)
    refused = server.token()
    fake_work.delay(0.3, path=GETTOKEN)
    results = run_threads(8, lambda: server.token_refresh(stale=refused))
    assert fake_work.gettoken_calls == 2
    assert results == [fake_work.tokens[1]] * 8


def test_refresh_refused_calls_servers_without_stale_bare() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class Old(AccessTokenServer):
        def token(self) -> str:
            return "t"

        def token_refresh(self) -> str:
            calls.append(("old", {}))
            return "old"

    class Loose(Old):
        def token_refresh(self, **kwargs: Any) -> str:  # type: ignore[override]
            calls.append(("loose", kwargs))
            return "loose"

    assert refresh_refused(Old().token_refresh, "t") == "old"
    assert refresh_refused(Loose().token_refresh, "t") == "loose"
    assert calls == [("old", {}), ("loose", {"stale": "t"})]


def test_failed_fetch_raises_and_backs_off(fake_work: FakeWorkServer, clock: FakeClock) -> None:
    fake_work.fail(40001, times=3, path=GETTOKEN)
    server = default_server(fake_work, clock)
    for _ in range(5):  # the first call fetches; the others get the error without a fetch
        with pytest.raises(APIError) as info:
            server.token()
        assert (type(info.value), info.value.errcode) == (APIError, 40001)
    with pytest.raises(APIError):
        server.token_refresh()
    assert fake_work.gettoken_calls == 1
    # (seconds to advance, gettoken calls then): the first delay is 1 s, the second 2 s
    for advance, calls in ((1.0, 2), (1.9, 2), (0.1, 3)):
        clock.advance(advance)
        with pytest.raises(APIError):
            server.token()
        assert fake_work.gettoken_calls == calls
    clock.advance(3.9)  # third delay: 4 s
    with pytest.raises(APIError):
        server.token()
    clock.advance(0.1)
    assert server.token() == fake_work.tokens[0]  # injection used up: success resets
    assert fake_work.gettoken_calls == 4
    fake_work.fail(40001, path=GETTOKEN)
    clock.advance(6600)
    with pytest.raises(APIError):
        server.token()
    clock.advance(1.0)  # back to the first delay after a success
    assert server.token() == fake_work.tokens[1]


def test_backoff_delay_is_capped(fake_work: FakeWorkServer, clock: FakeClock) -> None:
    fake_work.fail(-1, times=9, path=GETTOKEN)
    server = default_server(fake_work, clock)
    for _ in range(9):
        with pytest.raises(APIError):
            server.token()
        clock.advance(60.0)  # 1, 2, 4, ... capped at 60 s
    assert fake_work.gettoken_calls == 9
    assert server.token() == fake_work.tokens[0]


def test_transport_failures_back_off_too(fake_work: FakeWorkServer, clock: FakeClock) -> None:
    fake_work.http_error(503, path=GETTOKEN)
    server = default_server(fake_work, clock)
    for _ in range(3):
        with pytest.raises(TransportError) as info:
            server.token()
        assert info.value.status == 503
    assert fake_work.gettoken_calls == 1


def test_errors_and_repr_hold_no_secret(fake_work: FakeWorkServer) -> None:
    server = default_server(fake_work)
    assert repr(server) == (
        f"DefaultAccessTokenServer(corp_id={fake_work.corp_id!r}, base_url={fake_work.base_url!r})"
    )
    token = server.token()
    assert token not in repr(server) and fake_work.corp_secret not in repr(server)
    bad = DefaultAccessTokenServer(
        fake_work.corp_id, "wrong-secret-xyz", base_url=fake_work.base_url
    )
    with pytest.raises(APIError) as info:
        bad.token()
    assert "wrong-secret-xyz" not in str(info.value) + repr(info.value)


def test_no_background_thread(fake_work: FakeWorkServer) -> None:
    before = set(threading.enumerate())
    server = default_server(fake_work)
    server.token()
    server.token_refresh()
    started = [t for t in set(threading.enumerate()) - before if "process_request" not in t.name]
    assert started == []


def test_fork_while_another_thread_holds_the_lock(fake_work: FakeWorkServer) -> None:
    fake_work.delay(1.0, path=GETTOKEN)
    server = default_server(fake_work)
    holder = threading.Thread(target=server.token)
    holder.start()
    deadline = time.monotonic() + 10
    while fake_work.gettoken_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server._lock.locked()  # the fetch is in flight: the lock is held right now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # child: no thread holds its locks; it fetches on its own
        code = 1
        try:
            code = 0 if server.token() else 2
        finally:
            os._exit(code)
    try:
        status = _wait_child(pid, timeout=20)
    finally:
        holder.join(20)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fake_work.gettoken_calls == 2  # the parent's fetch and the child's


def _wait_child(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child deadlocked")


def test_passed_pool_manager_is_used(fake_work: FakeWorkServer) -> None:
    http = urllib3.PoolManager()
    server = DefaultAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, http, fake_work.base_url
    )
    server.token()
    assert len(http.pools) == 1


# --------------------------------------------------------------------------- Redis server


def test_redis_key_holds_corp_id_and_secret_hash_only(
    fake_work: FakeWorkServer, redis_client: Any
) -> None:
    server = redis_server_for(fake_work, redis_client)
    token = server.token()
    digest = hashlib.sha256(fake_work.corp_secret.encode()).hexdigest()[:16]
    assert server.key == f"wxcorp_fast:access_token:{fake_work.corp_id}:{digest}"
    keys = {k.decode() for k in redis_client.keys("*")}
    assert keys == {server.key, server.recent_key}
    for key in keys:
        assert fake_work.corp_secret[:6] not in key
    assert redis_client.hget(server.key, "token").decode() == token
    assert 6590_000 < redis_client.pttl(server.key) <= 6600_000
    assert fake_work.corp_secret not in repr(server) and token not in repr(server)


def test_redis_key_prefix(fake_work: FakeWorkServer, redis_client: Any) -> None:
    server = RedisAccessTokenServer(
        fake_work.corp_id, fake_work.corp_secret, redis_client, None, fake_work.base_url, "app1:"
    )
    server.token()
    assert server.key.startswith("app1:access_token:")
    assert redis_client.exists(server.key)


def test_redis_token_is_shared_and_cached(
    fake_work: FakeWorkServer, redis_client: Any, clock: FakeClock
) -> None:
    first = redis_server_for(fake_work, redis_client, clock)
    token = first.token()
    other = redis_server_for(fake_work, redis_client, clock)  # another process, say
    assert other.token() == token
    assert fake_work.gettoken_calls == 1
    redis_client.delete(first.key)  # the local copy answers until its TTL runs out
    assert first.token() == token and fake_work.gettoken_calls == 1
    clock.advance(6600)
    fresh = first.token()
    assert fresh != token and fake_work.gettoken_calls == 2
    assert redis_client.hget(first.key, "token").decode() == fresh


def test_redis_token_refresh_window_is_shared(fake_work: FakeWorkServer, redis_client: Any) -> None:
    a = redis_server_for(fake_work, redis_client)
    b = redis_server_for(fake_work, redis_client)
    first = a.token_refresh()
    assert b.token_refresh() == first and a.token_refresh() == first
    assert fake_work.gettoken_calls == 1
    assert 0 < redis_client.pttl(a.recent_key) <= 2000
    redis_client.delete(a.recent_key)  # as if the 2 s window had passed
    second = b.token_refresh()
    assert second != first and fake_work.gettoken_calls == 2
    assert a.token_refresh() == second
    assert not redis_client.exists(a.lock_key)


def test_redis_refresh_told_the_refused_token_fetches_even_in_the_window(
    fake_work: FakeWorkServer, redis_client: Any
) -> None:
    a = redis_server_for(fake_work, redis_client)
    first = a.token_refresh()
    assert redis_client.exists(a.recent_key)  # inside the shared 2 s window
    second = a.token_refresh(stale=first)
    assert second != first and fake_work.gettoken_calls == 2
    assert redis_client.hget(a.key, "token").decode() == second


def test_redis_refused_process_adopts_a_newer_token_instead_of_fetching(
    fake_work: FakeWorkServer, redis_client: Any, clock: FakeClock
) -> None:
    a = CorpClient(redis_server_for(fake_work, redis_client, clock), base_url=fake_work.base_url)
    b = CorpClient(redis_server_for(fake_work, redis_client, clock), base_url=fake_work.base_url)
    a.get_callback_ip()
    b.get_callback_ip()  # b holds the first token in its local copy
    fake_work.expire_tokens()
    a.get_callback_ip()  # 42001 on the first token, inside its 2 s window: a fetches
    assert fake_work.gettoken_calls == 2
    redis_client.delete(a.access_token_server.recent_key)  # as if the window had passed
    assert b.access_token_server.token() == fake_work.tokens[0]  # local copy, < 1 s old
    b.get_callback_ip()  # 42001: b finds the newer token in Redis
    assert fake_work.gettoken_calls == 2
    assert fake_work.requests[-1].query["access_token"] == fake_work.tokens[1]


def test_redis_refresh_reaches_every_process_within_a_second(
    fake_work: FakeWorkServer, redis_client: Any, clock: FakeClock
) -> None:
    a = redis_server_for(fake_work, redis_client, clock)
    b = redis_server_for(fake_work, redis_client, clock)
    first = a.token()
    assert b.token() == first
    fresh = a.token_refresh(stale=first)
    assert fresh != first
    clock.advance(REREAD_INTERVAL - 0.01)
    assert b.token() == first  # answered from the local copy, no round trip
    clock.advance(0.01)
    assert b.token() == fresh  # read again from Redis: within a second of the refresh
    assert fake_work.gettoken_calls == 2


def test_redis_unreadable_keeps_the_local_copy_until_due(
    fake_work: FakeWorkServer,
    redis_client: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis

    server = redis_server_for(fake_work, redis_client, clock)
    token = server.token()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = redis.Redis(port=port, socket_connect_timeout=1)
    server._redis = dead
    try:
        clock.advance(REREAD_INTERVAL)
        assert server.token() == token
        assert "Redis unreadable (ConnectionError)" in caplog.text
        clock.advance(6600)  # due: nothing to fall back on
        with pytest.raises(redis.ConnectionError):
            server.token()
    finally:
        dead.close()
    assert fake_work.gettoken_calls == 1


def test_redis_failed_fetch_raises_and_backs_off(
    fake_work: FakeWorkServer, redis_client: Any, clock: FakeClock
) -> None:
    fake_work.fail(40013, times=2, path=GETTOKEN)
    server = redis_server_for(fake_work, redis_client, clock)
    for _ in range(4):
        with pytest.raises(APIError) as info:
            server.token()
        assert info.value.errcode == 40013
    assert fake_work.gettoken_calls == 1
    assert not redis_client.exists(server.lock_key)
    clock.advance(1.0)
    with pytest.raises(APIError):
        server.token()
    clock.advance(2.0)
    assert server.token() == fake_work.tokens[0]
    assert fake_work.gettoken_calls == 3


def test_redis_waiter_gives_up_on_a_lock_never_released(
    fake_work: FakeWorkServer, redis_client: Any
) -> None:
    server = redis_server_for(fake_work, redis_client, lock_ttl=0.3)
    redis_client.set(server.lock_key, "someone-else", px=60_000)
    with pytest.raises(TransportError, match="lock"):
        server.token()
    assert redis_client.get(server.lock_key) == b"someone-else"  # not ours: never deleted
    assert fake_work.gettoken_calls == 0


def test_4_processes_x_8_threads_cause_one_gettoken(
    fake_work: FakeWorkServer, redis_server: RedisServer, redis_client: Any
) -> None:
    fake_work.delay(0.3, path=GETTOKEN)
    procs = [_worker("race", redis_server, fake_work, "8") for _ in range(4)]
    try:
        for proc in procs:
            assert _read_line(proc) == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        tokens = [json.loads(_read_line(proc, timeout=60)) for proc in procs]
        for proc in procs:
            assert proc.wait(30) == 0
    finally:
        _kill(procs)
    assert fake_work.gettoken_calls == 1
    assert [len(t) for t in tokens] == [8] * 4
    assert {tok for t in tokens for tok in t} == {fake_work.tokens[0]}
    server = redis_server_for(fake_work, redis_client)
    assert redis_client.hget(server.key, "token").decode() == fake_work.tokens[0]


def test_killed_lock_holder_delays_others_at_most_the_lock_ttl(
    fake_work: FakeWorkServer, redis_server: RedisServer, redis_client: Any
) -> None:
    lock_ttl = 2.0
    server = redis_server_for(fake_work, redis_client, lock_ttl=lock_ttl)
    fake_work.delay(60, path=GETTOKEN)
    proc = _worker("hold", redis_server, fake_work, str(lock_ttl))
    try:
        assert _read_line(proc) == "fetching"
        deadline = time.monotonic() + 20
        while fake_work.gettoken_calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake_work.gettoken_calls == 1  # the holder is inside its fetch
        assert 0 < redis_client.pttl(server.lock_key) <= lock_ttl * 1000
        proc.kill()
        proc.wait(10)
    finally:
        _kill([proc])
    fake_work.delay(0, path=GETTOKEN)
    started = time.monotonic()
    token = server.token()
    waited = time.monotonic() - started
    assert token == fake_work.tokens[-1] and fake_work.gettoken_calls == 2
    assert waited < lock_ttl + 1.5  # the dead holder's lock expired; nobody deleted it
    assert not redis_client.exists(server.lock_key)


def _worker(
    mode: str, redis_server: RedisServer, fake: FakeWorkServer, arg: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            mode,
            redis_server.url,
            fake.base_url,
            fake.corp_id,
            fake.corp_secret,
            arg,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the worker did not answer in time"
    return proc.stdout.readline().strip()


def _kill(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
