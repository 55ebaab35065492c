"""The checks a callback passes before its handler runs, in the Go original's order.

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
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Final

from .._core import core
from .._spec import MAX_TIMESTAMP_DIGITS, MSG_MISSING_PARAMS, MSG_SIGNATURE_MISMATCH, MSG_TIMESTAMP
from ..errors import (
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    SignatureError,
    StaleRequestError,
)
from ..messages import MixedMessage
from .agent import AgentSettings

__all__ = [
    "signed_params",
    "age_text",
    "check_signed",
    "check_replay",
    "open_encrypt",
    "check_envelope",
    "check_message",
    "echo",
]

MSG_MISSING_ECHOSTR: Final = "missing or empty echostr"
MSG_STALE: Final = "timestamp outside the replay window"
MSG_ENVELOPE_CORP: Final = "envelope ToUserName is not the agent's corp_id"
MSG_ENVELOPE_AGENT: Final = "envelope AgentID is not the agent's"
MSG_FRAME_CORP: Final = "corp_id in frame is not the envelope's ToUserName"
MSG_INNER_CORP: Final = "message ToUserName is not the envelope's"
MSG_INNER_AGENT: Final = "message AgentID is not the envelope's"
MSG_AGENT: Final = "AgentID is not the agent's"

# The core's functions, bound once (the hot path looks them up per request otherwise).
_decrypt_msg = core.decrypt_msg
_msg_signature = core.msg_signature
_compare_digest = hmac.compare_digest
_now = time.time

_SUBSCRIPTION_EVENTS: Final = frozenset({"subscribe", "unsubscribe"})


def age_text(age: float) -> str:
    """Say how far a timestamp ``age`` seconds old is: ``"42 s old"`` or ``"5 s in the future"``."""
    return f"{age:.0f} s old" if age >= 0 else f"{-age:.0f} s in the future"


def signed_params(query: Mapping[str, str]) -> tuple[str, str, str, int]:
    """Return ``(msg_signature, timestamp text, nonce, timestamp)`` of a callback's query.

    Raises:
        SignatureError (-40001): a parameter is missing or empty, or the timestamp is not
            an integer.
    """
    sig = query.get("msg_signature")
    ts_text = query.get("timestamp")
    nonce = query.get("nonce")
    if not sig or not ts_text or not nonce:
        raise SignatureError(MSG_MISSING_PARAMS)
    if not (len(ts_text) <= MAX_TIMESTAMP_DIGITS and ts_text.isascii() and ts_text.isdigit()):
        raise SignatureError(MSG_TIMESTAMP)
    return sig, ts_text, nonce, int(ts_text)


def check_signed(
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
    check_replay(timestamp, replay_window)


def check_replay(timestamp: int, replay_window: float | None) -> None:
    """Refuse a timestamp more than ``replay_window`` seconds from now (``None``: no check).

    Raises:
        StaleRequestError (-40001): the timestamp is outside the window.
    """
    if replay_window is not None:
        age = _now() - timestamp
        if abs(age) > replay_window:
            raise StaleRequestError(
                f"{MSG_STALE}: {age_text(age)} by this server's clock, window {replay_window:g} s"
            )


def open_encrypt(
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


def echo(
    query: Mapping[str, str],
    agent: AgentSettings,
    sig: str,
    ts_text: str,
    nonce: str,
    timestamp: int,
    replay_window: float | None,
) -> bytes:
    """Verify a URL check (GET) and return its decrypted echostr."""
    echostr = query.get("echostr")
    if not echostr:
        raise SignatureError(MSG_MISSING_ECHOSTR)
    check_signed(agent.token, ts_text, nonce, echostr, sig, timestamp, replay_window)
    return open_encrypt(echostr, agent, agent.corp_id or None)[2]


def check_envelope(corp_id: str, agent_id: int, agent: AgentSettings) -> None:
    """Check the envelope's ToUserName and AgentID against the agent (when its corp_id is set)."""
    if agent.corp_id:
        if corp_id != agent.corp_id:
            raise CorpIdMismatchError(
                f"{MSG_ENVELOPE_CORP}: envelope {corp_id!r}, agent {agent.corp_id!r}"
            )
        if agent_id != agent.agent_id and agent_id != 0:
            raise CorpIdMismatchError(
                f"{MSG_ENVELOPE_AGENT}: envelope AgentID {agent_id}, this agent's {agent.agent_id}"
            )


def check_message(msg: MixedMessage, corp_id: str, agent_id: int, agent: AgentSettings) -> None:
    """Check the message against its envelope, and an AgentID 0 against the agent."""
    if msg.to_user_name != corp_id:
        raise CorpIdMismatchError(MSG_INNER_CORP)
    if msg.agent_id != agent_id:
        raise CorpIdMismatchError(MSG_INNER_AGENT)
    if (
        agent.corp_id
        and agent_id != agent.agent_id
        and not (msg.msg_type == "event" and msg.event in _SUBSCRIPTION_EVENTS)
    ):
        raise CorpIdMismatchError(f"{MSG_AGENT}: AgentID {agent_id}, this agent's {agent.agent_id}")
