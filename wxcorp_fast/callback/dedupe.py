"""Dedupe stores: answer WeChat's retries of a callback without running its handler again.

WeChat resends a callback (up to three times) when it gets no answer within 5 seconds. With
a store, ``serve_http`` claims each verified message under its identity (corp id, AgentID and
MsgId, else the SHA-1 of the decrypted XML) before calling the handler:

- a new message is marked *in flight* and handled; its reply is then stored;
- a copy that arrives while the first is in flight gets an empty 200 at once;
- a retry of a message already answered gets the stored reply again (re-encrypted with the
  retry's own timestamp and nonce), or an empty 200 if there was no reply;
- a handler that raised leaves nothing behind, so WeChat's retry runs it again.

What is stored is the reply's *inner XML* (plaintext: it is what the handler answered, kept
``ttl`` seconds), not the encrypted envelope, because the envelope is signed over the
request's timestamp and nonce, which differ on every retry. Entries, in-flight marks
included, expire after ``ttl`` seconds (a process that dies mid-handling leaves a mark that
turns retries into empty answers until then).

Stores come in two kinds. ``MemoryDedupeStore`` and ``RedisDedupeStore`` are synchronous:
``serve_http`` (WSGI) calls them, and so does ``serve_http_async`` (ASGI), inline.
``AsyncRedisDedupeStore`` (on ``redis.asyncio``) has ``async def`` methods that
``serve_http_async`` awaits; ``serve_http`` cannot, so it refuses one with a logged 500 naming
the store (see ``check_sync_store``). Both Redis stores use the same keys and Lua scripts, so
WSGI and ASGI workers can share one Redis. A Redis client of the wrong kind is refused when
the store is built (``TypeError``), never by silently turning dedupe off.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, ClassVar, Final, Protocol

from .request import DedupeStore, Request

__all__ = [
    "MemoryDedupeStore",
    "RedisDedupeStore",
    "AsyncRedisDedupeStore",
    "AsyncDedupeStore",
    "AnyDedupeStore",
    "is_async_store",
    "check_sync_store",
    "dedupe_key",
    "claim",
    "claim_async",
    "settle",
    "settle_async",
]

_log = logging.getLogger(__name__)

_IN_FLIGHT: Final = b"P"
_DONE: Final = b"R"


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ValueError("ttl must be a positive number of seconds")
    return ttl


class MemoryDedupeStore:
    """A dedupe store in this process's memory (one worker; thread-safe).

    Args:
        ttl: seconds an entry lives.
        max_entries: the oldest entries are dropped beyond this many.
    """

    __slots__ = ("_ttl", "_max_entries", "_entries", "_lock")

    def __init__(self, ttl: float = 300, max_entries: int = 100_000) -> None:
        self._ttl = _check_ttl(ttl)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("max_entries must be a positive int")
        self._max_entries = max_entries
        # key -> (expiry on the monotonic clock, stored reply or None while in flight);
        # insertion order is expiry order, as every entry gets the same ttl.
        self._entries: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def ttl(self) -> float:
        """Seconds an entry lives."""
        return self._ttl

    def _evict(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (expiry, _) = next(iter(entries.items()))
            if expiry > now and len(entries) < self._max_entries:
                break
            del entries[key]

    def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > now:
                return b"" if found[1] is None else found[1]
            self._entries.pop(key, None)
            self._evict(now)
            self._entries[key] = (now + self._ttl, None)
        return None

    def finish(self, key: str, reply: bytes) -> None:
        """Store the reply given to ``key``."""
        now = time.monotonic()
        with self._lock:
            self._entries.pop(key, None)
            self._evict(now)
            self._entries[key] = (now + self._ttl, bytes(reply))

    def discard(self, key: str) -> None:
        """Forget ``key`` while it is in flight (a stored reply stays)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[1] is None:
                del self._entries[key]


# Claim a key in one round trip: return the stored value, or set the in-flight mark.
_CLAIM_SCRIPT: Final = """
local value = redis.call('GET', KEYS[1])
if value then return value end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# Forget a key only while it is still in flight (never a reply another worker stored).
_DISCARD_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _is_async_client(redis: Any) -> bool:
    """Whether ``redis`` is a ``redis.asyncio`` client (its commands are coroutines)."""
    return inspect.iscoroutinefunction(getattr(redis, "execute_command", None))


def _stored(value: Any) -> bytes | None:
    """Turn what the claim script returned into ``begin``'s answer."""
    if value is None:
        return None
    value = value.encode() if isinstance(value, str) else bytes(value)
    return value[1:] if value[:1] == _DONE else b""


