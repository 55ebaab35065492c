"""Deferred replies: answer WeChat at once, deliver the handler's reply later through the API.

WeChat Work waits 5 seconds for the answer to a callback; then it drops the connection and
sends the message again, three tries in all, while an empty answer ends it. A handler that
may take longer (a database, a model, another API) gets its reply to the user another way:
``message/send`` to the sender, with the agent's API client. ``DeferredReplies`` does that
for an endpoint (the frontends build one from ``reply_deadline``, ``client`` and
``max_deferred``; ``serve_http(..., deferred=...)`` takes one directly):

- With ``reply_deadline`` (seconds, 0 < d < 5) every handler runs in a worker (WSGI: a
  bounded pool of daemon threads; ASGI: a task, a sync handler in one of those threads). A
  handler done in time is answered as usual; one still running at the deadline gets its
  request answered with an empty 200, and its reply is sent with ``client`` when it is done.
- A handler may return ``Deferred(fn)`` (with or without a deadline) to be answered empty at
  once; ``fn()``'s reply is then sent the same way.
- Replies map to messages: ``TextReply`` or ``str`` -> text, ``NewsReply`` -> news (the
  articles' fields renamed as the API has them), ``ImageReply`` / ``VoiceReply`` /
  ``VideoReply`` -> the media by its media_id, inner XML (bytes) -> what it renders; ``None``
  sends nothing. The recipient is the sender (``msg.from_user_name``), the agent the
  request's AgentID.
- Copies of a message whose reply is deferred (WeChat's retries) are answered empty and never
  run the handler again: a table of the keys in flight in this process, and across processes
  the dedupe store, whose claim stays in flight until the reply is delivered and is then
  settled as an empty answer.
- At most ``max_deferred`` handlers run at once under a deadline (so at most that many past
  it), and as many ``Deferred`` functions; a message beyond that is answered empty with a
  WARNING and its handler (or function) is not run: nothing is queued.
- A handler that raises after its answer is logged with its traceback and nothing is sent. A
  delivery that fails is retried after 0.5, 1 and 2 s (``delivery_retry_delays``; API errors
  other than -1 "system busy" and 45033 "too many concurrent calls" are not retried), then
  logged at ERROR.
- ``close(timeout)`` (WSGI; the CLI's gunicorn runs it as its worker exit hook) and
  ``aclose(timeout)`` (ASGI; the frontends' lifespan shutdown awaits it) stop taking new work
  and drain what is in flight up to ``timeout``; what could not finish is logged.

The steps of deferred work are written once, as coroutines over a small set of I/O steps
(``_Blocking`` in a worker thread, where each await completes at once, and ``_Loop`` on an
event loop), so WSGI and ASGI share every rule.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple, Protocol, cast

from .._core import core
from .._lazy import lazy_module
from ..errors import APIError
from .dedupe import AnyDedupeStore, dedupe_key, settle, settle_async
from .mux import MessageServeMux
from .replies import Article, ImageReply, NewsReply, TextReply, VideoReply, VoiceReply
from .request import DedupeStore, Request

if TYPE_CHECKING:
    import asyncio
else:  # the ASGI path's (and a worker thread's event loop): imported on first use
    asyncio = lazy_module("asyncio", globals())

__all__ = [
    "Deferred",
    "DeferredReplies",
    "LATER",
    "MAX_REPLY_DEADLINE",
    "MSG_NEEDS_CLIENT",
    "MSG_NO_CLIENT",
    "outgoing_message",
]

_log = logging.getLogger(__name__)

MAX_REPLY_DEADLINE: Final = 5.0
"""Seconds WeChat Work waits for an answer before it drops the connection and sends again."""

MSG_NO_CLIENT: Final = (
    "the handler returned Deferred, but no client is set to send its reply: pass client= to"
    " the frontend (or deferred= to serve_http)"
)
MSG_NEEDS_CLIENT: Final = (
    "reply_deadline needs client=: the API client (CorpClient under WSGI, AsyncCorpClient"
    " under ASGI) that sends the replies of handlers past their deadline"
)
#: errcodes worth another try: -1 system busy, 45033 too many concurrent calls.
_TRANSIENT_ERRCODES: Final = frozenset({-1, 45033})


@dataclass(frozen=True, slots=True)
class Deferred:
    """A handler's answer for later: WeChat gets an empty answer now, the sender ``fn()``'s reply.

    ``fn`` takes no arguments: a function (run in a worker thread) or an ``async def``
    function (awaited under ASGI; run with ``asyncio.run`` in a worker thread under WSGI). Its
    reply is sent through the endpoint's client as ``message/send`` (see the module's mapping);
    ``None`` sends nothing. Returning one needs an endpoint with a ``client``.
    """

    fn: Callable[[], Any]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError("Deferred needs a callable that takes no arguments")


class _Later:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LATER"


LATER: Final = _Later()
"""What ``DeferredReplies.call`` returns when the request is to be answered empty now."""


class _Raised(NamedTuple):
    """A handler's exception, handed over as an outcome."""

    error: Exception


