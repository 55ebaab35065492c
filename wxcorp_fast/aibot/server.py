"""``AIBotServer``: an AI bot's callback endpoint, a WSGI application with an ASGI twin.

Every request passes the callback room's guards in the agent frontends' order (its pieces
are reused: ``callback.checks``, ``callback.dedupe``, ``callback.rejections``,
``callback.responses``, ``callback._wsgi``/``_asgi``):

- methods other than GET and POST get 405; a body over ``max_body_size`` gets 413 (read at
  most to the limit plus one byte); a Content-Length that is not a number gets 400;
- msg_signature, timestamp (an integer) and nonce present, else ``SignatureError``;
- GET: echostr signature, replay window, then its decryption is the answer (URL check);
- POST: the JSON body (``JSONParseError``), its signature, the replay window, the frame
  (base64, AES, receive id) — a stale request is reported as stale before a frame error,
  as the agent frontends do — then the message (``JSONParseError``);
- a rejected request: 400 with the error's class and code, logged at WARNING, no secret;
- a message (not a stream refresh) is claimed in the dedupe store under its aibotid and
  msgid: a retry gets the stored reply re-encrypted, a copy still in flight an empty 200.

Then a stream refresh (``msgtype: stream``) is answered from the stream store (an unknown or
expired stream: finished, empty, logged); anything else goes to the handler, and its reply
is rendered and encrypted with the request's nonce and timestamp. A generator or async
generator of str streams its answer (``streaming``): the first reply carries a new stream
id and the text ready when the generator ends or ``first_reply_deadline`` passes, whichever
is first. A handler that raises gets a 500 (traceback logged) and its claim is dropped.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .._core import core
from .._lazy import lazy_module
from ..callback import _asgi, _wsgi
from ..callback._query import parse_query
from ..callback.checks import MSG_MISSING_ECHOSTR, check_replay, check_signed, signed_params
from ..callback.dedupe import MemoryDedupeStore, claim_key, settle
from ..callback.rejections import reject
from ..callback.request import DedupeStore, InvalidRequestHandler, Response
from ..callback.responses import (
    bad_content_length,
    empty_response,
    internal_error,
    json_response,
    method_not_allowed,
    text_response,
    too_large,
)
from ..errors import CallbackError, JSONParseError, SignatureError
from ..messages import AIBotMessage
from .replies import (
    MarkdownReply,
    StreamReply,
    StreamWithTemplateCardReply,
    TextReply,
    render_stream,
)
from .request import AIBotHandler, AIBotRequest
from .streaming import DEFAULT_ERROR_TEXT, StreamProducer, is_stream, new_stream_id
from .streams import MemoryStreamStore, StreamState, StreamStore

if TYPE_CHECKING:
    import asyncio
else:  # the ASGI path's (and a worker thread's event loop): imported on first use
    asyncio = lazy_module("asyncio", globals())

__all__ = ["AIBotServer"]

_log = logging.getLogger(__name__)

_parse_refresh = core._parse_aibot_refresh
_ENTER_CHAT: Final = "enter_chat"
_FEEDBACK: Final = "feedback_event"
_FINISHED_EMPTY: Final = StreamState("", True)  # how an unknown or expired stream is answered


def _dedupe_key(msg: AIBotMessage, data: bytes) -> str:
    if msg.msgid:
        return f"aibot:{msg.aibotid}:{msg.msgid}"
    return f"aibot:{msg.aibotid}:sha1:{hashlib.sha1(data, usedforsecurity=False).hexdigest()}"


class _Admitted:
    """A verified message for the handler, and its dedupe claim (``None``: nothing to settle)."""

    __slots__ = ("request", "key")

    def __init__(self, request: AIBotRequest, key: str | None) -> None:
        self.request = request
        self.key = key


class AIBotServer:
    """The callback endpoint of one AI bot: a WSGI application; ``.asgi`` is its ASGI twin.

    Args:
        token: the bot's callback Token.
        encoding_aes_key: the bot's 43-character EncodingAESKey.
        handler: ``handler(request) -> reply`` (an ``AIBotMux`` or any callable; see
            ``AIBotRequest``); ``async def`` handlers and async generators under ASGI.
        receive_id: the receive id in the frames (``""`` for a company's own bot).
        stream_store: where streamed answers wait for refreshes (``MemoryStreamStore()``
            by default: one worker; ``RedisStreamStore`` for several).
        max_body_size: POST bodies over this many bytes get 413.
        replay_window: seconds a request's timestamp may be from now (``None``: no check).
        dedupe: a dedupe store; ``None`` (default) makes a ``MemoryDedupeStore`` whose ttl
            covers the replay window, ``False`` turns deduplication off.
        invalid_request_handler: ``handler(http_request, error) -> Response | None`` for
            rejected requests (``None``: the default 400).
        first_reply_deadline: seconds the first reply of a streamed answer waits for the
            generator to end before it goes with the text ready so far.
        stream_error_text: what a stream whose generator raised ends with.
        run_sync_in_thread: under ASGI, run sync handlers in ``asyncio.to_thread``.
    """

    __slots__ = (
        "_crypto",
        "_token",
        "_handler",
        "_store",
        "_max_body_size",
        "_replay_window",
        "_dedupe",
        "_invalid_request_handler",
        "_deadline",
        "_error_text",
        "_run_sync_in_thread",
        "_tasks",
        "asgi",
    )

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        handler: AIBotHandler,
        *,
        receive_id: str = "",
        stream_store: StreamStore | None = None,
        max_body_size: int = 1_048_576,
        replay_window: float | None = 300,
        dedupe: DedupeStore | None | bool = None,
        invalid_request_handler: InvalidRequestHandler | None = None,
        first_reply_deadline: float = 0.5,
        stream_error_text: str = DEFAULT_ERROR_TEXT,
        run_sync_in_thread: bool = False,
    ) -> None:
        if not callable(handler):
            raise TypeError("handler must be callable")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 0
        ):
            raise ValueError("max_body_size must be a non-negative int")
        if replay_window is not None and not replay_window > 0:
            raise ValueError("replay_window must be positive seconds, or None")
        if not isinstance(first_reply_deadline, (int, float)) or first_reply_deadline < 0:
            raise ValueError("first_reply_deadline must be non-negative seconds")
        if not isinstance(stream_error_text, str):
            raise TypeError("stream_error_text must be str")
        self._crypto = core.AIBotCrypto(token, encoding_aes_key, receive_id)
        self._token = token
        self._handler = handler
        self._store: StreamStore = MemoryStreamStore() if stream_store is None else stream_store
        self._max_body_size = max_body_size
        self._replay_window = replay_window
        if dedupe is None or dedupe is True:
            dedupe = MemoryDedupeStore(ttl=max(replay_window or 0, 300))
        self._dedupe: DedupeStore | None = None if dedupe is False else dedupe
        self._invalid_request_handler = invalid_request_handler
        self._deadline = float(first_reply_deadline)
        self._error_text = stream_error_text
        self._run_sync_in_thread = run_sync_in_thread
        self._tasks: dict[asyncio.Task[None], StreamProducer] = {}
        serve = self._serve_asgi

        # A plain ``async def`` function, not a bound method: servers tell ASGI 3 from ASGI 2
        # with ``inspect.isfunction`` / ``iscoroutinefunction``.
        async def asgi(scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send) -> None:
            await serve(scope, receive, send)

        asgi.__qualname__ = "AIBotServer.asgi"
        asgi.__doc__ = "This endpoint as an ASGI 3 application."
        self.asgi: Callable[[_asgi.Scope, _asgi.Receive, _asgi.Send], Any] = asgi
        """This endpoint as an ASGI 3 application."""

    def __repr__(self) -> str:
        return f"AIBotServer(receive_id={self._crypto.receive_id!r}, handler={self._handler!r})"

    @property
    def stream_store(self) -> StreamStore:
        """The stream store (publish to it to update a stream a handler left open)."""
        return self._store

    @property
    def handler(self) -> AIBotHandler:
        """The handler."""
        return self._handler

    # ------------------------------------------------------------------ checks

    def _admit(
        self, method: str, query: Mapping[str, str], body: bytes, http_request: Any
    ) -> Response | _Admitted:
        """Verify a request: the answer that ends it, or the message for the handler."""
        if method != "POST" and method != "GET":
            return method_not_allowed()
        window = self._replay_window
        try:
            if method == "GET":
                sig, ts_text, nonce, timestamp = signed_params(query)
                echostr = query.get("echostr")
                if not echostr:
                    raise SignatureError(MSG_MISSING_ECHOSTR)
                check_signed(self._token, ts_text, nonce, echostr, sig, timestamp, window)
                return text_response(self._crypto.verify_url(sig, ts_text, nonce, echostr))
            # the query's checks, the body's decryption and its message in one core call
            nonce = query.get("nonce", "")
            try:
                timestamp, data, msg = self._crypto._open_json(
                    body, query.get("msg_signature"), query.get("timestamp"), nonce
                )
            except (JSONParseError, SignatureError):
                raise
            except CallbackError:  # signed but unopenable: stale is said first
                check_replay(signed_params(query)[3], window)
                raise
            if window is not None:
                check_replay(timestamp, window)
            if msg is None:  # unparsable: its error, said after the replay check
                msg = _parse_refresh(data)
        except CallbackError as error:
            return reject(self._invalid_request_handler, http_request, error)
        if isinstance(msg, str):  # a stream refresh: its stream id
            return self._refresh(msg, nonce, timestamp)
        request = AIBotRequest(
            http_request,
            query if type(query) is dict else dict(query),
            query["msg_signature"],
            timestamp,
            nonce,
            data,
            msg,
        )
        if self._dedupe is None:
            return _Admitted(request, None)
        key, seen = claim_key(_dedupe_key(msg, data), self._dedupe)
        if seen is not None:
            return self._answer(nonce, timestamp, seen)
        return _Admitted(request, key)

    def _refresh(self, stream_id: str, nonce: str, timestamp: int) -> Response:
        """Answer a stream refresh from the store."""
        try:
            state = self._store.get(stream_id) if stream_id else None
        except Exception:
            _log.exception("stream store failed")
            return internal_error()
        if state is None:
            _log.warning("refresh of an unknown or expired stream: answered finished")
            state = _FINISHED_EMPTY
        # render_stream(stream_id, *state), encrypted
        body = self._crypto._encrypt_stream(stream_id, state[0], state[1], nonce, timestamp)
        return json_response(body)

    def _answer(self, nonce: str, timestamp: int, inner: bytes) -> Response:
        """Encrypt the reply ``inner`` (``b""``: the empty answer)."""
        if not inner:
            return empty_response()
        return json_response(self._crypto.encrypt_json(inner, nonce, timestamp))

    def _failed(self, key: str | None, error: BaseException) -> Response:
        """Drop the claim of a handler that raised: 500 for an Exception, else re-raise."""
        settle(self._dedupe, key, None)
        if not isinstance(error, Exception):
            raise error
        _log.error("AI-bot handler failed", exc_info=error)
        return internal_error()

    # ------------------------------------------------------------------ replies

    def _plain_inner(self, request: AIBotRequest, reply: object) -> bytes | StreamProducer:
        """Render a reply that is not a generator; a stream left open goes to the store."""
        msg = request.msg
        if reply is None:
            return b""
        if msg.event_type == _FEEDBACK and msg.msgtype == "event":
            _log.warning("a feedback_event takes no reply (WeChat Work): answered empty")
            return b""
        if isinstance(reply, str):
            reply = TextReply(reply) if msg.event_type == _ENTER_CHAT else StreamReply(reply)
        elif isinstance(reply, bytes):
            return reply
        if isinstance(reply, TextReply) and not (
            msg.msgtype == "event" and msg.event_type == _ENTER_CHAT
        ):
            reply = StreamReply(reply.content)  # text is the welcome's format only
        if isinstance(reply, MarkdownReply):
            raise TypeError("a MarkdownReply goes through respond(response_url, reply)")
        if isinstance(reply, (StreamReply, StreamWithTemplateCardReply)):
            stream_id = reply.stream_id or new_stream_id()
            if not reply.finish:  # refreshes are answered from the store until it is updated
                self._store.create(stream_id, reply.content, False)
            return reply.render(stream_id)
        render = getattr(reply, "render", None)
        if render is None:
            if inspect.iscoroutine(reply):
                reply.close()  # never awaited: close it so it does not warn later
            if inspect.isawaitable(reply):
                raise TypeError("the handler returned an awaitable; serve it with .asgi")
            raise TypeError(f"an AI-bot handler cannot return {type(reply).__name__}")
        out = render(new_stream_id())
        if not isinstance(out, bytes):
            raise TypeError("a reply's render() must return bytes")
        return out

    def _producer(self, chunks: Any) -> StreamProducer:
        stream_id = new_stream_id()
        try:
            self._store.create(stream_id, "", False)
        except BaseException:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            raise
        return StreamProducer(stream_id, self._store, self._error_text)

    def _first(self, producer: StreamProducer) -> bytes:
        return render_stream(producer.stream_id, producer.content, producer.finished)

    def _settled(self, request: AIBotRequest, key: str | None, inner: bytes) -> Response:
        settle(self._dedupe, key, inner)
        return self._answer(request.nonce, request.timestamp, inner)

    # ------------------------------------------------------------------ serving

    def serve(
        self, method: str, query: Mapping[str, str], body: bytes, http_request: Any = None
    ) -> Response:
        """Answer one request (the framework-free core of the WSGI application).

        A handler returning an awaitable gets a 500 (use ``serve_async`` or ``.asgi``); an
        async generator is run on an event loop of its own in a thread.
        """
        admitted = self._admit(method, query, body, http_request)
        if isinstance(admitted, Response):
            return admitted
        request, key = admitted.request, admitted.key
        try:
            reply = self._handler(request)
            if is_stream(reply):
                producer = self._producer(reply)
                producer.start_thread(reply)
                producer.wait(self._deadline)
                inner = self._first(producer)
            else:
                inner = self._plain_inner(request, reply)  # type: ignore[assignment]
                assert isinstance(inner, bytes)
            return self._settled(request, key, inner)
        except BaseException as error:
            return self._failed(key, error)

    async def serve_async(
        self, method: str, query: Mapping[str, str], body: bytes, http_request: Any = None
    ) -> Response:
        """Like ``serve``, awaiting awaitable replies; async generators run as tasks."""
        admitted = self._admit(method, query, body, http_request)
        if isinstance(admitted, Response):
            return admitted
        request, key = admitted.request, admitted.key
        handler = self._handler
        try:
            if self._run_sync_in_thread and not inspect.iscoroutinefunction(handler):
                reply = await asyncio.to_thread(handler, request)
            else:
                reply = handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
            if inspect.isasyncgen(reply):
                producer = self._producer(reply)
                task = producer.start_task(reply)
                self._tasks[task] = producer
                task.add_done_callback(lambda done: self._tasks.pop(done, None))
                await producer.wait_async(self._deadline)
                inner = self._first(producer)
            elif inspect.isgenerator(reply):
                producer = self._producer(reply)
                producer.start_thread(reply)
                await producer.wait_async(self._deadline)
                inner = self._first(producer)
            else:
                inner = self._plain_inner(request, reply)  # type: ignore[assignment]
                assert isinstance(inner, bytes)
            return self._settled(request, key, inner)
        except BaseException as error:
            return self._failed(key, error)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one WSGI request."""
        method = environ["REQUEST_METHOD"]
        query = parse_query(environ.get("QUERY_STRING", ""))
        body = b""
        if method == "POST":
            try:
                read = _wsgi.read_body(environ, self._max_body_size)
            except _wsgi.BadContentLength:
                return _wsgi.respond(start_response, bad_content_length())
            if read is None:
                return _wsgi.respond(start_response, too_large())
            body = read
        return _wsgi.respond(start_response, self.serve(method, query, body, environ))

    async def _serve_asgi(
        self, scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            raise ValueError(f"unsupported ASGI scope type: {kind!r}")
        method = scope["method"]
        query = parse_query(scope.get("query_string", b"").decode("latin-1"))
        body = b""
        if method == "POST":
            try:
                read = await _asgi.read_body(scope, receive, self._max_body_size)
            except _wsgi.BadContentLength:
                await _asgi.send_response(send, bad_content_length())
                return
            except _asgi.Disconnected:
                return
            if read is None:
                await _asgi.send_response(send, too_large())
                return
            body = read
        await _asgi.send_response(send, await self.serve_async(method, query, body, scope))

    async def _lifespan(self, receive: _asgi.Receive, send: _asgi.Send) -> None:
        """The lifespan protocol; at shutdown, streams still generating are cancelled."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                running = dict(self._tasks)
                for task in running:
                    task.cancel()
                if running:
                    await asyncio.gather(*running, return_exceptions=True)
                for producer in running.values():
                    producer.abandon("the server shut down")
                await send({"type": "lifespan.shutdown.complete"})
                return
