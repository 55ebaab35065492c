"""Deferred replies end to end: gunicorn (WSGI) and uvicorn (ASGI) in subprocesses.

The servers run ``_deferred_apps`` with two workers each on an ephemeral 127.0.0.1 port
(``wxcorp_fast.testing.runners``), a handler that sleeps 6 s, a one-second reply deadline,
a Redis dedupe store shared by the workers, and a real ``FakeWorkServer`` in this process for
the late ``message/send``. ``CallbackSimulator`` plays WeChat's retry schedule. The handler's
runs are counted from the lines it appends to a file.

The check of 200 slow handlers against ``max_deferred=50`` and of memory runs in a subprocess
(``_deferred_load.py``), in process with the frontends, WSGI and ASGI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _deferred_apps as apps
import pytest

from wxcorp_fast.testing import CallbackSimulator, FakeWorkServer, HTTPResult
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.runners import ServerProcess, gunicorn, uvicorn

TESTS = Path(__file__).resolve().parent


def _env(fake: FakeWorkServer, redis_url: str, calls: Path, sleep: float) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": str(TESTS) + (os.pathsep + path if path else ""),
        apps.CALLS_ENV: str(calls),
        apps.FAKE_ENV: fake.base_url,
        apps.REDIS_ENV: redis_url,
        apps.SLEEP_ENV: str(sleep),
    }


SERVERS: dict[str, Callable[[dict[str, str]], ServerProcess]] = {
    # the worker exit hook of wxcorp_fast.cli.gunicorn drains the deferred replies
    "gunicorn-wsgi": lambda env: gunicorn(
        "_deferred_apps:wsgi_app()",
        workers=2,
        env=env,
        options=["-c", "python:wxcorp_fast.cli.gunicorn"],
    ),
    "uvicorn-asgi": lambda env: uvicorn("_deferred_apps:asgi_app", workers=2, env=env),
}


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def sim() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


@pytest.fixture
def fake() -> Iterator[FakeWorkServer]:
    with FakeWorkServer() as server:
        yield server


@pytest.mark.parametrize("kind", list(SERVERS))
def test_a_slow_handler_under_wechats_schedule(
    kind: str,
    sim: CallbackSimulator,
    fake: FakeWorkServer,
    redis_server: Any,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls.log"
    with SERVERS[kind](_env(fake, redis_server.url, calls, 6.0)) as server:
        # A: WeChat's real schedule (5 s per try): the deadline answers the first try
        start = time.monotonic()
        first = sim.post(server.url, "text", content="A", retries=True)
        latency = time.monotonic() - start
        sent_by_then = len(fake.messages)
        assert (first.status, first.body, first.tries) == (200, b"", 1)
        assert sent_by_then == 0  # answered before the handler's reply went out
        print(f"\n{kind}: first answer after {latency * 1000:.0f} ms (deadline 1000 ms)")

        # B: a schedule faster than the deadline, so that WeChat's retry arrives while the
        # first try waits; the copy is answered empty (in another worker: through Redis)
        query, body = sim.message("text", content="B")
        retried = sim.send(server.url, query, body, retries=True, retry_interval=0.3)
        assert (retried.status, retried.body, retried.tries) == (200, b"", 2)

        wait_for(lambda: len(fake.messages) == 2, "both replies delivered")
        assert sorted((m["touser"], m["agentid"], m["text"]["content"]) for m in fake.messages) == [
            ("zhangsan", v.AGENT_ID, "slow reply to A"),
            ("zhangsan", v.AGENT_ID, "slow reply to B"),
        ]
        # a late copy after the delivery: the store remembers an empty answer
        late = sim.send(server.url, query, body)
        assert (late.status, late.body) == (200, b"")
        assert sorted(lines(calls)) == ["end A", "end B", "start A", "start B"]
        assert len(fake.messages) == 2


@pytest.mark.parametrize("kind", list(SERVERS))
def test_stopping_the_server_drains_the_deferred_replies(
    kind: str,
    sim: CallbackSimulator,
    fake: FakeWorkServer,
    redis_server: Any,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls.log"
    server = SERVERS[kind](_env(fake, redis_server.url, calls, 2.5)).start()
    try:
        result: HTTPResult = sim.post(server.url, "text", content="drain me")
        assert (result.status, result.body) == (200, b"")
        assert lines(calls) == ["start drain me"]
    finally:
        server.stop(30)  # SIGTERM: the workers drain before they exit
    assert lines(calls) == ["start drain me", "end drain me"]
    assert [m["text"]["content"] for m in fake.messages] == ["slow reply to drain me"]


def test_200_slow_handlers_against_max_deferred_50_memory_flat() -> None:
    proc = subprocess.run(
        [sys.executable, str(TESTS / "_deferred_load.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        },
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    for mode in ("wsgi", "asgi"):
        for counts in report[mode]["rounds"]:
            assert counts == {
                "answered_empty": 200,
                "handlers_run": 50,
                "refused_logged": 150,
                "delivered": 50,
                "sent": 50,
                "unexpected_logs": [],
            }, mode
        growth = report[mode]["rss_after"] - report[mode]["rss_before"]
        print(
            f"\n{mode}: RSS {report[mode]['rss_before'] / 2**20:.1f} MiB -> "
            f"{report[mode]['rss_after'] / 2**20:.1f} MiB over {report['rounds']} rounds"
        )
        assert growth < 4 * 2**20, (mode, report[mode])