_PENDING: Final = object()


# ----------------------------------------------------------------------------- replies


def outgoing_message(reply: object) -> tuple[str, dict[str, Any]] | None:
    """Return ``message/send``'s ``(msgtype, content)`` for a reply; ``None`` sends nothing.

    Raises:
        TypeError: a reply that is not one of the reply types, a str, inner XML or None.
        XMLParseError: inner XML that does not parse.
    """
    if reply is None:
        return None
    if isinstance(reply, str):
        return "text", {"content": reply}
    if isinstance(reply, TextReply):
        return "text", {"content": reply.content}
    if isinstance(reply, ImageReply):
        return "image", {"media_id": reply.media_id}
    if isinstance(reply, VoiceReply):
        return "voice", {"media_id": reply.media_id}
    if isinstance(reply, VideoReply):
        return "video", {
            "media_id": reply.media_id,
            "title": reply.title,
            "description": reply.description,
        }
    if isinstance(reply, NewsReply):
        return "news", {"articles": [_api_article(a) for a in reply.articles]}
    if isinstance(reply, bytes):
        return outgoing_message(_from_xml(reply))
    if inspect.iscoroutine(reply):
        reply.close()  # never awaited: close it so it does not warn later
    raise TypeError(f"a {type(reply).__name__} reply cannot be sent as a message")


def _api_article(article: Article) -> dict[str, str]:
    return {
        "title": article.title,
        "description": article.description,
        "url": article.url,
        "picurl": article.pic_url,
    }


def _from_xml(xml: bytes) -> object:
    """Read a reply given as inner XML back into a reply object."""
    raw = core.parse_message(xml).raw
    kind = raw.get("MsgType")
    try:
        if kind == "text":
            return TextReply(raw["Content"])
        if kind == "image":
            return ImageReply(raw["Image"]["MediaId"])
        if kind == "voice":
            return VoiceReply(raw["Voice"]["MediaId"])
        if kind == "video":
            video = raw["Video"]
            return VideoReply(
                video["MediaId"], video.get("Title", ""), video.get("Description", "")
            )
        if kind == "news":
            items = raw["Articles"]["item"]
            return NewsReply(tuple(map(_article, items if isinstance(items, list) else [items])))
    except (KeyError, TypeError, AttributeError):
        pass
    raise TypeError(f"inner XML of MsgType {kind!r} cannot be sent as a message")


def _article(item: dict[str, str]) -> Article:
    get = item.get
    return Article(get("Title", ""), get("Description", ""), get("PicUrl", ""), get("Url", ""))


def _transient(error: Exception) -> bool:
    """Whether a failed delivery is worth another try."""
    if isinstance(error, APIError):
        return error.errcode in _TRANSIENT_ERRCODES
    return not isinstance(error, (TypeError, ValueError))


# ----------------------------------------------------------------------------- workers


_PoolJob = tuple[Future[Any], Callable[[], Any]]


