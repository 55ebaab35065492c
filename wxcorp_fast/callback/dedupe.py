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
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Final

from .request import DedupeStore, Request

__all__ = ["MemoryDedupeStore", "RedisDedupeStore", "dedupe_key", "claim", "claim_key", "settle"]

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


class RedisDedupeStore:
    """A dedupe store in Redis, shared by every worker and machine of an agent.

    Args:
        redis: a ``redis.Redis`` client (synchronous; it is called inline, also under ASGI).
        ttl: seconds an entry lives.
        key_prefix: prepended to every key (the identity holds no secret).
    """

    __slots__ = ("_redis", "_ttl_ms", "_prefix", "_claim", "_discard")

    def __init__(
        self, redis: Any, ttl: float = 300, key_prefix: str = "wxcorp_fast:dedupe:"
    ) -> None:
        if inspect.iscoroutinefunction(getattr(redis, "execute_command", None)):
            raise TypeError(
                "RedisDedupeStore needs a synchronous redis.Redis client (it is called inline,"
                " under WSGI and ASGI alike), not a redis.asyncio one: with an asyncio client"
                " every claim would be an unawaited coroutine and dedupe would be off"
            )
        self._redis = redis
        self._ttl_ms = max(1, int(_check_ttl(ttl) * 1000))
        if not isinstance(key_prefix, str):
            raise TypeError("key_prefix must be str")
        self._prefix = key_prefix
        self._claim = redis.register_script(_CLAIM_SCRIPT)
        self._discard = redis.register_script(_DISCARD_SCRIPT)

    @property
    def ttl(self) -> float:
        """Seconds an entry lives."""
        return self._ttl_ms / 1000

    def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""
        value = self._claim(keys=[self._prefix + key], args=[_IN_FLIGHT, self._ttl_ms])
        if value is None:
            return None
        value = value.encode() if isinstance(value, str) else bytes(value)
        return value[1:] if value[:1] == _DONE else b""

    def finish(self, key: str, reply: bytes) -> None:
        """Store the reply given to ``key``."""
        self._redis.set(self._prefix + key, _DONE + bytes(reply), px=self._ttl_ms)

    def discard(self, key: str) -> None:
        """Forget ``key`` while it is in flight (a stored reply stays)."""
        self._discard(keys=[self._prefix + key], args=[_IN_FLIGHT])


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
        _log.exception("dedupe store failed; handling the message without it")
        return None, None


def settle(dedupe: DedupeStore | None, key: str | None, inner: bytes | None) -> None:
    """Store the reply (``inner``) or forget the claim (``None``); store failures are logged."""
    if dedupe is None or key is None:
        return  # no store, or the claim itself failed
    try:
        if inner is None:
            dedupe.discard(key)
        else:
            dedupe.finish(key, inner)
    except Exception:
        _log.exception("dedupe store failed")
