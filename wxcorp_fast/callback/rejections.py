"""Rejected requests: the invalid-request handler, its default answer, and what to fix.

The default answer is 400 with the error's class and code only, so nothing reaches the
caller. The WARNING it logs says why and what to change, and never holds a secret, a
signature or decrypted content, e.g.::

    rejected callback: SignatureError (-40001): signature mismatch — check the Token
    configured for agent 218 (the one in the admin console: app > Receive messages)
"""

from __future__ import annotations

import logging
from typing import Any, Final

from .._spec import (
    MSG_B64_CHAR,
    MSG_B64_PAD,
    MSG_CORP_EMPTY,
    MSG_CORP_UTF8,
    MSG_CT_LENGTH,
    MSG_FRAME_LENGTH,
    MSG_FRAME_SHORT,
    MSG_MISSING_PARAMS,
    MSG_PAD,
    MSG_SIGNATURE_MISMATCH,
    MSG_TIMESTAMP,
    MSG_XML_DOCTYPE,
    MSG_XML_MALFORMED,
    MSG_XML_NO_ENCRYPT,
)
from ..errors import CallbackError
from .agent import AgentSettings
from .checks import (
    MSG_AGENT,
    MSG_ENVELOPE_AGENT,
    MSG_ENVELOPE_CORP,
    MSG_FRAME_CORP,
    MSG_INNER_AGENT,
    MSG_INNER_CORP,
    MSG_MISSING_ECHOSTR,
    MSG_STALE,
)
from .request import InvalidRequestHandler, Response
from .responses import internal_error, plain_response

__all__ = ["default_invalid_request_handler", "reject", "describe"]

_log = logging.getLogger(__name__)

_KEY_HINT: Final = (
    "the EncodingAESKey does not match the one in the admin console (app > Receive messages);"
    " after changing it there, keep the old key with update_aes_key() while WeChat switches"
)
_BODY_HINT: Final = (
    "the POST body is not WeChat's callback envelope: is a proxy or framework rewriting it?"
)

#: the message of an error -> what to change (``{agent}``: the agent's id)
_HINTS: Final[dict[str, str]] = {
    MSG_SIGNATURE_MISMATCH: "check the Token configured for agent {agent} (admin console: app"
    " > Receive messages); `python -m wxcorp_fast doctor` tells a wrong Token from a mangled"
    " request",
    MSG_MISSING_PARAMS: "the URL lacks msg_signature, timestamp or nonce: is this the callback"
    " URL configured in the admin console, and does the proxy keep the query string?",
    MSG_MISSING_ECHOSTR: "a GET without echostr: only WeChat's URL check is a GET",
    MSG_TIMESTAMP: "the timestamp parameter is not a number: the query string was altered",
    MSG_STALE: "the timestamp is outside the replay window: check this server's clock (NTP);"
    " otherwise it is an old request replayed",
    MSG_ENVELOPE_CORP: "check the corp_id configured for agent {agent} (admin console: My"
    " Company > Company ID)",
    MSG_ENVELOPE_AGENT: "this callback is for another app: check the AgentID configured for"
    " this URL (agent {agent}), or serve both with MultiAgentServerFrontend",
    MSG_FRAME_CORP: "the message was encrypted for another corp id: check the corp_id of"
    " agent {agent}",
    MSG_INNER_CORP: "the decrypted message does not match its envelope: a forged request",
    MSG_INNER_AGENT: "the decrypted message does not match its envelope: a forged request",
    MSG_AGENT: "this callback is for another app: check the AgentID configured for this URL"
    " (agent {agent})",
    MSG_PAD: _KEY_HINT,
    MSG_CT_LENGTH: _KEY_HINT + " (or the Encrypt text was cut)",
    MSG_FRAME_SHORT: _KEY_HINT,
    MSG_FRAME_LENGTH: _KEY_HINT,
    MSG_CORP_EMPTY: _KEY_HINT,
    MSG_CORP_UTF8: _KEY_HINT,
    MSG_B64_CHAR: "the Encrypt text is not base64: the body or query was re-encoded on the way"
    " (a '+' turned into a space?)",
    MSG_B64_PAD: "the Encrypt text is not base64: it was cut or re-encoded on the way",
    MSG_XML_MALFORMED: _BODY_HINT,
    MSG_XML_DOCTYPE: _BODY_HINT,
    MSG_XML_NO_ENCRYPT: _BODY_HINT + " (JSON bodies are for AI bots: wxcorp_fast.aibot)",
}


def describe(error: CallbackError, agent: AgentSettings | None = None) -> str:
    """Return ``Class (code): reason — hint`` for a rejected request (no secret in it)."""
    text = f"{type(error).__name__} ({error.code}): {error}"
    hint = _HINTS.get(str(error).split(":", 1)[0])
    if hint is None:
        return text
    return f"{text} — {hint.format(agent=agent.agent_id if agent is not None else '?')}"


def _default_answer(error: CallbackError, reason: str) -> Response:
    _log.warning("rejected callback: %s", reason)
    return plain_response(400, f"{type(error).__name__} ({error.code})\n".encode())


def default_invalid_request_handler(http_request: Any, error: CallbackError) -> Response:
    """Answer 400 with the error's class and code; log why at WARNING (nothing secret)."""
    return _default_answer(error, describe(error))


def reject(
    handler: InvalidRequestHandler | None,
    http_request: Any,
    error: CallbackError,
    agent: AgentSettings | None = None,
) -> Response:
    """Answer a rejected request with ``handler``, or the default 400 when it gives ``None``.

    ``agent`` (when known) makes the logged hint name the agent to fix.
    """
    if handler is not None:
        try:
            response = handler(http_request, error)
        except Exception:
            _log.exception("invalid-request handler failed")
            return internal_error()
        if response is not None:
            return response
    return _default_answer(error, describe(error, agent))
