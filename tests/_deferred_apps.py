"""Slow-handler apps the deferred-reply tests run under gunicorn and uvicorn subprocesses.

Imported by the servers (``PYTHONPATH`` holds ``tests/``). The handler sleeps
``WXCORP_TEST_SLEEP`` seconds (6 by default) and appends ``start <content>`` and ``end
<content>`` lines to the file ``WXCORP_TEST_CALLS``, so the test can count its runs across
processes. Late replies go to the ``FakeWorkServer`` at ``WXCORP_TEST_FAKE_URL`` through a
``CorpClient`` (WSGI) or ``AsyncCorpClient`` (ASGI); the dedupe store is Redis at
``WXCORP_TEST_REDIS``: ``RedisDedupeStore`` under WSGI, ``AsyncRedisDedupeStore`` under ASGI.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from wxcorp_fast import (
    AgentServerFrontend,
    AsyncRedisDedupeStore,
    CorpClient,
    DefaultAccessTokenServer,
    DefaultAgentServer,
    RedisDedupeStore,
    Request,
)
from wxcorp_fast.api import AsyncCorpClient, AsyncDefaultAccessTokenServer
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import vectors
from wxcorp_fast.testing.fake_work import FAKE_CORP_SECRET

CALLS_ENV = "WXCORP_TEST_CALLS"
FAKE_ENV = "WXCORP_TEST_FAKE_URL"
REDIS_ENV = "WXCORP_TEST_REDIS"
SLEEP_ENV = "WXCORP_TEST_SLEEP"
DEADLINE = 1.0


def _record(event: str, request: Request) -> None:
    line = f"{event} {request.msg.content}\n".encode()
    fd = os.open(os.environ[CALLS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write with O_APPEND: whole lines from every process
    finally:
        os.close(fd)


def _sleep() -> float:
    return float(os.environ.get(SLEEP_ENV, "6"))


def slow(request: Request) -> TextReply:
    """Take ``WXCORP_TEST_SLEEP`` seconds, then answer."""
    _record("start", request)
    time.sleep(_sleep())
    _record("end", request)
    return TextReply(f"slow reply to {request.msg.content}")


async def slow_async(request: Request) -> TextReply:
    """The same, as a coroutine."""
    _record("start", request)
    await asyncio.sleep(_sleep())
    _record("end", request)
    return TextReply(f"slow reply to {request.msg.content}")


def _client() -> CorpClient:
    base_url = os.environ[FAKE_ENV]
    tokens = DefaultAccessTokenServer(vectors.CORP_ID, FAKE_CORP_SECRET, base_url=base_url)
    return CorpClient(tokens, base_url=base_url)


def _async_client() -> AsyncCorpClient:
    base_url = os.environ[FAKE_ENV]
    tokens = AsyncDefaultAccessTokenServer(vectors.CORP_ID, FAKE_CORP_SECRET, base_url=base_url)
    return AsyncCorpClient(tokens, base_url=base_url)


def _agent(handler: Any) -> DefaultAgentServer:
    return DefaultAgentServer(
        vectors.CORP_ID, vectors.AGENT_ID, vectors.TOKEN, vectors.ENCODING_AES_KEY, handler
    )


def wsgi_app() -> AgentServerFrontend:
    """gunicorn: a sync handler, CorpClient, RedisDedupeStore."""
    import redis

    return AgentServerFrontend(
        _agent(slow),
        reply_deadline=DEADLINE,
        client=_client(),
        dedupe=RedisDedupeStore(redis.Redis.from_url(os.environ[REDIS_ENV])),
    )


def asgi_app() -> Any:
    """uvicorn: an async handler, AsyncCorpClient, AsyncRedisDedupeStore."""
    import redis.asyncio

    return AgentServerFrontend(
        _agent(slow_async),
        reply_deadline=DEADLINE,
        client=_async_client(),
        dedupe=AsyncRedisDedupeStore(redis.asyncio.Redis.from_url(os.environ[REDIS_ENV])),
    ).asgi
