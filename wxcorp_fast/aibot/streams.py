"""Stream stores: where a streamed answer's accumulated content waits for WeChat's refreshes.

A streamed answer (流式消息) is produced in the worker that got the user's message; WeChat
Work then refreshes it by stream id, and a refresh may land on any worker. The producer
``create``s the stream, ``publish``es the accumulated content after each chunk and once
more, finished, at the end; any worker answers a refresh with ``get``.

A stream lives ``ttl`` seconds after its creation or its last refresh (``get``): one that is
never refreshed again expires, and the producer's next ``publish`` returns ``False``, which
stops its generator. WeChat Work refreshes a stream for at most 6 minutes.

- ``MemoryStreamStore``: this process only (one worker; threads and asyncio tasks alike).
- ``RedisStreamStore``: shared by every worker and machine (Redis >= 6.2: ``GETEX``,
  ``SET ... KEEPTTL``); a synchronous ``redis.Redis`` client, called inline under ASGI too.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = ["StreamState", "StreamStore", "MemoryStreamStore", "RedisStreamStore"]

_FINISHED = b"1"
_OPEN = b"0"


class StreamState(NamedTuple):
    """A stream's accumulated content, and whether it is finished."""

    content: str
    finished: bool


class StreamStore(Protocol):
    """What the AI-bot server needs of a stream store."""

    def create(self, stream_id: str, content: str, finished: bool) -> None:
        """Start a stream (its ttl starts now)."""

    def publish(self, stream_id: str, content: str, finished: bool) -> bool:
        """Replace the stream's content; ``False`` when the stream expired (nothing stored)."""

    def get(self, stream_id: str) -> StreamState | None:
        """Return the stream (its ttl starts again), or ``None`` if unknown or expired."""


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ValueError("ttl must be a positive number of seconds")
    return ttl


class MemoryStreamStore:
    """A stream store in this process's memory (thread-safe).

    Args:
        ttl: seconds a stream lives after its creation or its last refresh.
        max_streams: the streams closest to expiry are dropped beyond this many.
        clock: a monotonic clock (``time.monotonic``), injectable for tests.

    ``get`` (every refresh) takes no lock: it reads the entry and moves its expiry later,
    each one atomic step. ``create`` and ``publish`` hold the lock; ``create`` drops the
    expired streams and, beyond ``max_streams``, those closest to expiry.
    """

    __slots__ = ("_ttl", "_max", "_clock", "_streams", "_lock")

    def __init__(
        self,
        ttl: float = 60.0,
        max_streams: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = _check_ttl(ttl)
        if isinstance(max_streams, bool) or not isinstance(max_streams, int) or max_streams < 1:
            raise ValueError("max_streams must be a positive int")
        self._max = max_streams
        self._clock = clock
        # stream id -> [expiry, StreamState, placed]: ``placed`` is the expiry the entry had
        # when it was put last in the dict, so the dict is in ``placed`` order. A refresh
        # only moves ``expiry`` later; ``_evict`` puts such an entry last again when it
        # comes first, so that the first entry whose expiry is its ``placed`` is the one
        # closest to expiry.
        self._streams: OrderedDict[str, list[Any]] = OrderedDict()  # O(1) first item
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._streams)

    def __repr__(self) -> str:
        return f"MemoryStreamStore(ttl={self._ttl!r}, streams={len(self._streams)})"

    def _evict(self, now: float) -> None:
        streams = self._streams
        while streams:
            key = next(iter(streams))
            entry = streams[key]
            expiry = entry[0]
            if expiry > now and expiry != entry[2]:  # refreshed since placed: place it again
                entry[2] = expiry
                streams.move_to_end(key)
                continue
            if expiry > now and len(streams) < self._max:
                break
            del streams[key]

    def create(self, stream_id: str, content: str, finished: bool) -> None:
        """Start a stream (its ttl starts now)."""
        now = self._clock()
        expiry = now + self._ttl
        with self._lock:
            self._streams.pop(stream_id, None)
            self._evict(now)
            self._streams[stream_id] = [expiry, StreamState(content, finished), expiry]

    def publish(self, stream_id: str, content: str, finished: bool) -> bool:
        """Replace the stream's content; ``False`` when the stream expired."""
        now = self._clock()
        with self._lock:
            entry = self._streams.get(stream_id)
            if entry is None or entry[0] <= now:
                return False
            entry[1] = StreamState(content, finished)
            return True

    def get(self, stream_id: str) -> StreamState | None:
        """Return the stream (its ttl starts again), or ``None`` if unknown or expired."""
        entry = self._streams.get(stream_id)
        if entry is None:
            return None
        now = self._clock()
        if entry[0] <= now:
            return None  # expired: the next create drops it
        entry[0] = now + self._ttl
        state: StreamState = entry[1]
        return state


class RedisStreamStore:
    """A stream store in Redis, shared by every worker and machine of a bot.

    Args:
        redis: a ``redis.Redis`` client (synchronous; Redis server 6.2 or later).
        ttl: seconds a stream lives after its creation or its last refresh.
        key_prefix: prepended to each stream id (the key holds no secret).

    A stream is one string key: ``b"1"`` (finished) or ``b"0"``, then the UTF-8 content.
    """

    __slots__ = ("_redis", "_ttl_ms", "_prefix")

    def __init__(
        self, redis: Any, ttl: float = 60.0, key_prefix: str = "wxcorp_fast:aibot:stream:"
    ) -> None:
        self._redis = redis
        self._ttl_ms = max(1, int(_check_ttl(ttl) * 1000))
        if not isinstance(key_prefix, str):
            raise TypeError("key_prefix must be str")
        self._prefix = key_prefix

    def __repr__(self) -> str:
        return f"RedisStreamStore(ttl={self._ttl_ms / 1000!r}, key_prefix={self._prefix!r})"

    @staticmethod
    def _value(content: str, finished: bool) -> bytes:
        return (_FINISHED if finished else _OPEN) + content.encode("utf-8")

    def create(self, stream_id: str, content: str, finished: bool) -> None:
        """Start a stream (its ttl starts now)."""
        self._redis.set(self._prefix + stream_id, self._value(content, finished), px=self._ttl_ms)

    def publish(self, stream_id: str, content: str, finished: bool) -> bool:
        """Replace the stream's content; ``False`` when the stream expired."""
        done = self._redis.set(
            self._prefix + stream_id, self._value(content, finished), xx=True, keepttl=True
        )
        return bool(done)

    def get(self, stream_id: str) -> StreamState | None:
        """Return the stream (its ttl starts again), or ``None`` if unknown or expired."""
        value = self._redis.getex(self._prefix + stream_id, px=self._ttl_ms)
        if value is None:
            return None
        if isinstance(value, str):
            value = value.encode("utf-8")
        return StreamState(bytes(value[1:]).decode("utf-8", "replace"), value[:1] == _FINISHED)
