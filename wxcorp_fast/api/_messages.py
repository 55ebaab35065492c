"""Message calls beyond message/send: group chats, recall, template cards (see ``_calls``).

Each function checks its arguments (a ``ValueError`` naming the bad one, before any I/O)
and returns a :class:`~wxcorp_fast.api._calls.Call`; the WeChat Work endpoint of each is
in its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._calls import Call, Recipients, check_id, check_text, post_call, send_message
from .results import SendResult

__all__ = [
    "create_appchat",
    "recall_message",
    "send_appchat",
    "send_template_card",
    "update_template_card",
]

APPCHAT_CREATE: Final = "/cgi-bin/appchat/create"
APPCHAT_SEND: Final = "/cgi-bin/appchat/send"
MESSAGE_RECALL: Final = "/cgi-bin/message/recall"
UPDATE_TEMPLATE_CARD: Final = "/cgi-bin/message/update_template_card"
APPCHAT_MIN_USERS: Final = 2
APPCHAT_MAX_USERS: Final = 2000
_CHATID: Final = re.compile(r"[0-9A-Za-z]{1,32}")


def _none(data: dict[str, Any]) -> None:
    return None


def _chatid(data: dict[str, Any]) -> str:
    return str(data.get("chatid", ""))


def _id_list(name: str, value: Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise ValueError(f"{name} must be a list of IDs, not a str")
    ids = list(value)
    if not all(isinstance(item, str) and item for item in ids):
        raise ValueError(f"{name} must hold non-empty str IDs")
    return ids


def create_appchat(
    userlist: Iterable[str], name: str = "", owner: str | None = None, chatid: str | None = None
) -> Call[str]:
    """appchat/create (POST ``/cgi-bin/appchat/create``): a group chat; its ``chatid``.

    ``userlist``: 2 to 2000 member userids; ``owner`` one of them (WeChat picks one when
    None); ``chatid`` up to 32 letters and digits (WeChat makes one when None).
    """
    users = _id_list("userlist", userlist)
    if not APPCHAT_MIN_USERS <= len(users) <= APPCHAT_MAX_USERS:
        raise ValueError(f"userlist must hold {APPCHAT_MIN_USERS} to {APPCHAT_MAX_USERS} userids")
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {name!r}")
    payload: dict[str, Any] = {"userlist": users}
    if name:
        payload["name"] = name
    if owner is not None:
        check_text("owner", owner)
        payload["owner"] = owner
    if chatid is not None:
        if not isinstance(chatid, str) or not _CHATID.fullmatch(chatid):
            raise ValueError("chatid must be 1 to 32 letters and digits")
        payload["chatid"] = chatid
    return post_call(APPCHAT_CREATE, payload, _chatid)


def send_appchat(
    chatid: str, msgtype: str, content: Mapping[str, Any], safe: bool = False
) -> Call[None]:
    """appchat/send (POST ``/cgi-bin/appchat/send``): a message to a group chat the app made.

    ``content`` is the ``msgtype`` object (``{"content": "..."}`` for text).
    """
    check_text("chatid", chatid)
    check_text("msgtype", msgtype)
    if not isinstance(content, Mapping):
        raise ValueError("content must be a mapping (the message's JSON object)")
    payload = {"chatid": chatid, "msgtype": msgtype, msgtype: dict(content), "safe": int(safe)}
    return post_call(APPCHAT_SEND, payload, _none)


def recall_message(msgid: str) -> Call[None]:
    """message/recall (POST ``/cgi-bin/message/recall``): recall a message sent within 24 h
    (its ``msgid`` from ``send_message``)."""
    check_text("msgid", msgid)
    return post_call(MESSAGE_RECALL, {"msgid": msgid}, _none)


def send_template_card(
    agent_id: int,
    template_card: Mapping[str, Any],
    touser: Recipients,
    toparty: Recipients,
    totag: Recipients,
) -> Call[SendResult]:
    """message/send of a ``template_card``; a card with buttons answers a
    ``response_code`` for ``update_template_card``."""
    if not isinstance(template_card, Mapping) or not template_card.get("card_type"):
        raise ValueError("template_card must be a mapping with a card_type")
    return send_message(agent_id, "template_card", template_card, touser, toparty, totag)


def update_template_card(
    agent_id: int,
    response_code: str,
    template_card: Mapping[str, Any] | None = None,
    replace_name: str | None = None,
    userids: Iterable[str] | None = None,
    partyids: Iterable[int] | None = None,
    tagids: Iterable[int] | None = None,
    atall: bool = False,
) -> Call[SendResult]:
    """message/update_template_card (POST ``/cgi-bin/message/update_template_card``).

    Updates the card a template-card event came from, with that event's (or the send's)
    ``response_code``: either to a new ``template_card`` or, for a button card, by
    renaming its buttons to ``replace_name``. Whose card: ``userids`` / ``partyids`` /
    ``tagids``, or ``atall``; nobody named means everyone who got it. The answer's
    ``invaliduser`` lists the userids not updated.
    """
    check_id("agent_id", agent_id)
    check_text("response_code", response_code)
    if (template_card is None) == (replace_name is None):
        raise ValueError("exactly one of template_card and replace_name is required")
    payload: dict[str, Any] = {"agentid": agent_id, "response_code": response_code}
    if template_card is not None:
        if not isinstance(template_card, Mapping) or not template_card.get("card_type"):
            raise ValueError("template_card must be a mapping with a card_type")
        payload["template_card"] = dict(template_card)
    else:
        check_text("replace_name", replace_name)
        payload["button"] = {"replace_name": replace_name}
    users = _id_list("userids", userids)
    if users:
        payload["userids"] = users
    for key, ids in (("partyids", partyids), ("tagids", tagids)):
        if ids is not None:
            values = list(ids)
            for value in values:
                check_id(key, value)
            if values:
                payload[key] = values
    if atall:
        payload["atall"] = 1
    return post_call(UPDATE_TEMPLATE_CARD, payload, SendResult.from_answer)
