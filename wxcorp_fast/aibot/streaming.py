"""Streamed answers: a handler's generator (or async generator) of text chunks, published.

The producer runs in the worker that got the user's message: a thread for a generator (and,
under WSGI, for an async generator, on an event loop of its own), an asyncio task for an
async generator under ASGI. After each chunk it publishes the accumulated text to the
stream store, from which any worker answers WeChat's refreshes; when the generator ends it
publishes once more, finished. A generator that raises finishes its stream with
``error_text`` after what it produced (the traceback is logged); a stream that expired in
the store (no refresh for its ttl) stops its generator; text beyond WeChat's 20480 bytes
is cut and the generator stopped. Chunks must be ``str``.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Final

from .._lazy import lazy_module
from .replies import MAX_CONTENT_BYTES
from .streams import StreamStore

if TYPE_CHECKING:
    import asyncio
else:  # the ASGI path's (and a worker thread's event loop): imported on first use
    asyncio = lazy_module("asyncio", globals())

__all__ = ["StreamProducer", "new_stream_id", "is_stream", "DEFAULT_ERROR_TEXT"]

_log = logging.getLogger(__name__)

DEFAULT_ERROR_TEXT: Final = "(the answer could not be completed)"


def new_stream_id() -> str:
    """A fresh, unguessable stream id."""
    return secrets.token_hex(16)


def is_stream(reply: object) -> bool:
    """Whether a handler's reply is a streamed answer (a generator or async generator)."""
    return inspect.isgenerator(reply) or inspect.isasyncgen(reply)


def _fit(content: str, limit: int) -> tuple[str, bool]:
    """``content`` cut to ``limit`` bytes of UTF-8 on a character boundary; whether it was cut."""
    if len(content) * 4 <= limit:
        return content, False
    data = content.encode("utf-8")
    if len(data) <= limit:
        return content, False
    return data[:limit].decode("utf-8", "ignore"), True


class StreamProducer:
    """One streamed answer: drives its generator and publishes the accumulated text.

    Args:
        stream_id: the stream's id (the store already holds it: ``create`` first).
        store: the stream store.
        error_text: appended when the generator raises.
        max_bytes: the longest content (WeChat Work's limit by default).
    """

    __slots__ = (
        "stream_id",
        "_store",
        "_error_text",
        "_max",
        "content",
        "finished",
        "_done",
        "_adone",
    )

    def __init__(
        self,
        stream_id: str,
        store: StreamStore,
        error_text: str = DEFAULT_ERROR_TEXT,
        max_bytes: int = MAX_CONTENT_BYTES,
    ) -> None:
        self.stream_id = stream_id
        self._store = store
        self._error_text = error_text
        self._max = max_bytes
        self.content = ""
        self.finished = False
        self._done = threading.Event()
        self._adone: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"StreamProducer({self.stream_id!r}, finished={self.finished})"

    # ------------------------------------------------------------------ publishing

    def _publish(self, finished: bool) -> bool:
        try:
            return self._store.publish(self.stream_id, self.content, finished)
        except Exception:
            _log.exception("stream store failed; stream %s stops", self.stream_id)
            return False

    def _add(self, chunk: object) -> bool:
        """Add a chunk and publish; ``False``: stop the generator (expired, or full)."""
        if not isinstance(chunk, str):
            raise TypeError(f"a streamed answer yields str, not {type(chunk).__name__}")
        if not chunk:
            return True
        try:
            chunk.encode("utf-8")
        except UnicodeEncodeError:
            chunk = chunk.encode("utf-8", "replace").decode("utf-8")
        content, cut = _fit(self.content + chunk, self._max)
        self.content = content
        if cut:
            _log.warning("stream %s: answer cut at %d bytes", self.stream_id, self._max)
            return False
        if not self._publish(False):
            _log.info("stream %s expired (no refresh): generation stopped", self.stream_id)
            return False
        return True

    def _finish(self, error: BaseException | None) -> None:
        if error is not None:
            _log.error("streamed answer failed (stream %s)", self.stream_id, exc_info=error)
            text = f"{self.content}\n\n{self._error_text}" if self.content else self._error_text
            self.content = _fit(text, self._max)[0]
        self.finished = True
        self._publish(True)
        self._done.set()
        if self._adone is not None:
            self._adone.set()

    def abandon(self, reason: str) -> None:
        """Finish a stream whose generator will not run (its task was cancelled unstarted)."""
        if not self.finished:
            self._finish(RuntimeError(reason))

    # ------------------------------------------------------------------ running

    def run(self, chunks: Iterator[Any]) -> None:
        """Drive a generator to its end (a thread's target)."""
        error: BaseException | None = None
        try:
            for chunk in chunks:
                if not self._add(chunk):
                    break
        except Exception as exc:
            error = exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # a generator that raises while closing: logged, finished
                    _log.exception("stream %s: closing the generator failed", self.stream_id)
            self._finish(error)

    async def run_async(self, chunks: AsyncIterator[Any]) -> None:
        """Drive an async generator to its end (a task, or a loop of its own)."""
        error: BaseException | None = None
        try:
            async for chunk in chunks:
                if not self._add(chunk):
                    break
        except asyncio.CancelledError:
            error = RuntimeError("the server shut down")
        except Exception as exc:
            error = exc
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    _log.exception("stream %s: closing the generator failed", self.stream_id)
            self._finish(error)

    def start_thread(self, chunks: Any) -> threading.Thread:
        """Run a generator, or an async generator on a loop of its own, in a daemon thread."""
        if inspect.isasyncgen(chunks):

            def target() -> None:
                asyncio.run(self.run_async(chunks))

        else:

            def target() -> None:
                self.run(chunks)

        thread = threading.Thread(
            target=target, name=f"aibot-stream-{self.stream_id[:8]}", daemon=True
        )
        thread.start()
        return thread

    def start_task(self, chunks: AsyncIterator[Any]) -> asyncio.Task[None]:
        """Run an async generator as a task of the running loop."""
        self._adone = asyncio.Event()
        return asyncio.get_running_loop().create_task(self.run_async(chunks))

    # ------------------------------------------------------------------ the first reply

    def wait(self, timeout: float) -> None:
        """Wait until the generator ends, at most ``timeout`` seconds."""
        if timeout > 0:
            self._done.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        """``wait`` for the event loop: a task's own event, or a thread's in an executor."""
        if timeout <= 0 or self._done.is_set():
            return
        if self._adone is not None:
            try:
                await asyncio.wait_for(self._adone.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            return
        await asyncio.get_running_loop().run_in_executor(None, self._done.wait, timeout)
