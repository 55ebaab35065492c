"""Typed answers of the API calls: frozen dataclasses, each keeping WeChat's whole answer.

Frozen dataclasses with ``slots`` rather than TypedDicts: a TypedDict is a plain ``dict`` at
run time, so a missing field is a ``KeyError`` wherever it is read and a number sent as a
string ("1") stays one; a dataclass is built once, by the call's parse function, which
fills defaults and converts types there (``department`` to a tuple of ints, ``|``-joined
lists to tuples). Each result also keeps the answer as WeChat sent it in ``raw`` (not in
its repr, not compared), so a field WeChat adds later, or one not typed here, is never
lost: ``user.raw["alias"]``.

:class:`SendResult` (``message/send``'s answer) is also a read-only ``Mapping`` over
``raw``, so code written when ``send_message`` returned the answer's dict
(``answer["msgid"]``, ``answer.get("invaliduser")``, ``answer == {...}``) keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Department", "Media", "SendResult", "User", "UserInfo"]


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _ids(value: Any) -> tuple[str, ...]:
    """A ``|``-joined string or a list of IDs, as a tuple (WeChat answers either)."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.split("|") if part)
    return tuple(str(part) for part in value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True, slots=True)
class User:
    """A member (user/get, user/list): the common fields, and the whole answer in ``raw``.

    ``status``: 1 active, 2 disabled, 4 not yet activated, 5 left the company.
    """

    userid: str
    name: str = ""
    department: tuple[int, ...] = ()
    position: str = ""
    mobile: str = ""
    email: str = ""
    status: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> User:
        """Build one from a member object of WeChat's answer."""
        return cls(
            userid=_text(data, "userid"),
            name=_text(data, "name"),
            department=tuple(_int(d) for d in data.get("department") or ()),
            position=_text(data, "position"),
            mobile=_text(data, "mobile"),
            email=_text(data, "email"),
            status=_int(data.get("status")),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class Department:
    """A department (department/list); ``parentid`` is 0 for the root."""

    id: int
    name: str = ""
    parentid: int = 0
    order: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> Department:
        """Build one from a department object of WeChat's answer."""
        return cls(
            id=_int(data.get("id")),
            name=_text(data, "name"),
            parentid=_int(data.get("parentid")),
            order=_int(data.get("order")),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Who an OAuth2 ``code`` belongs to (auth/getuserinfo).

    A member has ``userid`` (and ``user_ticket`` with the ``snsapi_privateinfo`` scope); a
    non-member has ``openid`` (and ``external_userid`` when they are an external contact).
    """

    userid: str | None = None
    user_ticket: str | None = field(default=None, repr=False)
    openid: str | None = None
    external_userid: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> UserInfo:
        """Build one from auth/getuserinfo's answer."""

        def get(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value else None

        return cls(
            userid=get("userid"),
            user_ticket=get("user_ticket"),
            openid=get("openid"),
            external_userid=get("external_userid"),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class Media:
    """What ``download_media`` wrote: the bytes written, and the file's name and type."""

    size: int
    filename: str = ""
    content_type: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class SendResult(Mapping[str, Any]):
    """message/send's answer (also of the template-card calls), typed.

    ``invaliduser`` / ``invalidparty`` / ``invalidtag`` / ``unlicenseduser``: the
    recipients WeChat refused (empty when all were reached); ``response_code``: the code a
    template card with buttons gets, for ``update_template_card`` (72 hours, one use). As a
    ``Mapping`` it reads ``raw``, WeChat's answer as sent (``result["msgid"]``).
    """

    msgid: str = ""
    invaliduser: tuple[str, ...] = ()
    invalidparty: tuple[str, ...] = ()
    invalidtag: tuple[str, ...] = ()
    unlicenseduser: tuple[str, ...] = ()
    response_code: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> SendResult:
        """Build one from message/send's answer."""
        return cls(
            msgid=_text(data, "msgid"),
            invaliduser=_ids(data.get("invaliduser")),
            invalidparty=_ids(data.get("invalidparty")),
            invalidtag=_ids(data.get("invalidtag")),
            unlicenseduser=_ids(data.get("unlicenseduser")),
            response_code=str(data["response_code"]) if data.get("response_code") else None,
            raw=dict(data),
        )

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)
