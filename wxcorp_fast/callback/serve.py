"""The framework-free callback server: ``serve_http`` and ``serve_http_async``.

``serve_http(method, query, body, agent_server, ...)`` takes what any HTTP framework can
give and returns a ``Response``; the WSGI and ASGI frontends only adapt to it. The checks
(``checks``) run first, in the Go original's order (chanxuehong/wechat
``corp/serve_http.go``): a POST is first verified and opened in one call of the core
(``_open_callback``), which only says whether every check passes; when one does not, the
checks run one by one to name it. A rejected request goes to the invalid-request handler
(default: 400 with the error's class and code, logged at WARNING). A verified message is
claimed in the dedupe store, if any, then handed to the message handler. A handler that
raises gets a 500 (traceback logged at ERROR, nothing of the request in the body); its reply
is rendered and encrypted by ``responses``.

``serve_http_async`` awaits an async dedupe store (``AsyncRedisDedupeStore``) and calls a
synchronous one inline; ``serve_http`` cannot await, so it answers 500 to every request when
given an async store, with an ERROR that names the store (so too for an ``async def`` client
of deferred replies).

With ``deferred`` (a ``DeferredReplies``), the handler's call goes through it: under its
``reply_deadline`` in a worker, and a ``Deferred`` answer is sent later through its client; the
request is then answered empty and the dedupe claim is left to it (see ``deferred``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Mapping
from types import NoneType
from typing import TYPE_CHECKING, Any, Final, cast

from .._core import core
from .._lazy import lazy_module
from ..errors import CallbackError
from .agent import AgentServer, AgentSettings, agent_settings
from .checks import (
    check_envelope,
    check_message,
    check_replay,
    check_signed,
    echo,
    open_encrypt,
    signed_params,
)
from .dedupe import AnyDedupeStore, check_sync_store, claim, claim_async, settle, settle_async
from .deferred import LATER, MSG_NO_CLIENT, Deferred, DeferredReplies
from .rejections import reject
from .replies import ImageReply, NewsReply, TextReply, VideoReply, VoiceReply
from .request import DedupeStore, InvalidRequestHandler, Request, Response
from .responses import answer, inner_xml, internal_error, method_not_allowed, text_response

if TYPE_CHECKING:
    import asyncio
else:  # the ASGI path's (and a worker thread's event loop): imported on first use
    asyncio = lazy_module("asyncio", globals())

__all__ = ["serve_http", "serve_http_async"]

_log = logging.getLogger(__name__)

_WSGI_ENTRY: Final = "the WSGI entry point (serve_http, or a frontend called as WSGI)"

_parse_envelope = core.parse_envelope
_parse_message = core.parse_message
_open_callback = core._open_callback

#: Reply types that are never awaitable: the hot path skips ``inspect.isawaitable`` for them.
_PLAIN_REPLIES: Final = frozenset(
    {str, bytes, NoneType, TextReply, ImageReply, VoiceReply, VideoReply, NewsReply}
)


def _failed(error: BaseException) -> Response:
    """Answer 500 for a handler that raised ``error`` (logged); re-raise a BaseException."""
    if not isinstance(error, Exception):
        raise error
    _log.exception("message handler failed")
    return internal_error()


def _handler_failed(dedupe: DedupeStore | None, key: str | None, error: BaseException) -> Response:
    """Forget the claim of a handler that raised ``error``: 500 for an Exception, else re-raise."""
    settle(dedupe, key, None)
    return _failed(error)


def _refused_kinds(store: object, deferred: DeferredReplies | None) -> Response | None:
    """The logged 500 for an async store or client given to the WSGI entry point, else None."""
    try:
        check_sync_store(store, _WSGI_ENTRY)
        if deferred is not None:
            deferred.check_sync(_WSGI_ENTRY)
    except TypeError as error:
        _log.error("%s", error)
        return internal_error()
    return None


def _inner(request: Request, reply: object) -> bytes:
    """Render a handler's reply into inner XML; a ``Deferred`` here had no client to go to."""
    if isinstance(reply, Deferred):
        raise TypeError(MSG_NO_CLIENT)
    return inner_xml(request, reply)