class _RedisStore:
    """What both Redis stores share: the client check, the keys and the scripts."""

    __slots__ = ("_redis", "_ttl_ms", "_prefix", "_claim", "_discard")

    _wants_async: ClassVar[bool] = False

    def __init__(self, redis: Any, ttl: float, key_prefix: str) -> None:
        if _is_async_client(redis) != self._wants_async:
            raise TypeError(_MSG_WRONG_CLIENT[self._wants_async].format(name=type(self).__name__))
        self._redis = redis
        self._ttl_ms = max(1, int(_check_ttl(ttl) * 1000))
        if not isinstance(key_prefix, str):
            raise TypeError("key_prefix must be str")
        self._prefix = key_prefix
        self._claim = redis.register_script(_CLAIM_SCRIPT)
        self._discard = redis.register_script(_DISCARD_SCRIPT)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ttl={self.ttl:g}, key_prefix={self._prefix!r})"

    @property
    def ttl(self) -> float:
        """Seconds an entry lives."""
        return self._ttl_ms / 1000

    def _claim_args(self, key: str) -> dict[str, list[Any]]:
        return {"keys": [self._prefix + key], "args": [_IN_FLIGHT, self._ttl_ms]}

    def _discard_args(self, key: str) -> dict[str, list[Any]]:
        return {"keys": [self._prefix + key], "args": [_IN_FLIGHT]}


_MSG_WRONG_CLIENT: Final = {
    False: "{name} needs a synchronous redis.Redis client, not a redis.asyncio one: use"
    " AsyncRedisDedupeStore for redis.asyncio (an unawaited claim would turn dedupe off)",
    True: "{name} needs a redis.asyncio client, not a synchronous redis.Redis one: use"
    " RedisDedupeStore for redis.Redis",
}


class RedisDedupeStore(_RedisStore):
    """A dedupe store in Redis, shared by every worker and machine of an agent.

    Args:
        redis: a ``redis.Redis`` client (synchronous; it is called inline, also under ASGI).
            A ``redis.asyncio`` client raises ``TypeError``: use ``AsyncRedisDedupeStore``.
        ttl: seconds an entry lives.
        key_prefix: prepended to every key (the identity holds no secret).
    """

    __slots__ = ()

    def __init__(
        self, redis: Any, ttl: float = 300, key_prefix: str = "wxcorp_fast:dedupe:"
    ) -> None:
        super().__init__(redis, ttl, key_prefix)

    @property
    def ttl(self) -> float:
        """Seconds an entry lives."""
        return self._ttl_ms / 1000

    def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""
        return _stored(self._claim(**self._claim_args(key)))

    def finish(self, key: str, reply: bytes) -> None:
        """Store the reply given to ``key``."""
        self._redis.set(self._prefix + key, _DONE + bytes(reply), px=self._ttl_ms)

    def discard(self, key: str) -> None:
        """Forget ``key`` while it is in flight (a stored reply stays)."""
        self._discard(**self._discard_args(key))


class AsyncRedisDedupeStore(_RedisStore):
    """``RedisDedupeStore`` on ``redis.asyncio``: the same keys and scripts, awaited.

    For ``.asgi`` and ``serve_http_async``, which await it without blocking the event loop;
    it shares entries with any ``RedisDedupeStore`` on the same Redis and prefix. The WSGI
    entry points refuse it (a logged 500 that names it).

    Args:
        redis: a ``redis.asyncio.Redis`` client; a synchronous one raises ``TypeError``.
        ttl: seconds an entry lives.
        key_prefix: prepended to every key (the identity holds no secret).
    """

    __slots__ = ()

    _wants_async = True

    def __init__(
        self, redis: Any, ttl: float = 300, key_prefix: str = "wxcorp_fast:dedupe:"
    ) -> None:
        super().__init__(redis, ttl, key_prefix)

    async def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""
        return _stored(await self._claim(**self._claim_args(key)))

    async def finish(self, key: str, reply: bytes) -> None:
        """Store the reply given to ``key``."""
        await self._redis.set(self._prefix + key, _DONE + bytes(reply), px=self._ttl_ms)

    async def discard(self, key: str) -> None:
        """Forget ``key`` while it is in flight (a stored reply stays)."""
        await self._discard(**self._discard_args(key))