class _Pool(Executor):
    """Daemon worker threads, started as work needs them (at most ``size``) and kept.

    Daemon threads, unlike ``ThreadPoolExecutor``'s: a process that exits after ``close``
    timed out is not held up by a handler still running (``close`` logged it).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[_PoolJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._busy = 0  # jobs queued or running

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker thread; return its future."""
        future: Future[Any] = Future()
        with self._lock:
            self._busy += 1
            spawn = self._busy > self._threads and self._threads < self._size
            if spawn:
                self._threads += 1
        if spawn:
            threading.Thread(target=self._work, name="wxcorp_fast-deferred", daemon=True).start()
        self._jobs.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = False) -> None:
        """Let the threads end once they are idle (a job submitted later starts a new one)."""
        with self._lock:
            stopping, self._threads = self._threads, 0
        for _ in range(stopping):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as error:  # noqa: BLE001 - the future's caller gets it
                    future.set_exception(error)
            del job, future, fn
            with self._lock:
                self._busy -= 1


class _State:
    """What all views of one endpoint's deferred replies share: the bound and the work in flight."""

    __slots__ = ("max_deferred", "lock", "idle", "keys", "running", "closed", "tasks", "_pool")

    def __init__(self, max_deferred: int) -> None:
        self.max_deferred = max_deferred
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.keys: set[str] = set()  # messages whose handler or reply is in flight here
        self.running = 0
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()
        self._pool: tuple[int, _Pool] | None = None

    def pool(self) -> _Pool:
        """The worker threads of this process (a forked worker starts its own)."""
        pid = os.getpid()
        if self._pool is None or self._pool[0] != pid:
            with self.lock:
                if self._pool is None or self._pool[0] != pid:
                    self._pool = (pid, _Pool(self.max_deferred))
        return self._pool[1]

    def enter(self, key: str) -> str | None:
        """Take a slot for the message ``key``; return why not (``None``: taken)."""
        with self.lock:
            if key in self.keys:
                return "copy"
            if self.closed:
                return "closed"
            if self.running >= self.max_deferred:
                return "full"
            self.keys.add(key)
            self.running += 1
        return None

    def release(self, key: str) -> None:
        """Give back the slot of ``key``."""
        with self.lock:
            self.keys.discard(key)
            self.running -= 1
            if self.running == 0:
                self.idle.notify_all()

    def submit(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (made of ``_Blocking`` steps) in a worker thread."""
        self.pool().submit(_drive, work)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of the running loop, kept until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("deferred work failed", exc_info=task.exception())

    def drain(self, timeout: float) -> None:
        """Stop taking work; wait up to ``timeout`` s for the work in flight to end."""
        with self.idle:
            self.closed = True
            self.idle.wait_for(lambda: self.running == 0, timeout)
        self.report(timeout)
        self.stop_threads()

    def stop_threads(self) -> None:
        """Let this process's worker threads end once idle."""
        if self._pool is not None and self._pool[0] == os.getpid():
            self._pool[1].shutdown()

    def report(self, timeout: float) -> None:
        """Log the work still in flight after a drain of ``timeout`` s."""
        with self.lock:
            running, keys = self.running, sorted(self.keys)
        if running:
            _log.error(
                "%d deferred replies did not finish within %g s and are abandoned: %s",
                running,
                timeout,
                ", ".join(keys),
            )


def _refused(reason: str, key: str, max_deferred: int) -> None:
    if reason == "copy":
        _log.info("message %s: a copy of a message whose reply is deferred; answered empty", key)
    elif reason == "full":
        _log.warning(
            "message %s refused: %d deferred replies are in flight (max_deferred); answered"
            " empty, its handler is not run",
            key,
            max_deferred,
        )
    else:
        _log.warning(
            "message %s refused: deferred replies are closed (shutting down); answered empty,"
            " its handler is not run",
            key,
        )


def _drive(work: Coroutine[Any, Any, None]) -> None:
    """Run deferred work made of ``_Blocking`` steps to its end in this thread.

    None of its awaits suspends (each step completes when called), so one ``send`` runs
    it whole; no event loop is involved.
    """
    try:
        work.send(None)
    except StopIteration:
        return
    except Exception:
        _log.exception("deferred work failed")
        return
    work.close()
    _log.error("deferred work suspended outside an event loop")


# ----------------------------------------------------------------------------- steps


class _Steps(Protocol):
    """The I/O of deferred work: how a WSGI worker thread or an event loop performs it."""

    async def call(self, handler: Callable[[Request], Any], request: Request) -> Any:
        """Return the handler's reply."""

    async def produce(self, fn: Callable[[], Any]) -> Any:
        """Return the reply of a ``Deferred``'s function."""

    async def send(self, client: Any, request: Request, msgtype: str, content: Any) -> Any:
        """Send one message to the request's sender."""

    async def sleep(self, seconds: float) -> None:
        """Wait between tries."""

    async def settle(self, dedupe: AnyDedupeStore | None, key: str | None) -> None:
        """Settle a deferred message's claim as answered empty."""


def _sender(client: Any, request: Request, msgtype: str, content: Any) -> Callable[[], Any]:
    """The ``send_message`` call that delivers a reply to the request's sender."""
    return functools.partial(
        client.send_message, request.agent_id, msgtype, content, touser=request.msg.from_user_name
    )


class _Blocking:
    """The steps in a worker thread (WSGI): plain calls and ``time.sleep``; none suspends."""

    __slots__ = ()

    async def call(self, handler: Callable[[Request], Any], request: Request) -> Any:
        return handler(request)

    async def produce(self, fn: Callable[[], Any]) -> Any:
        result = fn()
        return asyncio.run(result) if inspect.iscoroutine(result) else result

    async def send(self, client: Any, request: Request, msgtype: str, content: Any) -> Any:
        return _sender(client, request, msgtype, content)()

    async def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def settle(self, dedupe: AnyDedupeStore | None, key: str | None) -> None:
        settle(cast("DedupeStore | None", dedupe), key, b"")


class _Loop:
    """The steps on an event loop (ASGI): coroutines awaited, blocking calls in the pool."""

    __slots__ = ("_state",)

    def __init__(self, state: _State) -> None:
        self._state = state

    async def call(self, handler: Callable[[Request], Any], request: Request) -> Any:
        if isinstance(handler, MessageServeMux):  # route first: an async route runs on the loop
            route = handler.handler_for(request)
            if route is None:
                return None
            handler = route
        return await self._run(functools.partial(handler, request))

    async def produce(self, fn: Callable[[], Any]) -> Any:
        return await self._run(fn)

    async def send(self, client: Any, request: Request, msgtype: str, content: Any) -> Any:
        return await self._run(_sender(client, request, msgtype, content))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def settle(self, dedupe: AnyDedupeStore | None, key: str | None) -> None:
        await settle_async(dedupe, key, b"")

    async def _run(self, fn: Callable[[], Any]) -> Any:
        """Await a coroutine function; run anything else in the pool; await what it returns."""
        if inspect.iscoroutinefunction(fn):  # (it sees through functools.partial)
            result = fn()
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._state.pool(), fn)
        return await result if inspect.isawaitable(result) else result


