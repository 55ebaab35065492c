"""What every token server shares, blocking or async: the rules, and the fetch as flows.

Refresh margins are those of chanxuehong/wechat's ``corp/access_token_server.go``:

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

The same rules serve every cached credential: :class:`CredentialCore` is one credential
(cache, backoff, the fetch's checks), parametrized by its ``kind`` (its name in logs and
Redis keys), the answer's ``field`` and ``_request_flow`` (the fetch itself):
:class:`TokenCore` fetches the access_token with ``gettoken``, :class:`TicketCore` and
:class:`AgentTicketCore` the JS-SDK tickets with an access_token of their token server
(``get_jsapi_ticket``, ``ticket/get?type=agent_config``, under the calls' retry rules).
:class:`LocalCache` keeps a credential in the process, :class:`RedisCache` in Redis (keys,
lock and window); :class:`LocalCore` and :class:`RedisCore` are the access_token's. Their
``_obtain_flow`` is run by a server's I/O (``tokens``, ``async_tokens``), see ``_flow``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import logging
import secrets
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Final, NamedTuple, TypeVar

from ..errors import TransportError, WXCorpError
from . import _directory
from ._calls import Call, exchange
from ._flow import Flow
from ._http import DEFAULT_BASE_URL, build_url, check_errcode

__all__ = [
    "AgentTicketCore",
    "CredentialCore",
    "GETTOKEN_PATH",
    "LocalCache",
    "LocalCore",
    "RedisCache",
    "TicketCore",
    "REFRESH_WINDOW",
    "REREAD_INTERVAL",
    "RedisCore",
    "TokenCore",
    "refresh_after",
    "refresh_refused",
    "usable",
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

_R = TypeVar("_R")


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


class CredentialCore:
    """A cached credential without its I/O: cache, backoff and the fetch's checks.

    ``token()`` (``ticket()``) answers from ``_cached`` while ``clock() < fresh_until``;
    anything else runs ``_obtain_flow`` (of a cache class) under the server's lock, which
    fetches with ``_request_flow`` (of a fetch class).
    """

    kind: ClassVar[str] = "credential"  # its name in logs, errors and Redis keys
    field: ClassVar[str] = "credential"  # the answer's field holding it
    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 60.0

    def __init__(
        self, corp_id: str, key_id: str, base_url: str, timeout: float, clock: Callable[[], float]
    ) -> None:
        self.corp_id = corp_id
        self.key_id = key_id  # who the credential is of, in Redis keys (never a secret)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._backoff = _Backoff()
        self._cached: _Cached | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(corp_id={self.corp_id!r}, base_url={self.base_url!r})"

    def _obtain_flow(self, force: bool, stale: str | None) -> Flow[str]:
        """Return a credential that is not due: kept, shared or fetched (see ``usable``)."""
        raise NotImplementedError

    def _request_flow(self) -> Flow[dict[str, Any]]:
        """Ask WeChat for the credential once; the answer's JSON object."""
        raise NotImplementedError

    def _fetch_flow(self, now: float) -> Flow[tuple[str, int]]:
        """Fetch once, within the backoff rules; return (credential, refresh after)."""
        self._backoff.check(now)
        try:
            data = yield from self._request_flow()
            check_errcode(data)
            value, expires_in = data.get(self.field), data.get("expires_in")
            if not isinstance(value, str) or not value:
                raise TransportError(f"the {self.kind} fetch answered no {self.field}")
            if type(expires_in) is not int:
                raise TransportError(f"the {self.kind} fetch answered no integer expires_in")
            lifetime = refresh_after(expires_in)
        except WXCorpError as exc:
            self._cached = None
            self._backoff.failed(now, exc, self.backoff_initial, self.backoff_max)
            logger.warning("%s fetch for corp %s failed: %s", self.kind, self.corp_id, exc)
            raise
        self._backoff.succeeded()
        logger.info(
            "fetched a %s for corp %s: expires in %d s, refreshed after %d s",
            self.kind,
            self.corp_id,
            expires_in,
            lifetime,
        )
        return value, lifetime


