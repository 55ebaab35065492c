"""Async access-token servers: where ``AsyncCorpClient`` gets its access_token.

The rules are the blocking servers' (``_token_flows``): refresh margins, the 2-second
window, the refused-token rule, backoff, and for Redis the same keys, lock, window and
1-second re-read, so that blocking and async processes of one deployment share one token.
This module performs them with aiohttp, ``redis.asyncio`` and an ``asyncio.Lock``:
concurrent ``token()`` calls on a cold cache cause one gettoken. A server is used from
one event loop.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from ._aiohttp import Session, SessionUser, request_json
from ._calls import Call
from ._directory import jsapi_signature
from ._flow import Step, arun
from ._http import DEFAULT_BASE_URL
from ._token_flows import (
    AgentTicketCore,
    CredentialCore,
    LocalCache,
    LocalCore,
    RedisCache,
    RedisCore,
    TicketCore,
    refresh_refused,
)

__all__ = [
    "AsyncAccessTokenServer",
    "AsyncAgentJsapiTicketServer",
    "AsyncJsapiTicketServer",
    "AsyncRedisAgentJsapiTicketServer",
    "AsyncRedisJsapiTicketServer",
    "AsyncDefaultAccessTokenServer",
    "AsyncRedisAccessTokenServer",
]


class AsyncAccessTokenServer(abc.ABC):
    """Where an async client gets its access_token: cached, and fetched anew on request.

    As with ``AccessTokenServer``, ``token_refresh`` may take a keyword-only ``stale``
    argument (the token the API just refused); the client passes it when it is there.
    """

    @abc.abstractmethod
    async def token(self) -> str:
        """Return the cached access_token, fetching one when there is none or it is due."""

    @abc.abstractmethod
    async def token_refresh(self) -> str:
        """Fetch a new access_token, or share one fetched less than 2 seconds ago."""


class _Async(SessionUser, CredentialCore):
    """The async I/O of a credential server: aiohttp, redis.asyncio, an asyncio lock."""

    _redis: Any  # RedisCache's client, for its "redis" steps

    def _init_io(self, session: aiohttp.ClientSession | None) -> None:
        self._session = Session(session)
        self._lock = asyncio.Lock()

    async def _current(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.token
        return await self._obtain(False, None)

    async def _obtain(self, force: bool, stale: str | None) -> str:
        async with self._lock:
            return await arun(self._obtain_flow(force, stale), self._perform)

    async def _perform(self, step: Step) -> Any:
        kind, arg = step
        if kind == "get":
            return await request_json(self._session.get(), "GET", arg, timeout=self.timeout)
        if kind == "redis":
            return await arg(self._redis)
        await asyncio.sleep(arg)  # "sleep"
        return None


class _Tokens(_Async):
    async def token(self) -> str:
        """Return the cached access_token, fetching one when there is none or it is due."""
        return await self._current()

    async def token_refresh(self, *, stale: str | None = None) -> str:
        """Fetch a new access_token, or share one fetched less than 2 seconds ago.

        Args:
            stale: the token the API just refused (42001/40014). When given, the cached
                token is returned if it is another one, and a new one is fetched if not.
        """
        return await self._obtain(True, stale)


class _Tickets(_Async):
    """An async ticket server's methods and the steps of its fetch (see ``tokens``)."""

    access_token_server: AsyncAccessTokenServer
    _ticket_call: Call[Any]

    async def ticket(self) -> str:
        """Return the cached ticket, fetching one when there is none or it is due."""
        return await self._current()

    async def ticket_refresh(self) -> str:
        """Fetch a new ticket, or share one fetched less than 2 seconds ago."""
        return await self._obtain(True, None)

    async def signature(self, noncestr: str, timestamp: int | str, url: str) -> str:
        """Return the JS-SDK signature of ``url`` with the cached ticket (``jsapi_signature``)."""
        return jsapi_signature(await self.ticket(), noncestr, timestamp, url)

    async def _perform(self, step: Step) -> Any:
        kind, arg = step
        if kind == "send":
            url = self._ticket_call.url(self.base_url, arg)
            return await request_json(self._session.get(), "GET", url, timeout=self.timeout)
        if kind == "token":
            return await self.access_token_server.token()
        if kind == "refresh":
            return await refresh_refused(self.access_token_server.token_refresh, arg)
        return await super()._perform(step)