_BLOCKING: Final = _Blocking()


class _Mode(NamedTuple):
    """How deferred work runs under one entry point: its steps and how it is started."""

    steps: _Steps
    start: Callable[[Coroutine[Any, Any, None]], Any]


# ----------------------------------------------------------------------------- handoff


class _Handoff:
    """Where a handler's outcome in time meets the request waiting for it, or finds it gone."""

    __slots__ = ("_lock", "_outcome", "_ready")

    def __init__(self, ready: threading.Event | asyncio.Event) -> None:
        self._lock = threading.Lock()
        self._outcome: Any = _PENDING
        self._ready = ready

    def give(self, outcome: Any) -> bool:
        """Hand ``outcome`` to the request; False when it no longer waits (answered empty)."""
        with self._lock:
            if self._outcome is LATER:
                return False
            self._outcome = outcome
        self._ready.set()
        return True

    def _take(self) -> Any:
        with self._lock:
            if self._outcome is _PENDING:
                self._outcome = LATER  # from now on the handler's outcome is delivered
            return self._outcome

    def take(self) -> Any:
        """Return the outcome given (raise a handler's error), or ``LATER``."""
        outcome = self._take()
        if isinstance(outcome, _Raised):
            raise outcome.error
        return outcome

    def wait(self, timeout: float) -> Any:
        """Wait up to ``timeout`` s in this thread, then ``take``."""
        cast(threading.Event, self._ready).wait(timeout)
        return self.take()

    async def wait_async(self, timeout: float) -> Any:
        """Wait up to ``timeout`` s on the event loop, then ``take``."""
        try:
            await asyncio.wait_for(cast(asyncio.Event, self._ready).wait(), timeout)
        except asyncio.TimeoutError:
            pass
        except asyncio.CancelledError:
            self._take()  # the request is gone: the outcome is delivered instead
            raise
        return self.take()


