"""Access-token servers: where ``CorpClient`` gets its access_token.

Both servers refresh lazily, on the first ``token()`` call past the refresh time, with no
background thread (threads do not survive ``fork()`` in pre-forking servers). Refresh
margins are those of chanxuehong/wechat's ``corp/access_token_server.go``:

=====================  =================  ==========================
``expires_in`` (s)     refresh after      example
=====================  =================  ==========================
> 3600                 expires_in - 600   7200 -> 6600
1801 .. 3600           expires_in - 300   3600 -> 3300
301 .. 1800            expires_in - 60    1800 -> 1740
60 .. 300              expires_in - 10    300 -> 290
< 60 or > 1 year       refused (``TransportError``)
=====================  =================  ==========================

(one year is 31556952 s, 365.2425 days, as in the Go original.) ``token_refresh()`` fetches
anew, except that a call starting within 2 seconds after a fetch completed gets that
fetch's token (the Go original's convergence window), so a burst of 42001 answers costs
one fetch. A client whose call was refused (42001/40014) says which token failed:
``token_refresh(stale=token)`` gets the cached token when it is another one (a newer one:
someone refreshed meanwhile), and fetches anew when the cached token is the refused one,
window or not; the window only merges refreshes, it never hands back a refused token.
After a failed fetch the caller gets the error, and so does every caller until the backoff
delay has passed (1 s, doubling per consecutive failure, at most 60 s): the next fetch is
spaced instead of a storm of ``gettoken`` calls.
"""

from __future__ import annotations

import abc
import copy
import functools
import hashlib
import inspect
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, Final, NamedTuple, TypeVar

import urllib3

from ..errors import TransportError, WXCorpError
from ._http import DEFAULT_BASE_URL, build_url, check_errcode, default_pool_manager, request_json

__all__ = [
    "AccessTokenServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "refresh_after",
    "refresh_refused",
    "REFRESH_WINDOW",
    "REREAD_INTERVAL",
]

logger = logging.getLogger(__name__)

GETTOKEN_PATH: Final = "/cgi-bin/gettoken"
REFRESH_WINDOW: Final = 2.0
# Redis: how long a process answers from its local copy before reading the shared token again
REREAD_INTERVAL: Final = 1.0
MIN_EXPIRES_IN: Final = 60
MAX_EXPIRES_IN: Final = 31556952  # 60*60*24*365.2425
# (lower bound exclusive, seconds taken off) from the Go original, longest lifetimes first
_MARGINS: Final = ((3600, 600), (1800, 300), (300, 60), (0, 10))
_UNLOCK_LUA: Final = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def refresh_after(expires_in: int) -> int:
    """Return after how many seconds a token living ``expires_in`` seconds is refreshed.

    Raises:
        TransportError: ``expires_in`` is under 60 s, or more than a year.
    """
    if MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
        for bound, margin in _MARGINS:
            if expires_in > bound:
                return expires_in - margin
    raise TransportError(
        f"gettoken answered expires_in {expires_in}: outside {MIN_EXPIRES_IN} s .. 1 year"
    )


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


_R = TypeVar("_R")