def _admit(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent: AgentSettings,
    invalid_request_handler: InvalidRequestHandler | None,
    http_request: Any,
    replay_window: float | None,
) -> Response | Request:
    """Verify a request: all the checks before the dedupe store and the message handler.

    Return the answer when there is no message to handle (URL verification, 405, a rejected
    request), else the verified message.
    """
    if method != "POST" and method != "GET":
        return method_not_allowed()
    params = query if type(query) is dict else dict(query)
    opened = None
    if method == "POST":
        opened = _open_callback(
            params, body, agent.token, agent.current_aes_key, agent.corp_id, agent.agent_id
        )
    try:
        if opened is not None:  # every check but the replay window passed, in one call
            sig, timestamp, nonce, xml, msg, random, corp_id, agent_id = opened
            check_replay(timestamp, replay_window)
            aes_key, token = agent.current_aes_key, agent.token
        else:  # the checks one by one, to name the first that fails
            sig, ts_text, nonce, timestamp = signed_params(params)
            if method == "GET":
                return text_response(
                    echo(params, agent, sig, ts_text, nonce, timestamp, replay_window)
                )
            corp_id, agent_id, encrypt = _parse_envelope(body)
            check_envelope(corp_id, agent_id, agent)
            token = agent.token
            check_signed(token, ts_text, nonce, encrypt, sig, timestamp, replay_window)
            aes_key, random, xml = open_encrypt(encrypt, agent, corp_id)
            msg = _parse_message(xml)
            check_message(msg, corp_id, agent_id, agent)
    except CallbackError as error:
        return reject(invalid_request_handler, http_request, error, agent)
    return Request(
        http_request,
        params,
        sig,
        timestamp,
        nonce,
        xml,
        msg,
        aes_key,
        random,
        corp_id,
        agent_id,
        token,
    )


def serve_http(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent_server: AgentServer,
    invalid_request_handler: InvalidRequestHandler | None = None,
    http_request: Any = None,
    *,
    replay_window: float | None = 300,
    dedupe: AnyDedupeStore | None = None,
    deferred: DeferredReplies | None = None,
) -> Response:
    """Answer one callback request; see ``wxcorp_fast.callback.checks`` for every check.

    The handler is called synchronously; one that returns an awaitable gets a 500 (use
    ``serve_http_async``), and so does every request when ``dedupe`` is an async store
    (``AsyncRedisDedupeStore``): the ERROR logged names it. ``deferred`` sends the replies of
    slow handlers and ``Deferred`` answers later, through the API (a ``DeferredReplies``).
    """
    if dedupe is not None or deferred is not None:
        refused = _refused_kinds(dedupe, deferred)
        if refused is not None:
            return refused
    store = cast("DedupeStore | None", dedupe)
    agent = agent_settings(agent_server)
    request = _admit(
        method, query, body, agent, invalid_request_handler, http_request, replay_window
    )
    if isinstance(request, Response):
        return request
    key = None
    if store is not None:
        key, seen = claim(request, store)
        if seen is not None:
            return answer(request, seen)
    handler = agent.message_handler
    try:
        reply = (
            handler(request) if deferred is None else deferred.call(request, store, key, handler)
        )
        if reply is LATER:
            return answer(request, b"")
        inner = _inner(request, reply)
        response = answer(request, inner)
    except BaseException as error:
        return _handler_failed(store, key, error)
    settle(store, key, inner)
    return response


async def serve_http_async(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent_server: AgentServer,
    invalid_request_handler: InvalidRequestHandler | None = None,
    http_request: Any = None,
    *,
    replay_window: float | None = 300,
    dedupe: AnyDedupeStore | None = None,
    run_sync_in_thread: bool = False,
    deferred: DeferredReplies | None = None,
) -> Response:
    """Like ``serve_http``, but await a handler's awaitable reply.

    A sync handler runs inline on the event loop by default (a verified callback costs
    microseconds, a thread hop far more). ``run_sync_in_thread=True`` runs a handler that is
    not an ``async def`` function in ``asyncio.to_thread``, for handlers that block; an
    awaitable it returns is still awaited on the loop. An async dedupe store
    (``AsyncRedisDedupeStore``) is awaited; a synchronous one is called inline. Under the
    ``reply_deadline`` of ``deferred`` every handler runs as a task (a sync one in a thread).
    """
    agent = agent_settings(agent_server)
    request = _admit(
        method, query, body, agent, invalid_request_handler, http_request, replay_window
    )
    if isinstance(request, Response):
        return request
    key = None
    if dedupe is not None:
        key, seen = await claim_async(request, dedupe)
        if seen is not None:
            return answer(request, seen)
    handler = agent.message_handler
    try:
        if deferred is not None:
            inline = functools.partial(_call_handler, handler, request, run_sync_in_thread)
            reply = await deferred.call_async(request, dedupe, key, handler, inline)
        elif run_sync_in_thread:
            reply = await _call_handler(handler, request, True)
        else:  # the common case, without a coroutine of its own
            reply = handler(request)
            if type(reply) not in _PLAIN_REPLIES and inspect.isawaitable(reply):
                reply = await reply
        if reply is LATER:
            return answer(request, b"")
        inner = _inner(request, reply)
        response = answer(request, inner)
    except BaseException as error:
        if key is not None:
            await settle_async(dedupe, key, None)
        return _failed(error)
    if key is not None:
        await settle_async(dedupe, key, inner)
    return response


async def _call_handler(handler: Any, request: Request, run_sync_in_thread: bool) -> Any:
    """Call ``handler`` (in a thread when asked and not ``async def``); await its awaitable."""
    if run_sync_in_thread and not inspect.iscoroutinefunction(handler):
        reply = await asyncio.to_thread(handler, request)
    else:
        reply = handler(request)
    if type(reply) not in _PLAIN_REPLIES and inspect.isawaitable(reply):
        return await reply
    return reply