@dataclass(slots=True)
class _Job:
    """One message in the hands of the deferred replies."""

    request: Request
    key: str
    dedupe: AnyDedupeStore | None
    store_key: str | None
    handler: Callable[[Request], Any]
    client: Any
    handoff: _Handoff


# ----------------------------------------------------------------------------- the endpoint


def _check_deadline(reply_deadline: float | None) -> float | None:
    if reply_deadline is None:
        return None
    if (
        isinstance(reply_deadline, bool)
        or not isinstance(reply_deadline, (int, float))
        or not 0 < reply_deadline < MAX_REPLY_DEADLINE
    ):
        raise ValueError(
            "reply_deadline must be seconds above 0 and below 5 (WeChat Work drops the"
            " connection at 5 s), or None"
        )
    return float(reply_deadline)


def _check_max(max_deferred: int) -> int:
    if isinstance(max_deferred, bool) or not isinstance(max_deferred, int) or max_deferred < 1:
        raise ValueError("max_deferred must be a positive int")
    return max_deferred


class DeferredReplies:
    """An endpoint's deferred replies: deadline, client, bound, and the work in flight.

    The frontends build one from their ``reply_deadline``, ``client`` and ``max_deferred``;
    give one to ``serve_http`` / ``serve_http_async`` (``deferred=``) for a route of your own,
    and ``close`` / ``aclose`` it on shutdown.

    Args:
        client: sends the late replies: an object with ``send_message(agent_id, msgtype,
            content, touser=...)`` -- ``CorpClient`` under WSGI (an ``async def`` one is
            refused there with a logged 500), ``AsyncCorpClient`` under ASGI (a synchronous
            one runs in a worker thread there).
        reply_deadline: seconds (above 0, below 5) a handler may take before its request is
            answered empty and its reply sent later; ``None``: handlers run as without
            deferred replies, and only ``Deferred`` answers are sent later.
        max_deferred: handlers that may run at once under a deadline, and ``Deferred``
            functions; beyond that a message is answered empty (WARNING) and not handled.
            Under WSGI also the size of the worker thread pool.

    Raises:
        ValueError: ``client`` is None, or a bad ``reply_deadline`` or ``max_deferred``.
    """

    delivery_retry_delays: ClassVar[tuple[float, ...]] = (0.5, 1.0, 2.0)
    """Seconds before each new try of a failed delivery (after the first)."""

    __slots__ = ("_client", "_async_client", "_reply_deadline", "_state")

    def __init__(
        self, client: Any, *, reply_deadline: float | None = None, max_deferred: int = 100
    ) -> None:
        if client is None:
            raise ValueError("DeferredReplies needs a client to send the replies")
        self._setup(client, _check_deadline(reply_deadline), _State(_check_max(max_deferred)))

    @classmethod
    def without_client(
        cls, *, reply_deadline: float | None = None, max_deferred: int = 100
    ) -> DeferredReplies:
        """Return settings and a bound to share, for views made by ``with_client``."""
        self = cls.__new__(cls)
        self._setup(None, _check_deadline(reply_deadline), _State(_check_max(max_deferred)))
        return self

    def _setup(self, client: Any, reply_deadline: float | None, state: _State) -> None:
        self._client = client
        self._async_client = inspect.iscoroutinefunction(getattr(client, "send_message", None))
        self._reply_deadline = reply_deadline
        self._state = state

    def with_client(self, client: Any) -> DeferredReplies:
        """Return a view that sends with ``client`` and shares this one's bound and work."""
        if client is None:
            raise ValueError("with_client needs a client")
        view = type(self).__new__(type(self))
        view._setup(client, self._reply_deadline, self._state)
        return view

    def __repr__(self) -> str:
        return (
            f"DeferredReplies({type(self._client).__name__}, reply_deadline="
            f"{self._reply_deadline!r}, max_deferred={self._state.max_deferred})"
        )

    @property
    def client(self) -> Any:
        """The client that sends the replies."""
        return self._client

    @property
    def reply_deadline(self) -> float | None:
        """Seconds a handler may take before its request is answered empty (or None)."""
        return self._reply_deadline

    @property
    def max_deferred(self) -> int:
        """The bound on the handlers and ``Deferred`` functions in flight."""
        return self._state.max_deferred

    @property
    def in_flight(self) -> int:
        """The handlers and ``Deferred`` functions in flight now (their replies included)."""
        return self._state.running

    def check_sync(self, entry_point: str) -> None:
        """Refuse an ``async def`` client where replies are sent from threads (WSGI).

        Raises:
            TypeError: the client's ``send_message`` is a coroutine function.
        """
        if self._async_client:
            raise TypeError(
                f"{type(self._client).__name__}.send_message is a coroutine function:"
                f" {entry_point} sends deferred replies from threads, with a synchronous client"
                " (CorpClient); use one there, or serve with serve_http_async / .asgi"
            )

    # -- serving ------------------------------------------------------------------------

    def call(
        self,
        request: Request,
        dedupe: AnyDedupeStore | None,
        store_key: str | None,
        handler: Callable[[Request], Any],
    ) -> Any:
        """Handle ``request`` (WSGI): the reply to answer now, or ``LATER`` (answer empty).

        Raises:
            Exception: what the handler raised in time.
        """
        mode = _Mode(_BLOCKING, self._state.submit)
        job = self._launch(request, dedupe, store_key, handler, mode, threading.Event())
        if job is None:
            return LATER
        if self._reply_deadline is None:
            return self._inline(job, handler(request), mode)
        return job.handoff.wait(self._reply_deadline)

    async def call_async(
        self,
        request: Request,
        dedupe: AnyDedupeStore | None,
        store_key: str | None,
        handler: Callable[[Request], Any],
        inline: Callable[[], Awaitable[Any]],
    ) -> Any:
        """``call`` for ASGI; ``inline()`` is the handler's call without a deadline."""
        mode = _Mode(_Loop(self._state), self._state.spawn)
        job = self._launch(request, dedupe, store_key, handler, mode, asyncio.Event())
        if job is None:
            return LATER
        if self._reply_deadline is None:
            return self._inline(job, await inline(), mode)
        return await job.handoff.wait_async(self._reply_deadline)

    def _launch(
        self,
        request: Request,
        dedupe: AnyDedupeStore | None,
        store_key: str | None,
        handler: Callable[[Request], Any],
        mode: _Mode,
        ready: threading.Event | asyncio.Event,
    ) -> _Job | None:
        """Admit the message and, under a deadline, start its handler (None: answer empty)."""
        if self._client is None:
            raise ValueError(MSG_NO_CLIENT)
        key = dedupe_key(request)
        state = self._state
        if self._reply_deadline is None:
            refused = "copy" if key in state.keys else None
        else:
            refused = state.enter(key)
        if refused is not None:
            _refused(refused, key, state.max_deferred)
            return None
        job = _Job(request, key, dedupe, store_key, handler, self._client, _Handoff(ready))
        if self._reply_deadline is not None:
            self._start(mode, self._work(mode.steps, job), key)
        return job

    def _inline(self, job: _Job, reply: Any, mode: _Mode) -> Any:
        """Pass an inline handler's reply on, or start its ``Deferred`` (then ``LATER``)."""
        if not isinstance(reply, Deferred):
            return reply
        refused = self._state.enter(job.key)
        if refused is not None:
            _refused(refused, job.key, self._state.max_deferred)
        else:
            self._start(mode, self._later(mode.steps, job, reply), job.key)
        return LATER

    def _start(self, mode: _Mode, work: Coroutine[Any, Any, None], key: str) -> None:
        """Start ``work``, which owns the slot of ``key`` (given back if it cannot start)."""
        try:
            mode.start(work)
        except BaseException:
            work.close()
            self._state.release(key)
            raise

    # -- the work, written once ------------------------------------------------------------

    async def _work(self, steps: _Steps, job: _Job) -> None:
        """Run a handler: an outcome in time goes to the request, a later one is delivered."""
        try:
            try:
                outcome: Any = await steps.call(job.handler, job.request)
            except Exception as error:
                outcome = _Raised(error)
            if isinstance(outcome, Deferred):
                job.handoff.give(LATER)
            elif job.handoff.give(outcome):
                return
            await self._late(steps, job, outcome)
        finally:
            self._state.release(job.key)

    async def _later(self, steps: _Steps, job: _Job, deferred: Deferred) -> None:
        """Deliver the reply of a ``Deferred`` an inline handler returned."""
        try:
            await self._late(steps, job, deferred)
        finally:
            self._state.release(job.key)

    async def _late(self, steps: _Steps, job: _Job, outcome: Any) -> None:
        """Finish a message answered empty: its ``Deferred``'s function, delivery, the claim."""
        try:
            if isinstance(outcome, _Raised):
                raise outcome.error
            reply = await steps.produce(outcome.fn) if isinstance(outcome, Deferred) else outcome
        except Exception:
            _log.exception("message %s: the handler failed after its answer; nothing sent", job.key)
        else:
            await self._deliver(steps, job, reply)
        await steps.settle(job.dedupe, job.store_key)

    async def _deliver(self, steps: _Steps, job: _Job, reply: Any) -> None:
        """Send ``reply`` to the sender with ``message/send``, retrying transient failures."""
        try:
            message = outgoing_message(reply)
        except (TypeError, ValueError) as error:
            _log.error("message %s: the deferred reply cannot be sent: %s", job.key, error)
            return
        if message is None:
            _log.debug("message %s: no deferred reply to send", job.key)
            return
        msgtype, content = message
        for delay in (*self.delivery_retry_delays, None):
            try:
                await steps.send(job.client, job.request, msgtype, content)
            except Exception as error:
                if delay is None or not _transient(error):
                    _log.error("message %s: deferred reply not delivered", job.key, exc_info=error)
                    return
                _log.warning(
                    "message %s: delivering the deferred reply failed (%s: %s); retrying in %g s",
                    job.key,
                    type(error).__name__,
                    error,
                    delay,
                )
                await steps.sleep(delay)
            else:
                _log.info("message %s: deferred %s reply delivered", job.key, msgtype)
                return

    # -- shutdown ---------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Take no new work; wait up to ``timeout`` s for the work in flight; log the rest.

        For WSGI (a worker's exit hook); not on an event loop's thread (use ``aclose``).
        """
        self._state.drain(timeout)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Take no new work; await the deferred tasks up to ``timeout`` s; log, cancel the rest."""
        state = self._state
        with state.lock:
            state.closed = True
        tasks = [task for task in state.tasks if not task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        state.report(timeout)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        state.stop_threads()
