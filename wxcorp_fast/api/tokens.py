"""Access-token servers: where ``CorpClient`` gets its access_token; JS-SDK ticket servers.

Both servers refresh lazily, on the first ``token()`` call past the refresh time, with no
background thread (threads do not survive ``fork()`` in pre-forking servers). Their rules
(refresh margins, the 2-second window, the refused-token rule, backoff, Redis keys and
lock) live in ``_token_flows``, written as flows without I/O (see ``_flow``); this module
performs them with urllib3, redis-py and a thread lock. The JS-SDK ticket servers are the
same servers for another credential (``_token_flows.TicketCore``): cached, single-flight,
shared through Redis alike, fetched with an access_token of their token server.
"""

from __future__ import annotations

import abc
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import urllib3

from ._calls import Call
from ._directory import jsapi_signature
from ._flow import Step, run
from ._http import DEFAULT_BASE_URL, default_pool_manager, request_json
from ._token_flows import (
    REFRESH_WINDOW,
    REREAD_INTERVAL,
    AgentTicketCore,
    CredentialCore,
    LocalCache,
    LocalCore,
    RedisCache,
    RedisCore,
    TicketCore,
    refresh_after,
    refresh_refused,
)

__all__ = [
    "AccessTokenServer",
    "AgentJsapiTicketServer",
    "JsapiTicketServer",
    "RedisAgentJsapiTicketServer",
    "RedisJsapiTicketServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "refresh_after",
    "refresh_refused",
    "REFRESH_WINDOW",
    "REREAD_INTERVAL",
]


class AccessTokenServer(abc.ABC):
    """Where a client gets its access_token: cached, and fetched anew on request.

    ``token_refresh`` may also take a keyword-only ``stale`` argument, the token the API
    just refused: the clients pass it when the method's signature has it (the servers of
    this package do), and call ``token_refresh()`` bare otherwise.
    """

    @abc.abstractmethod
    def token(self) -> str:
        """Return the cached access_token, fetching one when there is none or it is due."""

    @abc.abstractmethod
    def token_refresh(self) -> str:
        """Fetch a new access_token, or share one fetched less than 2 seconds ago."""