class AsyncDefaultAccessTokenServer(_Tokens, LocalCore, AsyncAccessTokenServer):
    """One process's access_token for asyncio: single-flight, no background task.

    Args:
        corp_id: the corp ID (企业ID).
        corp_secret: the application's secret; it never appears in logs, errors or repr.
        session: the ``aiohttp.ClientSession`` to use (one is made on first use when None,
            and closed by :meth:`aclose`).
        base_url: the API's base URL.
        timeout: seconds allowed for a gettoken call.
        clock: a monotonic clock in seconds (injected in tests).
    """

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        session: aiohttp.ClientSession | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        LocalCore.__init__(self, corp_id, corp_secret, base_url, timeout, clock)
        self._init_io(session)


class AsyncRedisAccessTokenServer(_Tokens, RedisCore, AsyncAccessTokenServer):
    """An access_token shared through Redis, for asyncio (``redis.asyncio``).

    The same keys, lock, 2-second window and 1-second re-read as
    ``RedisAccessTokenServer`` (see it for the scheme): blocking and async processes of
    one deployment share one token and one fetch.

    Args:
        corp_id: the corp ID.
        corp_secret: the application's secret.
        redis: a ``redis.asyncio.Redis`` client.
        session: the ``aiohttp.ClientSession`` to use (one is made on first use when None,
            and closed by :meth:`aclose`).
        base_url: the API's base URL.
        key_prefix: prepended to every key.
        timeout: seconds allowed for a gettoken call (keep it below ``lock_ttl``).
        lock_ttl: seconds the fetch lock lives if its holder never releases it.
        poll_interval: seconds between a waiter's looks at Redis.
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        redis: Any,
        session: aiohttp.ClientSession | None = None,
        base_url: str = DEFAULT_BASE_URL,
        key_prefix: str = "wxcorp_fast:",
        *,
        timeout: float = 10.0,
        lock_ttl: float = 15.0,
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        RedisCore.__init__(
            self,
            corp_id,
            corp_secret,
            base_url,
            timeout,
            clock,
            redis,
            key_prefix,
            lock_ttl,
            poll_interval,
        )
        self._init_io(session)


class AsyncJsapiTicketServer(_Tickets, LocalCache, TicketCore):
    """``JsapiTicketServer`` for asyncio: the corp's JS-SDK ticket, fetched with an
    access_token of an async token server; ``await ticket()``, ``await ticket_refresh()``,
    ``await signature(noncestr, timestamp, url)``, ``await aclose()``.

    Args:
        access_token_server: the async token server whose access_token fetches the ticket.
        session: the ``aiohttp.ClientSession`` to use (one is made on first use when None,
            and closed by :meth:`aclose`).
        base_url: the API's base URL (the token server's when None).
        timeout: seconds allowed for a fetch.
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        access_token_server: AsyncAccessTokenServer,
        session: aiohttp.ClientSession | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        TicketCore.__init__(self, access_token_server, base_url, timeout, clock)
        self._init_io(session)


class AsyncAgentJsapiTicketServer(AsyncJsapiTicketServer, AgentTicketCore):
    """The app's JS-SDK ticket (``wx.agentConfig``) for asyncio; see ``AsyncJsapiTicketServer``."""


class AsyncRedisJsapiTicketServer(_Tickets, RedisCache, TicketCore):
    """``RedisJsapiTicketServer`` for asyncio (``redis.asyncio``), with the same keys: blocking
    and async processes of one deployment share one ticket.

    Args:
        access_token_server: the async token server whose access_token fetches the ticket.
        redis: a ``redis.asyncio.Redis`` client.
        session: the ``aiohttp.ClientSession`` to use (one is made on first use when None).
        base_url: the API's base URL (the token server's when None).
        key_prefix: prepended to every key.
        timeout: seconds allowed for a fetch (keep it below ``lock_ttl``).
        lock_ttl: seconds the fetch lock lives if its holder never releases it.
        poll_interval: seconds between a waiter's looks at Redis.
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        access_token_server: AsyncAccessTokenServer,
        redis: Any,
        session: aiohttp.ClientSession | None = None,
        base_url: str | None = None,
        key_prefix: str = "wxcorp_fast:",
        *,
        timeout: float = 10.0,
        lock_ttl: float = 15.0,
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        TicketCore.__init__(self, access_token_server, base_url, timeout, clock)
        self._init_redis(redis, key_prefix, lock_ttl, poll_interval)
        self._init_io(session)


class AsyncRedisAgentJsapiTicketServer(AsyncRedisJsapiTicketServer, AgentTicketCore):
    """The app's JS-SDK ticket shared through ``redis.asyncio``; see
    ``AsyncRedisJsapiTicketServer``."""
