"""HTTP endpoints for callbacks: WSGI applications with an ASGI twin (``.asgi``).

``AgentServerFrontend`` serves one agent; ``MultiAgentServerFrontend`` serves many from one
URL, choosing the agent by the query parameter ``agent_server``. Both only adapt the HTTP
request to ``serve_http`` / ``serve_http_async``:

- Methods other than GET and POST get 405 before anything is read.
- A POST body over ``max_body_size`` gets 413 with no handler called: with a Content-Length
  over the limit nothing is read; without one at most ``max_body_size + 1`` bytes are read
  (WSGI), or receiving stops at the chunk that crosses the limit (ASGI). A Content-Length
  that is not a number gets 400.
- Under ASGI an ``async def`` handler is awaited; a sync handler runs inline on the event
  loop (a callback costs microseconds, a thread hop more), unless ``run_sync_in_thread=True``
  sends it to ``asyncio.to_thread``: use that for handlers that block (database, HTTP calls).
- ``.asgi`` answers the lifespan protocol, and raises for other scope types (websocket).
- Dedupe is on by default: ``dedupe=None`` gives each frontend a ``MemoryDedupeStore`` whose
  ttl is twice the replay window (a replay is accepted until the window closes, and the first
  copy may have been handled up to one window earlier); ``dedupe=False`` turns it off. A
  store whose ttl is shorter than the replay window is refused: a replay accepted after its
  entry expired would run the handler again.
- Deferred replies (``reply_deadline``, ``client``, ``max_deferred``; see ``deferred``): a
  handler still running at the deadline, or one that returns ``Deferred(fn)``, has its request
  answered empty at once and its reply sent through ``client`` when ready. The lifespan
  shutdown awaits ``aclose()``; under WSGI call ``close()`` on exit (the CLI's gunicorn does,
  from its worker exit hook). ``MultiAgentServerFrontend`` takes a client per agent
  (``set_agent_server(key, server, client=...)``), the frontend's ``client`` by default; its
  agents share one ``max_deferred`` bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, NamedTuple, cast

from ..errors import CallbackError, UnknownAgentError
from . import _asgi, _wsgi
from ._query import parse_query
from .agent import AgentServer
from .dedupe import AnyDedupeStore, MemoryDedupeStore
from .deferred import MSG_NEEDS_CLIENT, DeferredReplies
from .rejections import reject
from .request import InvalidRequestHandler, Response
from .responses import method_not_allowed, plain_response
from .serve import serve_http, serve_http_async

__all__ = ["AgentServerFrontend", "MultiAgentServerFrontend", "URL_QUERY_AGENT_SERVER_KEY_NAME"]

URL_QUERY_AGENT_SERVER_KEY_NAME: Final = "agent_server"

MSG_UNKNOWN_AGENT: Final = "no agent server under this key"


def _dedupe_store(
    dedupe: AnyDedupeStore | None | Literal[False], replay_window: float | None
) -> AnyDedupeStore | None:
    """Return the store a frontend uses: the default one for ``None``, none for ``False``."""
    if dedupe is False:
        return None
    if dedupe is None:
        return MemoryDedupeStore(ttl=300 if replay_window is None else 2 * replay_window)
    ttl = getattr(dedupe, "ttl", None)
    if replay_window is not None and isinstance(ttl, (int, float)) and ttl < replay_window:
        raise ValueError(
            f"dedupe store ttl ({ttl:g} s) is shorter than replay_window ({replay_window:g} s):"
            f" a replay accepted after its entry expired would run the handler again; give the"
            f" store ttl >= {replay_window:g}"
        )
    return dedupe


class _Agent(NamedTuple):
    """An agent as a frontend serves it: its server and its deferred replies (or None)."""

    server: AgentServer
    deferred: DeferredReplies | None


def _too_large() -> Response:
    return plain_response(413, b"Request Entity Too Large\n")


def _bad_length() -> Response:
    return plain_response(400, b"Bad Request: invalid Content-Length\n")


class _Frontend:
    """What both frontends share: settings, and the WSGI and ASGI request cycles."""

    __slots__ = (
        "_invalid_request_handler",
        "_max_body_size",
        "_replay_window",
        "_dedupe",
        "_run_sync_in_thread",
        "_deferred",
        "asgi",
    )

    def __init__(
        self,
        invalid_request_handler: InvalidRequestHandler | None,
        max_body_size: int,
        replay_window: float | None,
        dedupe: AnyDedupeStore | None | Literal[False],
        run_sync_in_thread: bool,
        deferred: DeferredReplies | None,
    ) -> None:
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 0
        ):
            raise ValueError("max_body_size must be a non-negative int")
        if replay_window is not None and not replay_window > 0:
            raise ValueError("replay_window must be positive seconds, or None")
        self._invalid_request_handler = invalid_request_handler
        self._max_body_size = max_body_size
        self._replay_window = replay_window
        self._dedupe = _dedupe_store(dedupe, replay_window)
        self._run_sync_in_thread = run_sync_in_thread
        self._deferred = deferred
        http = self._asgi_http
        other = self._asgi_other

        # A plain ``async def`` function, not a bound method: servers tell ASGI 3 from ASGI 2
        # with ``inspect.isfunction`` / ``iscoroutinefunction`` (uvicorn reads a bound
        # method as ASGI 2).
        async def asgi(scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send) -> None:
            if scope["type"] == "http":
                await http(scope, receive, send)
            else:
                await other(scope, receive, send)

        asgi.__qualname__ = f"{type(self).__name__}.asgi"
        asgi.__doc__ = "This endpoint as an ASGI 3 application."
        self.asgi: Callable[[_asgi.Scope, _asgi.Receive, _asgi.Send], Any] = asgi
        """This endpoint as an ASGI 3 application."""

    def _agent_server(self, query: dict[str, str]) -> _Agent:
        raise NotImplementedError

    def _route(self, method: str, query: dict[str, str], http_request: Any) -> _Agent | Response:
        """Return the agent for this request (its server and deferred replies), or the answer."""
        if method != "POST" and method != "GET":
            return method_not_allowed()
        try:
            return self._agent_server(query)
        except CallbackError as error:
            return reject(self._invalid_request_handler, http_request, error)

    def close(self, timeout: float = 10.0) -> None:
        """Drain the deferred replies in flight (WSGI), up to ``timeout`` s; log what is left.

        New messages are then answered without running a handler under a deadline. Call it when
        the worker exits; not on an event loop's thread (use ``aclose`` there).
        """
        if self._deferred is not None:
            self._deferred.close(timeout)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Drain the deferred replies in flight (ASGI), up to ``timeout`` s; log, cancel the rest.

        The lifespan shutdown of ``.asgi`` awaits it; a mounted app (FastAPI ``mount``) gets no
        lifespan events, so await it in the host application's own shutdown.
        """
        if self._deferred is not None:
            await self._deferred.aclose(timeout)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one WSGI request."""
        method = environ["REQUEST_METHOD"]
        query = parse_query(environ.get("QUERY_STRING", ""))
        routed = self._route(method, query, environ)
        if isinstance(routed, Response):
            return _wsgi.respond(start_response, routed)
        server, deferred = routed
        body = b""
        if method == "POST":
            try:
                read = _wsgi.read_body(environ, self._max_body_size)
            except _wsgi.BadContentLength:
                return _wsgi.respond(start_response, _bad_length())
            if read is None:
                return _wsgi.respond(start_response, _too_large())
            body = read
        response = serve_http(
            method,
            query,
            body,
            server,
            self._invalid_request_handler,
            environ,
            replay_window=self._replay_window,
            dedupe=self._dedupe,
            deferred=deferred,
        )
        return _wsgi.respond(start_response, response)

    async def _asgi_other(
        self, scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send
    ) -> None:
        """Serve a scope other than http: lifespan; anything else (websocket) raises."""
        kind = scope["type"]
        if kind != "lifespan":
            raise ValueError(f"unsupported ASGI scope type: {kind!r}")
        await _asgi.lifespan(receive, send, self.aclose)

    async def _asgi_http(
        self, scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send
    ) -> None:
        method = scope["method"]
        query = parse_query(scope.get("query_string", b"").decode("latin-1"))
        routed = self._route(method, query, scope)
        if isinstance(routed, Response):
            await _asgi.send_response(send, routed)
            return
        server, deferred = routed
        body = b""
        if method == "POST":
            try:
                read = await _asgi.read_body(scope, receive, self._max_body_size)
            except _wsgi.BadContentLength:
                await _asgi.send_response(send, _bad_length())
                return
            except _asgi.Disconnected:
                return
            if read is None:
                await _asgi.send_response(send, _too_large())
                return
            body = read
        response = await serve_http_async(
            method,
            query,
            body,
            server,
            self._invalid_request_handler,
            scope,
            replay_window=self._replay_window,
            dedupe=self._dedupe,
            run_sync_in_thread=self._run_sync_in_thread,
            deferred=deferred,
        )
        await _asgi.send_response(send, response)


class AgentServerFrontend(_Frontend):
    """The callback endpoint of one agent: a WSGI application; ``.asgi`` is its ASGI twin.

    Args:
        agent_server: the agent.
        invalid_request_handler: ``handler(http_request, error) -> Response | None`` for
            rejected requests (``None``: the default 400).
        max_body_size: POST bodies over this many bytes get 413.
        replay_window: seconds a request's timestamp may be from now (``None``: no check).
        dedupe: a dedupe store (``MemoryDedupeStore``, ``RedisDedupeStore``; under ASGI also
            ``AsyncRedisDedupeStore``, which the WSGI entry point refuses); ``None`` (the
            default) gives a ``MemoryDedupeStore`` covering the replay window, ``False`` none.
        run_sync_in_thread: under ASGI, run sync handlers in ``asyncio.to_thread``.
        reply_deadline: seconds (above 0, below 5): a handler still running then has its
            request answered empty, and its reply sent later with ``client``; ``None``: no
            deadline (a ``Deferred`` answer still goes through ``client``).
        client: the API client that sends late replies (``CorpClient`` under WSGI,
            ``AsyncCorpClient`` under ASGI); required with ``reply_deadline``.
        max_deferred: handlers that may run at once under the deadline (and ``Deferred``
            functions); a message beyond that is answered empty and logged.

    Raises:
        ValueError: ``reply_deadline`` without ``client``, or out of range; a bad
            ``max_deferred``, ``max_body_size`` or ``replay_window``.
    """

    __slots__ = ("_server", "_agent")

    def __init__(
        self,
        agent_server: AgentServer,
        invalid_request_handler: InvalidRequestHandler | None = None,
        *,
        max_body_size: int = 1_048_576,
        replay_window: float | None = 300,
        dedupe: AnyDedupeStore | None | Literal[False] = None,
        run_sync_in_thread: bool = False,
        reply_deadline: float | None = None,
        client: Any = None,
        max_deferred: int = 100,
    ) -> None:
        shared = DeferredReplies.without_client(
            reply_deadline=reply_deadline, max_deferred=max_deferred
        )
        if client is None and reply_deadline is not None:
            raise ValueError(MSG_NEEDS_CLIENT)
        deferred = None if client is None else shared.with_client(client)
        super().__init__(
            invalid_request_handler,
            max_body_size,
            replay_window,
            dedupe,
            run_sync_in_thread,
            deferred,
        )
        self._server = agent_server
        self._agent = _Agent(agent_server, deferred)

    def __repr__(self) -> str:
        return f"AgentServerFrontend({self._server!r})"

    def _agent_server(self, query: dict[str, str]) -> _Agent:
        return self._agent


class MultiAgentServerFrontend(_Frontend):
    """One callback endpoint for many agents, chosen by the ``agent_server`` query parameter.

    Same arguments as ``AgentServerFrontend`` without the agent. Agents are added and
    removed while serving: each change builds a new mapping under a lock and swaps it in,
    and requests read the mapping without a lock. A missing or unknown key is rejected with
    ``UnknownAgentError`` (-40005) through the invalid-request handler.

    Deferred replies: each agent sends with its own client (``set_agent_server(key, server,
    client=...)``; every WeChat Work application has its own Secret, so its own token), or
    else with the frontend's ``client``. With ``reply_deadline`` every agent needs one of
    the two. ``max_deferred`` bounds the work of all agents together.
    """

    __slots__ = ("_servers", "_lock", "_client")

    def __init__(
        self,
        invalid_request_handler: InvalidRequestHandler | None = None,
        *,
        max_body_size: int = 1_048_576,
        replay_window: float | None = 300,
        dedupe: AnyDedupeStore | None | Literal[False] = None,
        run_sync_in_thread: bool = False,
        reply_deadline: float | None = None,
        client: Any = None,
        max_deferred: int = 100,
    ) -> None:
        super().__init__(
            invalid_request_handler,
            max_body_size,
            replay_window,
            dedupe,
            run_sync_in_thread,
            DeferredReplies.without_client(
                reply_deadline=reply_deadline, max_deferred=max_deferred
            ),
        )
        self._servers: dict[str, _Agent] = {}
        self._lock = threading.Lock()
        self._client = client

    def __repr__(self) -> str:
        return f"MultiAgentServerFrontend(keys={sorted(self._servers)!r})"

    def _agent_server(self, query: dict[str, str]) -> _Agent:
        key = query.get(URL_QUERY_AGENT_SERVER_KEY_NAME)
        agent = self._servers.get(key) if key else None
        if agent is None:
            raise UnknownAgentError(MSG_UNKNOWN_AGENT)
        return agent

    def set_agent_server(self, key: str, server: AgentServer, *, client: Any = None) -> None:
        """Serve ``server`` under ``key`` (replacing any agent already there).

        ``client`` sends this agent's deferred replies (the frontend's ``client`` when None).

        Raises:
            ValueError: an empty key; no client at all while the frontend has a
                ``reply_deadline``.
        """
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty str")
        chosen = self._client if client is None else client
        shared = cast(DeferredReplies, self._deferred)
        if chosen is None and shared.reply_deadline is not None:
            raise ValueError(MSG_NEEDS_CLIENT)
        agent = _Agent(server, None if chosen is None else shared.with_client(chosen))
        with self._lock:
            servers = dict(self._servers)
            servers[key] = agent
            self._servers = servers

    def delete_agent_server(self, key: str) -> None:
        """Stop serving the agent under ``key`` (nothing happens if there is none)."""
        with self._lock:
            if key in self._servers:
                servers = dict(self._servers)
                del servers[key]
                self._servers = servers

    def delete_all_agent_server(self) -> None:
        """Stop serving every agent."""
        with self._lock:
            self._servers = {}

    def set_invalid_request_handler(self, handler: InvalidRequestHandler | None) -> None:
        """Replace the invalid-request handler (``None``: the default 400)."""
        self._invalid_request_handler = handler