_INSTANCES: weakref.WeakSet[_Blocking] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for server in list(_INSTANCES):
        server._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Blocking(CredentialCore):
    """The blocking I/O of a credential server: urllib3, a thread lock, fork safety."""

    _redis: Any  # RedisCache's client, for its "redis" steps

    def _init_io(self, http: urllib3.PoolManager | None) -> None:
        self._owns_http = http is None
        self._http = http if http is not None else default_pool_manager()
        self._lock = threading.Lock()
        _INSTANCES.add(self)

    def _current(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.token
        return self._obtain(False, None)

    def _obtain(self, force: bool, stale: str | None) -> str:
        with self._lock:
            return run(self._obtain_flow(force, stale), self._perform)

    def _perform(self, step: Step) -> Any:
        kind, arg = step
        if kind == "get":
            return request_json(self._http, "GET", arg, timeout=self.timeout)
        if kind == "redis":
            return arg(self._redis)
        time.sleep(arg)  # "sleep"
        return None

    def _after_fork(self) -> None:
        """Give the child fresh locks (a parent thread may hold one) and its own pool."""
        self._lock = threading.Lock()
        if self._owns_http:
            self._http = default_pool_manager()


class _Tokens(_Blocking):
    def token(self) -> str:
        """Return the cached access_token, fetching one when there is none or it is due."""
        return self._current()

    def token_refresh(self, *, stale: str | None = None) -> str:
        """Fetch a new access_token, or share one fetched less than 2 seconds ago.

        Args:
            stale: the token the API just refused (42001/40014). When given, the cached
                token is returned if it is another one, and a new one is fetched if not.
        """
        return self._obtain(True, stale)


class _Tickets(_Blocking):
    """A ticket server's methods, and the steps of its fetch: an access_token of its
    token server, the ticket call sent with it."""

    access_token_server: AccessTokenServer
    _ticket_call: Call[Any]

    def ticket(self) -> str:
        """Return the cached ticket, fetching one when there is none or it is due."""
        return self._current()

    def ticket_refresh(self) -> str:
        """Fetch a new ticket, or share one fetched less than 2 seconds ago."""
        return self._obtain(True, None)

    def signature(self, noncestr: str, timestamp: int | str, url: str) -> str:
        """Return the JS-SDK signature of ``url`` with the cached ticket (``jsapi_signature``)."""
        return jsapi_signature(self.ticket(), noncestr, timestamp, url)

    def _perform(self, step: Step) -> Any:
        kind, arg = step
        if kind == "send":
            url = self._ticket_call.url(self.base_url, arg)
            return request_json(self._http, "GET", url, timeout=self.timeout)
        if kind == "token":
            return self.access_token_server.token()
        if kind == "refresh":
            return refresh_refused(self.access_token_server.token_refresh, arg)
        return super()._perform(step)


class DefaultAccessTokenServer(_Tokens, LocalCore, AccessTokenServer):
    """One process's access_token: thread-safe, single-flight, no background thread.

    Args:
        corp_id: the corp ID (企业ID).
        corp_secret: the application's secret; it never appears in logs, errors or repr.
        http: the ``urllib3.PoolManager`` to use (one is made when None).
        base_url: the API's base URL.
        timeout: seconds allowed for a gettoken call.
        clock: a monotonic clock in seconds (injected in tests).
    """

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        http: urllib3.PoolManager | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        LocalCore.__init__(self, corp_id, corp_secret, base_url, timeout, clock)
        self._init_io(http)


class RedisAccessTokenServer(_Tokens, RedisCore, AccessTokenServer):
    """An access_token shared by processes and machines through Redis (redis-py).

    The token lives in a hash under ``{key_prefix}access_token:{corp_id}:{h}``, where ``h``
    is the first 16 hex digits of the secret's SHA-256 (never the secret), with a Redis TTL
    that ends at its refresh time. Fetches are serialised by a lock key (``SET NX PX``,
    ``lock_ttl`` seconds, released by a compare-and-delete Lua script, so a dead holder
    delays others by at most ``lock_ttl``); waiters poll Redis every ``poll_interval``
    seconds. A fetch also sets a ``:recent`` key for 2 seconds: ``token_refresh()`` calls
    of every process within that window share the fetch. ``token()`` answers from a
    process-local copy for at most ``REREAD_INTERVAL`` (1 s), so a cached hit costs no
    round trip, and then reads the shared token again (one pipelined round trip a second):
    a token refreshed by any process reaches every other within a second. A process whose
    call was refused adopts a newer token it finds in Redis instead of fetching. While
    Redis cannot be read, ``token()`` keeps answering from the local copy until it is due.

    Args:
        corp_id: the corp ID.
        corp_secret: the application's secret.
        redis: a ``redis.Redis`` client.
        http: the ``urllib3.PoolManager`` to use (one is made when None).
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
        http: urllib3.PoolManager | None = None,
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
        self._init_io(http)


class JsapiTicketServer(_Tickets, LocalCache, TicketCore):
    """The corp's JS-SDK jsapi_ticket (for ``wx.config``), kept in the process.

    The access-token servers' rules for another credential: fetched lazily with an
    access_token of ``access_token_server`` (``GET /cgi-bin/get_jsapi_ticket``; a refused
    token is refreshed and the fetch retried once), one fetch at a time, refreshed before
    expiry (7200 s → after 6600 s), backoff after a failed fetch. ``ticket()``,
    ``ticket_refresh()``, ``signature(noncestr, timestamp, url)``.

    Args:
        access_token_server: the token server whose access_token fetches the ticket (it
            must have a ``corp_id``, as this package's servers do).
        http: the ``urllib3.PoolManager`` to use (one is made when None).
        base_url: the API's base URL (the token server's when None).
        timeout: seconds allowed for a fetch.
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        access_token_server: AccessTokenServer,
        http: urllib3.PoolManager | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        TicketCore.__init__(self, access_token_server, base_url, timeout, clock)
        self._init_io(http)


class AgentJsapiTicketServer(JsapiTicketServer, AgentTicketCore):
    """The app's JS-SDK ticket (for ``wx.agentConfig``: ``GET
    /cgi-bin/ticket/get?type=agent_config``), kept in the process; see ``JsapiTicketServer``."""


class RedisJsapiTicketServer(_Tickets, RedisCache, TicketCore):
    """The corp's JS-SDK jsapi_ticket shared through Redis, as ``RedisAccessTokenServer``
    shares the access_token: under ``{key_prefix}jsapi_ticket:{corp_id}:{h}`` (``h`` the
    token server's secret hash), with the same lock, window and 1-second re-read.

    Args:
        access_token_server: the token server whose access_token fetches the ticket.
        redis: a ``redis.Redis`` client.
        http: the ``urllib3.PoolManager`` to use (one is made when None).
        base_url: the API's base URL (the token server's when None).
        key_prefix: prepended to every key.
        timeout: seconds allowed for a fetch (keep it below ``lock_ttl``).
        lock_ttl: seconds the fetch lock lives if its holder never releases it.
        poll_interval: seconds between a waiter's looks at Redis.
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        access_token_server: AccessTokenServer,
        redis: Any,
        http: urllib3.PoolManager | None = None,
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
        self._init_io(http)


class RedisAgentJsapiTicketServer(RedisJsapiTicketServer, AgentTicketCore):
    """The app's JS-SDK ticket shared through Redis (under
    ``{key_prefix}agent_jsapi_ticket:...``); see ``RedisJsapiTicketServer``."""
