"""The framework-free callback server: ``serve_http`` and its pieces (API.md section 3).

``serve_http(method, query, body, agent_server, ...)`` takes what any HTTP framework can
give and returns a ``Response``; the WSGI and ASGI frontends only adapt to it. It applies
the checks of the Go original (chanxuehong/wechat ``corp/serve_http.go``), in its order:

POST: msg_signature / timestamp / nonce present (timestamp an integer) -> the envelope
parses -> when the agent's corp_id is set, the envelope's ToUserName equals it and its
AgentID is the agent's or 0 -> the signature matches -> the timestamp is inside
``replay_window`` -> the Encrypt text opens with the current AES key, else with the last
one -> the frame's corp id equals the envelope's ToUserName -> the message parses -> its
ToUserName and AgentID equal the envelope's -> an AgentID other than the agent's is only
accepted for subscribe/unsubscribe events. Checks against the agent's corp_id and agent_id
are skipped when its corp_id is empty; the envelope/frame/message consistency checks never are.

GET (URL verification): the same parameters plus echostr -> signature -> replay window ->
echostr opens with the current key, else the last -> when corp_id is set, the frame's corp
id equals it -> the answer is the decrypted echostr.

A rejected request goes to the invalid-request handler (default: 400 with the error's class
and code, logged at WARNING). A handler that raises gets a 500 (traceback logged at ERROR,
nothing of the request in the body); the reply to a message is the handler's reply,
rendered with ``to_user_name`` = the message's FromUserName, ``from_user_name`` = its
ToUserName and ``create_time`` = the request's timestamp, then encrypted reusing the
request's timestamp and nonce with a fresh random, the frame carrying the envelope's
ToUserName.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._core import core
from .agent import AgentServer, AgentSettings, agent_settings
from ._spec import MSG_SIGNATURE_MISMATCH
from .errors import (
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    SignatureError,
    StaleRequestError,
)

if TYPE_CHECKING:
    from .messages import MixedMessage

__all__ = [
    "Request",
    "Response",
    "DedupeStore",
    "InvalidRequestHandler",
    "serve_http",
    "serve_http_async",
    "write_response",
    "default_invalid_request_handler",
    "dedupe_key",
]

_log = logging.getLogger(__name__)

MSG_MISSING_PARAMS: Final = "missing or empty msg_signature, timestamp or nonce"
MSG_MISSING_ECHOSTR: Final = "missing or empty echostr"
MSG_TIMESTAMP: Final = "timestamp is not an integer"
MSG_STALE: Final = "timestamp outside the replay window"
MSG_ENVELOPE_CORP: Final = "envelope ToUserName is not the agent's corp_id"
MSG_ENVELOPE_AGENT: Final = "envelope AgentID is not the agent's"
MSG_FRAME_CORP: Final = "corp_id in frame is not the envelope's ToUserName"
MSG_INNER_CORP: Final = "message ToUserName is not the envelope's"
MSG_INNER_AGENT: Final = "message AgentID is not the envelope's"
MSG_AGENT: Final = "AgentID is not the agent's"

# The core's functions, bound once (the hot path looks them up per request otherwise).
_parse_envelope = core.parse_envelope
_parse_message = core.parse_message
_decrypt_msg = core.decrypt_msg
_msg_signature = core.msg_signature
_compare_digest = hmac.compare_digest
_now = time.time

_TEXT: Final = "text/plain; charset=utf-8"
_XML: Final = "application/xml; charset=utf-8"
_MAX_TIMESTAMP_DIGITS: Final = 20
_SUBSCRIPTION_EVENTS: Final = frozenset({"subscribe", "unsubscribe"})


@dataclass(slots=True)
class Request:
    """A verified, decrypted callback message: what a message handler gets."""

    http_request: Any
    """The WSGI environ or ASGI scope, or whatever the caller of ``serve_http`` passed."""
    query: dict[str, str]
    msg_signature: str
    timestamp: int
    nonce: str
    raw_msg_xml: bytes
    """The decrypted inner XML."""
    msg: MixedMessage
    aes_key: bytes
    """The AES key that opened this message (the last one after a rotation, if needed)."""
    random: bytes
    """The 16 random bytes of the request's frame."""
    corp_id: str
    """The envelope's ToUserName (the corp id the frame carries)."""
    agent_id: int
    agent_token: str