@functools.lru_cache(maxsize=None)
def _takes_stale(function: Callable[..., Any]) -> bool:
    """Whether a ``token_refresh`` implementation accepts the ``stale`` keyword."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == "stale" or p.kind is p.VAR_KEYWORD for p in parameters)


def refresh_refused(token_refresh: Callable[..., _R], stale: str) -> _R:
    """Call a server's bound ``token_refresh`` after the API refused ``stale``.

    With ``stale=stale`` when the implementation takes it; bare for servers written
    against the original ``token_refresh()``. Works alike for the async servers (it
    returns their coroutine).
    """
    if _takes_stale(getattr(token_refresh, "__func__", token_refresh)):
        return token_refresh(stale=stale)
    return token_refresh()


def usable(token: str, recent: bool, force: bool, stale: str | None) -> bool:
    """Whether a stored token, not yet due, answers a ``token()`` / ``token_refresh()`` call.

    ``recent``: it was fetched less than ``REFRESH_WINDOW`` seconds ago. A refresh told
    which token the API refused gets any other one (a newer one) and never that one;
    a bare refresh gets a recent one; ``token()`` gets any.
    """
    if stale is not None:
        return token != stale
    return recent or not force


class _Cached(NamedTuple):
    """A token and, on the server's clock: until when it answers ``token()`` without a
    look elsewhere, when it is due, and when it was fetched."""

    token: str
    fresh_until: float
    refresh_at: float
    fetched_at: float


class _Backoff:
    """The last fetch error and when the next fetch may be tried."""

    __slots__ = ("failures", "retry_at", "error")

    def __init__(self) -> None:
        self.failures = 0
        self.retry_at = 0.0
        self.error: WXCorpError | None = None

    def succeeded(self) -> None:
        """Forget past failures."""
        self.failures = 0
        self.error = None

    def check(self, now: float) -> None:
        """Raise (a copy of) the last error while its backoff delay runs."""
        if self.error is not None and now < self.retry_at:
            raise copy.copy(self.error)

    def failed(self, now: float, error: WXCorpError, initial: float, maximum: float) -> None:
        """Record a failed fetch and push the next try out."""
        self.failures += 1
        self.retry_at = now + min(maximum, initial * 2 ** (self.failures - 1))
        self.error = error


_INSTANCES: weakref.WeakSet[_TokenServerBase] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for server in list(_INSTANCES):
        server._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _TokenServerBase(AccessTokenServer):
    """What both servers share: credentials, the gettoken call, locks, backoff, fork safety."""

    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        http: urllib3.PoolManager | None,
        base_url: str,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        if not corp_id or not corp_secret:
            raise ValueError("corp_id and corp_secret must not be empty")
        self.corp_id = corp_id
        self._corp_secret = corp_secret
        self._owns_http = http is None
        self._http = http if http is not None else default_pool_manager()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._backoff = _Backoff()
        self._cached: _Cached | None = None
        _INSTANCES.add(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(corp_id={self.corp_id!r}, base_url={self.base_url!r})"

    def token(self) -> str:
        """Return the cached access_token, fetching one when there is none or it is due."""
        cached = self._cached
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.token
        return self._obtain(False, None)

    def token_refresh(self, *, stale: str | None = None) -> str:
        """Fetch a new access_token, or share one fetched less than 2 seconds ago.

        Args:
            stale: the token the API just refused (42001/40014). When given, the cached
                token is returned if it is another one, and a new one is fetched if not.
        """
        return self._obtain(True, stale)

    @abc.abstractmethod
    def _obtain(self, force: bool, stale: str | None) -> str:
        """Return a due-free token: fetched, shared or found, as the server keeps them."""

    def _after_fork(self) -> None:
        """Give the child fresh locks (a parent thread may hold one) and its own pool."""
        self._lock = threading.Lock()
        if self._owns_http:
            self._http = default_pool_manager()

    def _fetch(self, now: float) -> tuple[str, int]:
        """Call gettoken once, within the backoff rules; return (token, refresh after)."""
        self._backoff.check(now)
        try:
            token, expires_in, lifetime = self._gettoken()
        except WXCorpError as exc:
            self._cached = None
            self._backoff.failed(now, exc, self.backoff_initial, self.backoff_max)
            logger.warning("access_token fetch for corp %s failed: %s", self.corp_id, exc)
            raise
        self._backoff.succeeded()
        logger.info(
            "fetched an access_token for corp %s: expires in %d s, refreshed after %d s",
            self.corp_id, expires_in, lifetime,
        )
        return token, lifetime

    def _gettoken(self) -> tuple[str, int, int]:
        params = {"corpid": self.corp_id, "corpsecret": self._corp_secret}
        url = build_url(self.base_url, GETTOKEN_PATH, params)
        data = request_json(self._http, "GET", url, timeout=self.timeout)
        check_errcode(data)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token:
            raise TransportError("gettoken answered no access_token")
        if type(expires_in) is not int:
            raise TransportError("gettoken answered no integer expires_in")
        return token, expires_in, refresh_after(expires_in)


class DefaultAccessTokenServer(_TokenServerBase):
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
        super().__init__(corp_id, corp_secret, http, base_url, timeout, clock)

    def _obtain(self, force: bool, stale: str | None) -> str:
        with self._lock:
            now = self._clock()
            cached = self._cached
            if (
                cached is not None
                and now < cached.refresh_at
                and usable(cached.token, now - cached.fetched_at < REFRESH_WINDOW, force, stale)
            ):
                return cached.token
            token, lifetime = self._fetch(now)
            self._cached = _Cached(token, now + lifetime, now + lifetime, self._clock())
            return token


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisAccessTokenServer(_TokenServerBase):
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
        super().__init__(corp_id, corp_secret, http, base_url, timeout, clock)
        if lock_ttl <= 0 or poll_interval <= 0:
            raise ValueError("lock_ttl and poll_interval must be positive")
        digest = hashlib.sha256(corp_secret.encode("utf-8")).hexdigest()[:16]
        self.key = f"{key_prefix}access_token:{corp_id}:{digest}"
        self.lock_key = self.key + ":lock"
        self.recent_key = self.key + ":recent"
        self._redis = redis
        self.lock_ttl = lock_ttl
        self.poll_interval = poll_interval
        self._unlock_script = redis.register_script(_UNLOCK_LUA)

    def _obtain(self, force: bool, stale: str | None) -> str:
        with self._lock:
            cached, now = self._cached, self._clock()
            if not force and cached is not None and now < cached.fresh_until:
                return cached.token  # another thread read Redis while this one waited
            try:
                found = self._read(force, stale)
            except Exception as exc:  # noqa: BLE001 - redis-py's errors, unimported here
                if force or cached is None or now >= cached.refresh_at:
                    raise
                logger.warning(
                    "Redis unreadable (%s): keeping corp %s's local access_token until due",
                    type(exc).__name__, self.corp_id,
                )
                self._cached = cached._replace(fresh_until=now + REREAD_INTERVAL)
                return cached.token
            if found is not None:
                return found
            self._backoff.check(self._clock())
            give_up = self._clock() + 2 * self.lock_ttl
            while True:
                owner = secrets.token_hex(16)
                if self._redis.set(self.lock_key, owner, nx=True, px=int(self.lock_ttl * 1000)):
                    try:
                        return self._read(force, stale) or self._fetch_and_store()
                    finally:
                        self._unlock_script(keys=[self.lock_key], args=[owner])
                if self._clock() > give_up:
                    raise TransportError("timed out waiting for the access_token lock in Redis")
                time.sleep(self.poll_interval)
                found = self._read(force, stale)
                if found is not None:
                    return found

    def _read(self, force: bool, stale: str | None) -> str | None:
        """Return the stored token if it answers this call (see ``usable``), and keep it."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(self.recent_key)
        pipe.hget(self.key, "token")
        pipe.pttl(self.key)
        recent, token, ttl_ms = pipe.execute()
        if token is None or ttl_ms <= 0:
            return None
        value = _text(token)
        if not usable(value, bool(recent), force, stale):
            return None
        self._keep(value, ttl_ms / 1000)
        return value

    def _keep(self, token: str, ttl: float) -> None:
        """Make ``token``, due in ``ttl`` seconds, the local copy."""
        now = self._clock()
        self._cached = _Cached(token, now + min(ttl, REREAD_INTERVAL), now + ttl, now)

    def _fetch_and_store(self) -> str:
        now = self._clock()
        token, lifetime = self._fetch(now)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self.key)
        pipe.hset(self.key, mapping={"token": token, "refresh_after": lifetime})
        pipe.pexpire(self.key, lifetime * 1000)
        pipe.set(self.recent_key, "1", px=int(REFRESH_WINDOW * 1000))
        pipe.execute()
        self._keep(token, lifetime)
        return token

    def __repr__(self) -> str:
        return (
            f"RedisAccessTokenServer(corp_id={self.corp_id!r}, base_url={self.base_url!r},"
            f" key={self.key!r})"
        )
