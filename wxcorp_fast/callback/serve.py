"""The framework-free callback server: ``serve_http`` and ``serve_http_async``.

``serve_http(method, query, body, agent_server, ...)`` takes what any HTTP framework can
give and returns a ``Response``; the WSGI and ASGI frontends only adapt to it. The checks
(``checks``) run first, in the Go original's order (chanxuehong/wechat
``corp/serve_http.go``); a rejected request goes to the invalid-request handler (default:
400 with the error's class and code, logged at WARNING). A verified message is claimed in the
dedupe store, if any, then handed to the message handler. A handler that raises gets a 500
(traceback logged at ERROR, nothing of the request in the body); its reply is rendered and
encrypted by ``responses``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import Any

from .._core import core
from ..errors import CallbackError
from .agent import AgentServer, AgentSettings, agent_settings
from .checks import check_envelope, check_message, check_signed, echo, open_encrypt, signed_params
from .dedupe import claim, settle
from .rejections import reject
from .request import DedupeStore, InvalidRequestHandler, Request, Response
from .responses import answer, inner_xml, internal_error, method_not_allowed, text_response

__all__ = ["serve_http", "serve_http_async"]

_log = logging.getLogger(__name__)

_parse_envelope = core.parse_envelope
_parse_message = core.parse_message


def _handler_failed(dedupe: DedupeStore | None, key: str | None, error: BaseException) -> Response:
    """Forget the claim of a handler that raised ``error``: 500 for an Exception, else re-raise."""
    if not isinstance(error, Exception):
        settle(dedupe, key, None)
        raise error
    _log.exception("message handler failed")
    settle(dedupe, key, None)
    return internal_error()


def _respond(
    request: Request, reply: object, dedupe: DedupeStore | None, key: str | None
) -> Response:
    """Answer ``request`` with the handler's ``reply`` and settle its claim ``key``."""
    try:
        inner = inner_xml(request, reply)
        response = answer(request, inner)
    except BaseException as error:
        return _handler_failed(dedupe, key, error)
    if key is not None:
        settle(dedupe, key, inner)
    return response


def _admit(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent: AgentSettings,
    invalid_request_handler: InvalidRequestHandler | None,
    http_request: Any,
    replay_window: float | None,
    dedupe: DedupeStore | None,
) -> Response | tuple[Request, str | None]:
    """Verify a request and claim its message in ``dedupe``: all before the message handler.

    Return the answer when there is no message to handle (URL verification, 405, a rejected
    request, a copy already answered), else ``(request, key)``: the verified message and its
    dedupe claim (``None``: nothing to settle).
    """
    if method != "POST" and method != "GET":
        return method_not_allowed()
    try:
        sig, ts_text, nonce, timestamp = signed_params(query)
        if method == "GET":
            return text_response(echo(query, agent, sig, ts_text, nonce, timestamp, replay_window))
        corp_id, agent_id, encrypt = _parse_envelope(body)
        check_envelope(corp_id, agent_id, agent)
        token = agent.token
        check_signed(token, ts_text, nonce, encrypt, sig, timestamp, replay_window)
        aes_key, random, xml = open_encrypt(encrypt, agent, corp_id)
        msg = _parse_message(xml)
        check_message(msg, corp_id, agent_id, agent)
        request = Request(
            http_request,
            query if type(query) is dict else dict(query),
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
    except CallbackError as error:
        return reject(invalid_request_handler, http_request, error, agent)
    if dedupe is None:
        return request, None
    key, seen = claim(request, dedupe)
    return (request, key) if seen is None else answer(request, seen)


def serve_http(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent_server: AgentServer,
    invalid_request_handler: InvalidRequestHandler | None = None,
    http_request: Any = None,
    *,
    replay_window: float | None = 300,
    dedupe: DedupeStore | None = None,
) -> Response:
    """Answer one callback request; see ``wxcorp_fast.callback.checks`` for every check.

    The handler is called synchronously; one that returns an awaitable gets a 500 (use
    ``serve_http_async``).
    """
    agent = agent_settings(agent_server)
    admitted = _admit(
        method, query, body, agent, invalid_request_handler, http_request, replay_window, dedupe
    )
    if isinstance(admitted, Response):
        return admitted
    request, key = admitted
    try:
        reply = agent.message_handler(request)
    except BaseException as error:
        return _handler_failed(dedupe, key, error)
    return _respond(request, reply, dedupe, key)


async def serve_http_async(
    method: str,
    query: Mapping[str, str],
    body: bytes,
    agent_server: AgentServer,
    invalid_request_handler: InvalidRequestHandler | None = None,
    http_request: Any = None,
    *,
    replay_window: float | None = 300,
    dedupe: DedupeStore | None = None,
    run_sync_in_thread: bool = False,
) -> Response:
    """Like ``serve_http``, but await a handler's awaitable reply.

    A sync handler runs inline on the event loop by default (a verified callback costs
    microseconds, a thread hop far more). ``run_sync_in_thread=True`` runs a handler that is
    not an ``async def`` function in ``asyncio.to_thread``, for handlers that block; an
    awaitable it returns is still awaited on the loop. The dedupe store is called inline.
    """
    agent = agent_settings(agent_server)
    admitted = _admit(
        method, query, body, agent, invalid_request_handler, http_request, replay_window, dedupe
    )
    if isinstance(admitted, Response):
        return admitted
    request, key = admitted
    handler = agent.message_handler
    try:
        if run_sync_in_thread and not inspect.iscoroutinefunction(handler):
            reply = await asyncio.to_thread(handler, request)
        else:
            reply = handler(request)
        if inspect.isawaitable(reply):
            reply = await reply
    except BaseException as error:
        return _handler_failed(dedupe, key, error)
    return _respond(request, reply, dedupe, key)