class AsyncDedupeStore(Protocol):
    """A dedupe store whose methods are coroutines (``AsyncRedisDedupeStore``)."""

    async def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""

    async def finish(self, key: str, reply: bytes) -> None:
        """Store the inner XML of the reply given to ``key`` (``b""``: an empty answer)."""

    async def discard(self, key: str) -> None:
        """Forget ``key`` (its handler failed, so a retry must run it again)."""


AnyDedupeStore = DedupeStore | AsyncDedupeStore
"""A store of either kind: what ``serve_http_async`` and ``.asgi`` accept."""

#: store class -> whether its methods are coroutine functions (looked up once per class).
_ASYNC_KINDS: dict[type, bool] = {}


def is_async_store(store: object) -> bool:
    """Whether ``store``'s ``begin`` is an ``async def`` method (an ``AsyncDedupeStore``)."""
    kind = type(store)
    found = _ASYNC_KINDS.get(kind)
    if found is None:
        found = _ASYNC_KINDS[kind] = inspect.iscoroutinefunction(getattr(kind, "begin", None))
    return found


def check_sync_store(store: object, entry_point: str) -> None:
    """Refuse an async store where only a synchronous one can serve (the WSGI entry points).

    Raises:
        TypeError: ``store`` is an ``AsyncDedupeStore``; the text names it and ``entry_point``.
    """
    if store is not None and is_async_store(store):
        raise TypeError(
            f"{type(store).__name__} is an async dedupe store: {entry_point} cannot await it;"
            " use RedisDedupeStore (or MemoryDedupeStore) there, or serve with"
            " serve_http_async / .asgi"
        )


def dedupe_key(request: Request) -> str:
    """Return a message's identity: corp, AgentID and MsgId, else the SHA-1 of its XML."""
    msg_id = request.msg.msg_id
    if msg_id:
        return f"{request.corp_id}:{request.agent_id}:{msg_id}"
    digest = hashlib.sha1(request.raw_msg_xml, usedforsecurity=False).hexdigest()
    return f"{request.corp_id}:{request.agent_id}:sha1:{digest}"


def claim(request: Request, dedupe: DedupeStore) -> tuple[str | None, bytes | None]:
    """Claim the message in the store: ``(key, None)`` to handle it, ``(key, reply)`` if seen.

    ``reply`` is the stored inner XML (``b""``: answer empty). A store that fails is logged
    and the message is handled without it: ``(None, None)``.
    """
    return claim_key(dedupe_key(request), dedupe)


def claim_key(key: str, dedupe: DedupeStore) -> tuple[str | None, bytes | None]:
    """Claim ``key`` in the store, as ``claim`` does for a callback message (AI bots too)."""
    try:
        return key, dedupe.begin(key)
    except Exception:
        return _claim_failed()


async def claim_async(request: Request, dedupe: AnyDedupeStore) -> tuple[str | None, bytes | None]:
    """``claim`` for ``serve_http_async``: an async store is awaited, a sync one called inline."""
    key = dedupe_key(request)
    try:
        seen = dedupe.begin(key)
        return key, (await seen if inspect.isawaitable(seen) else seen)
    except Exception:
        return _claim_failed()


def _claim_failed() -> tuple[None, None]:
    _log.exception("dedupe store failed; handling the message without it")
    return None, None


def _settle_call(dedupe: AnyDedupeStore, key: str, inner: bytes | None) -> Any:
    return dedupe.discard(key) if inner is None else dedupe.finish(key, inner)


def settle(dedupe: DedupeStore | None, key: str | None, inner: bytes | None) -> None:
    """Store the reply (``inner``) or forget the claim (``None``); store failures are logged."""
    if dedupe is None or key is None:
        return  # no store, or the claim itself failed
    try:
        _settle_call(dedupe, key, inner)
    except Exception:
        _log.exception("dedupe store failed")


async def settle_async(dedupe: AnyDedupeStore | None, key: str | None, inner: bytes | None) -> None:
    """``settle`` for ``serve_http_async``: an async store is awaited, a sync one called inline."""
    if dedupe is None or key is None:
        return
    try:
        done = _settle_call(dedupe, key, inner)
        if inspect.isawaitable(done):
            await done
    except Exception:
        _log.exception("dedupe store failed")