@dataclass(slots=True)
class Response:
    """An HTTP answer: status, headers (with Content-Type and Content-Length) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class DedupeStore(Protocol):
    """What ``serve_http`` needs of a dedupe store (see ``wxcorp_fast.dedupe``)."""

    def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""

    def finish(self, key: str, reply: bytes) -> None:
        """Store the inner XML of the reply given to ``key`` (``b""``: an empty answer)."""

    def discard(self, key: str) -> None:
        """Forget ``key`` (its handler failed, so a retry must run it again)."""


InvalidRequestHandler = Callable[[Any, CallbackError], "Response | None"]


def plain_response(status: int, body: bytes, *extra: tuple[str, str]) -> Response:
    """Return a plain-text response (for the frontends' own answers too)."""
    return Response(
        status, [("Content-Type", _TEXT), ("Content-Length", str(len(body))), *extra], body
    )


def default_invalid_request_handler(http_request: Any, error: CallbackError) -> Response:
    """Answer 400 with the error's class and code, logged at WARNING (nothing secret)."""
    name = type(error).__name__
    _log.warning("rejected callback: %s (%d)", name, error.code)
    return plain_response(400, f"{name} ({error.code})\n".encode())


def _internal_error() -> Response:
    return plain_response(500, b"Internal Server Error\n")


def method_not_allowed() -> Response:
    """Return the 405 answer to a method other than GET and POST."""
    return plain_response(405, b"Method Not Allowed\n", ("Allow", "GET, POST"))


def reject(
    handler: InvalidRequestHandler | None, http_request: Any, error: CallbackError
) -> Response:
    """Answer a rejected request with ``handler``, or the default 400 when it gives ``None``."""
    if handler is not None:
        try:
            response = handler(http_request, error)
        except Exception:
            _log.exception("invalid-request handler failed")
            return _internal_error()
        if response is not None:
            return response
    return default_invalid_request_handler(http_request, error)


# -- the checks --------------------------------------------------------------------------


def _check_signed(
    token: str,
    ts_text: str,
    nonce: str,
    encrypt: str,
    given: str,
    timestamp: int,
    replay_window: float | None,
) -> None:
    """Check the signature ``given`` of ``encrypt``, then the replay window."""
    expected = _msg_signature(token, ts_text, nonce, encrypt)
    if not (given.isascii() and _compare_digest(expected, given)):
        raise SignatureError(MSG_SIGNATURE_MISMATCH)
    if replay_window is not None and abs(_now() - timestamp) > replay_window:
        raise StaleRequestError(MSG_STALE)


def _open(
    encrypt: str, agent: AgentSettings, frame_corp_id: str | None
) -> tuple[bytes, bytes, bytes]:
    """Decrypt with the current key, else the last: ``(aes_key, random, msg)``.

    A key that does not open the frame, or opens it to a corp id other than
    ``frame_corp_id`` (when given), counts as failed. Base64 errors do not depend on the
    key and are raised at once.
    """
    current = agent.current_aes_key
    error: CallbackError
    try:
        random, msg, corp_id = _decrypt_msg(encrypt, current)
    except DecryptError as exc:
        error = exc
    else:
        if frame_corp_id is None or corp_id == frame_corp_id:
            return current, random, msg
        error = CorpIdMismatchError(MSG_FRAME_CORP)
    last = agent.last_aes_key
    if last == current:
        raise error
    random, msg, corp_id = _decrypt_msg(encrypt, last)
    if frame_corp_id is not None and corp_id != frame_corp_id:
        raise CorpIdMismatchError(MSG_FRAME_CORP)
    return last, random, msg


def _verify_url(
    query: Mapping[str, str],
    agent: AgentSettings,
    sig: str,
    ts_text: str,
    nonce: str,
    timestamp: int,
    replay_window: float | None,
) -> Response:
    """Answer URL verification (GET) with the decrypted echostr."""
    echostr = query.get("echostr")
    if not echostr:
        raise SignatureError(MSG_MISSING_ECHOSTR)
    _check_signed(agent.token, ts_text, nonce, echostr, sig, timestamp, replay_window)
    _, _, echo = _open(echostr, agent, agent.corp_id or None)
    return Response(200, [("Content-Type", _TEXT), ("Content-Length", str(len(echo)))], echo)


# -- replies -----------------------------------------------------------------------------

#: (token, aes_key, corp_id) -> MsgCrypto, for the reply envelopes (bounded; cleared when full).
_CODECS: dict[tuple[str, bytes, str], Any] = {}
_MAX_CODECS: Final = 64


def _answer(request: Request, inner: bytes) -> Response:
    """Answer ``request`` with the inner XML ``inner`` encrypted (empty body for ``b""``).

    One ``MsgCrypto`` per token, AES key and corp id is cached for the reply envelopes.
    """
    if not inner:
        return Response(200, [("Content-Type", _TEXT), ("Content-Length", "0")], b"")
    ident = (request.agent_token, request.aes_key, request.corp_id)
    codec = _CODECS.get(ident)
    if codec is None:
        encoding_aes_key = base64.b64encode(request.aes_key)[:43].decode("ascii")
        codec = core.MsgCrypto(request.agent_token, encoding_aes_key, request.corp_id)
        if len(_CODECS) >= _MAX_CODECS:
            _CODECS.clear()
        _CODECS[ident] = codec
    body: bytes = codec.encrypt(inner, request.nonce, request.timestamp)
    return Response(200, [("Content-Type", _XML), ("Content-Length", str(len(body)))], body)


def _inner_xml(request: Request, reply: object) -> bytes:
    """Render a handler's reply into inner XML (``b""`` for no reply)."""
    render = getattr(reply, "render", None)
    if render is not None:
        msg = request.msg
        xml = render(msg.from_user_name, msg.to_user_name, request.timestamp)
        if not isinstance(xml, bytes):
            raise TypeError("a reply's render() must return bytes")
        return xml
    if reply is None:
        return b""
    if isinstance(reply, bytes):
        return reply
    if isinstance(reply, str):
        return reply.encode()
    if inspect.iscoroutine(reply):
        reply.close()  # never awaited: close it so it does not warn later
    if inspect.isawaitable(reply):
        raise TypeError(
            "the message handler returned an awaitable; serve it with serve_http_async or .asgi"
        )
    raise TypeError(f"a message handler cannot return {type(reply).__name__}")


def write_response(request: Request, reply: object) -> bytes:
    """Return the encrypted reply envelope answering ``request`` (``b""`` for ``None``).

    ``reply`` is a reply object (anything with ``render``), or inner XML as bytes or str.
    The envelope reuses the request's timestamp and nonce, with a fresh random.
    """
    return _answer(request, _inner_xml(request, reply)).body


# -- dedupe ------------------------------------------------------------------------------


def dedupe_key(request: Request) -> str:
    """Return a message's identity: corp, AgentID and MsgId, else the SHA-1 of its XML."""
    msg_id = request.msg.msg_id
    if msg_id:
        return f"{request.corp_id}:{request.agent_id}:{msg_id}"
    digest = hashlib.sha1(request.raw_msg_xml, usedforsecurity=False).hexdigest()
    return f"{request.corp_id}:{request.agent_id}:sha1:{digest}"


def _claim(request: Request, dedupe: DedupeStore) -> tuple[str | None, Response | None]:
    """Claim the message in the store: ``(key, None)`` to handle it, or ``(_, answer)``."""
    key = dedupe_key(request)
    try:
        seen = dedupe.begin(key)
    except Exception:
        _log.exception("dedupe store failed; handling the message without it")
        return None, None
    if seen is None:
        return key, None
    return key, _answer(request, seen)


def _settle(dedupe: DedupeStore | None, key: str | None, inner: bytes | None) -> None:
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


def _handler_failed(dedupe: DedupeStore | None, key: str | None, error: BaseException) -> Response:
    """Forget the claim of a handler that raised ``error``: 500 for an Exception, else re-raise."""
    if not isinstance(error, Exception):
        _settle(dedupe, key, None)
        raise error
    _log.exception("message handler failed")
    _settle(dedupe, key, None)
    return _internal_error()


def _respond(
    request: Request, reply: object, dedupe: DedupeStore | None, key: str | None
) -> Response:
    """Answer ``request`` with the handler's ``reply`` and settle its claim ``key``."""
    try:
        inner = _inner_xml(request, reply)
        response = _answer(request, inner)
    except BaseException as error:
        return _handler_failed(dedupe, key, error)
    if key is not None:
        _settle(dedupe, key, inner)
    return response


# -- entry points ------------------------------------------------------------------------


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
        sig = query.get("msg_signature")
        ts_text = query.get("timestamp")
        nonce = query.get("nonce")
        if not sig or not ts_text or not nonce:
            raise SignatureError(MSG_MISSING_PARAMS)
        if not (len(ts_text) <= _MAX_TIMESTAMP_DIGITS and ts_text.isascii() and ts_text.isdigit()):
            raise SignatureError(MSG_TIMESTAMP)
        timestamp = int(ts_text)
        if method == "GET":
            return _verify_url(query, agent, sig, ts_text, nonce, timestamp, replay_window)
        corp_id, agent_id, encrypt = _parse_envelope(body)
        want_corp_id = agent.corp_id
        want_agent_id = agent.agent_id
        if want_corp_id:
            if corp_id != want_corp_id:
                raise CorpIdMismatchError(MSG_ENVELOPE_CORP)
            if agent_id != want_agent_id and agent_id != 0:
                raise CorpIdMismatchError(MSG_ENVELOPE_AGENT)
        token = agent.token
        _check_signed(token, ts_text, nonce, encrypt, sig, timestamp, replay_window)
        aes_key, random, xml = _open(encrypt, agent, corp_id)
        msg = _parse_message(xml)
        if msg.to_user_name != corp_id:
            raise CorpIdMismatchError(MSG_INNER_CORP)
        if msg.agent_id != agent_id:
            raise CorpIdMismatchError(MSG_INNER_AGENT)
        if (
            want_corp_id
            and agent_id != want_agent_id
            and not (msg.msg_type == "event" and msg.event in _SUBSCRIPTION_EVENTS)
        ):
            raise CorpIdMismatchError(MSG_AGENT)
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
        return reject(invalid_request_handler, http_request, error)
    if dedupe is None:
        return request, None
    key, early = _claim(request, dedupe)
    return (request, key) if early is None else early


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
    """Answer one callback request; see the module docstring for every check.

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