class TokenCore(CredentialCore):
    """The access_token: fetched with ``gettoken`` from the corp ID and secret."""

    kind = "access_token"
    field = "access_token"

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        base_url: str,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        if not corp_id or not corp_secret:
            raise ValueError("corp_id and corp_secret must not be empty")
        digest = hashlib.sha256(corp_secret.encode("utf-8")).hexdigest()[:16]
        super().__init__(corp_id, f"{corp_id}:{digest}", base_url, timeout, clock)
        self._corp_secret = corp_secret

    def _request_flow(self) -> Flow[dict[str, Any]]:
        params = {"corpid": self.corp_id, "corpsecret": self._corp_secret}
        data: dict[str, Any] = yield ("get", build_url(self.base_url, GETTOKEN_PATH, params))
        return data


class TicketCore(CredentialCore):
    """The corp's JS-SDK jsapi_ticket (get_jsapi_ticket), fetched with an access_token of
    ``access_token_server`` under the calls' retry rules: the steps ``"token"``,
    ``"refresh"`` and ``"send"`` (the ticket call, see ``_ticket_call``)."""

    kind = "jsapi_ticket"
    field = "ticket"

    def __init__(
        self,
        access_token_server: Any,
        base_url: str | None,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        corp_id = getattr(access_token_server, "corp_id", None)
        if not isinstance(corp_id, str) or not corp_id:
            raise ValueError("access_token_server must have a corp_id")
        key_id = getattr(access_token_server, "key_id", None) or corp_id
        if base_url is None:
            base_url = getattr(access_token_server, "base_url", None) or DEFAULT_BASE_URL
        super().__init__(corp_id, str(key_id), base_url, timeout, clock)
        self.access_token_server = access_token_server
        self._ticket_call = self._make_call()

    def _make_call(self) -> Call[dict[str, Any]]:
        return _directory.get_jsapi_ticket()

    def _request_flow(self) -> Flow[dict[str, Any]]:
        return (yield from exchange(self._ticket_call, ()))


class AgentTicketCore(TicketCore):
    """The app's JS-SDK jsapi_ticket (``ticket/get?type=agent_config``), for agentConfig."""

    kind = "agent_jsapi_ticket"

    def _make_call(self) -> Call[dict[str, Any]]:
        return _directory.get_agent_jsapi_ticket()


class LocalCache(CredentialCore):
    """A credential kept in the process: single-flight under the server's lock."""

    def _obtain_flow(self, force: bool, stale: str | None) -> Flow[str]:
        now = self._clock()
        cached = self._cached
        if (
            cached is not None
            and now < cached.refresh_at
            and usable(cached.token, now - cached.fetched_at < REFRESH_WINDOW, force, stale)
        ):
            return cached.token
        token, lifetime = yield from self._fetch_flow(now)
        self._cached = _Cached(token, now + lifetime, now + lifetime, self._clock())
        return token


class LocalCore(LocalCache, TokenCore):
    """An access_token kept in the process."""


def _redis_error(exc: Exception) -> bool:
    """Whether ``exc`` is redis-py's (connection lost, timeout, ...), without importing it."""
    errors = sys.modules.get("redis.exceptions")
    return errors is not None and isinstance(exc, errors.RedisError)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCache(CredentialCore):
    """A credential shared through Redis: keys, lock, window and local copy.

    See ``RedisAccessTokenServer`` for the scheme; the key is
    ``{key_prefix}{kind}:{key_id}``. The Redis commands are steps ``("redis", op)``:
    ``op(client)`` returns redis-py's result, or with ``redis.asyncio`` its awaitable, so
    one flow serves both clients.
    """

    def _init_redis(
        self, redis: Any, key_prefix: str, lock_ttl: float, poll_interval: float
    ) -> None:
        if lock_ttl <= 0 or poll_interval <= 0:
            raise ValueError("lock_ttl and poll_interval must be positive")
        self.key = f"{key_prefix}{self.kind}:{self.key_id}"
        self.lock_key = self.key + ":lock"
        self.recent_key = self.key + ":recent"
        self._redis = redis
        self.lock_ttl = lock_ttl
        self.poll_interval = poll_interval
        self._unlock_script = redis.register_script(_UNLOCK_LUA)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(corp_id={self.corp_id!r}, base_url={self.base_url!r},"
            f" key={self.key!r})"
        )

    def _obtain_flow(self, force: bool, stale: str | None) -> Flow[str]:
        cached, now = self._cached, self._clock()
        if not force and cached is not None and now < cached.fresh_until:
            return cached.token  # another caller read Redis while this one waited
        try:
            found = yield from self._read_flow(force, stale)
        except Exception as exc:  # noqa: BLE001 - narrowed to redis-py's errors below
            if force or cached is None or now >= cached.refresh_at or not _redis_error(exc):
                raise
            logger.warning(
                "Redis unreadable (%s): keeping corp %s's local %s until due",
                type(exc).__name__,
                self.corp_id,
                self.kind,
            )
            self._cached = cached._replace(fresh_until=now + REREAD_INTERVAL)
            return cached.token
        if found is not None:
            return found
        self._backoff.check(self._clock())
        give_up = self._clock() + 2 * self.lock_ttl
        lock_ms = int(self.lock_ttl * 1000)
        while True:
            owner = secrets.token_hex(16)
            if (
                yield (
                    "redis",
                    lambda r, owner=owner: r.set(self.lock_key, owner, nx=True, px=lock_ms),
                )
            ):
                try:
                    found = yield from self._read_flow(force, stale)
                    if found is None:
                        found = yield from self._fetch_and_store_flow()
                    return found
                finally:
                    yield (
                        "redis",
                        lambda r, owner=owner: self._unlock_script(
                            keys=[self.lock_key], args=[owner], client=r
                        ),
                    )
            if self._clock() > give_up:
                raise TransportError(f"timed out waiting for the {self.kind} lock in Redis")
            yield ("sleep", self.poll_interval)
            found = yield from self._read_flow(force, stale)
            if found is not None:
                return found

    def _read_flow(self, force: bool, stale: str | None) -> Flow[str | None]:
        """Return the stored token if it answers this call (see ``usable``), and keep it."""
        recent, token, ttl_ms = yield (
            "redis",
            lambda r: (
                r.pipeline(transaction=False)
                .exists(self.recent_key)
                .hget(self.key, "token")
                .pttl(self.key)
                .execute()
            ),
        )
        if token is None or ttl_ms <= 0:
            return None
        value = _text(token)
        if not usable(value, bool(recent), force, stale):
            return None
        self._keep(value, ttl_ms / 1000)
        return value

    def _fetch_and_store_flow(self) -> Flow[str]:
        token, lifetime = yield from self._fetch_flow(self._clock())
        yield (
            "redis",
            lambda r: (
                r.pipeline(transaction=True)
                .delete(self.key)
                .hset(self.key, mapping={"token": token, "refresh_after": lifetime})
                .pexpire(self.key, lifetime * 1000)
                .set(self.recent_key, "1", px=int(REFRESH_WINDOW * 1000))
                .execute()
            ),
        )
        self._keep(token, lifetime)
        return token

    def _keep(self, token: str, ttl: float) -> None:
        """Make ``token``, due in ``ttl`` seconds, the local copy."""
        now = self._clock()
        self._cached = _Cached(token, now + min(ttl, REREAD_INTERVAL), now + ttl, now)


class RedisCore(RedisCache, TokenCore):
    """An access_token shared through Redis."""

    def __init__(
        self,
        corp_id: str,
        corp_secret: str,
        base_url: str,
        timeout: float,
        clock: Callable[[], float],
        redis: Any,
        key_prefix: str,
        lock_ttl: float,
        poll_interval: float,
    ) -> None:
        TokenCore.__init__(self, corp_id, corp_secret, base_url, timeout, clock)
        self._init_redis(redis, key_prefix, lock_ttl, poll_interval)
