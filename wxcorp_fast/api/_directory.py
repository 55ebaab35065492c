"""Directory, menu, OAuth2 and JS-SDK calls, written once without I/O (see ``_calls``).

Each function checks its arguments (a ``ValueError`` naming the bad one, before any I/O)
and returns a :class:`~wxcorp_fast.api._calls.Call` whose parse function builds the typed
result (``results``). The WeChat Work endpoint of each is in its docstring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urldefrag, urlencode

from ._calls import Call, check_id, check_text, get_json, post_call
from .results import Department, User, UserInfo

__all__ = [
    "AUTHORIZE_URL",
    "OAUTH2_SCOPES",
    "create_menu",
    "delete_menu",
    "get_agent_jsapi_ticket",
    "get_jsapi_ticket",
    "get_menu",
    "get_user",
    "get_user_info_by_code",
    "jsapi_signature",
    "list_departments",
    "list_users",
    "oauth2_authorize_url",
    "convert_to_userid",
    "userid_to_openid",
]

USER_GET: Final = "/cgi-bin/user/get"
USER_LIST: Final = "/cgi-bin/user/list"
CONVERT_TO_OPENID: Final = "/cgi-bin/user/convert_to_openid"
CONVERT_TO_USERID: Final = "/cgi-bin/user/convert_to_userid"
DEPARTMENT_LIST: Final = "/cgi-bin/department/list"
MENU_CREATE: Final = "/cgi-bin/menu/create"
MENU_GET: Final = "/cgi-bin/menu/get"
MENU_DELETE: Final = "/cgi-bin/menu/delete"
GETUSERINFO: Final = "/cgi-bin/auth/getuserinfo"
GET_JSAPI_TICKET: Final = "/cgi-bin/get_jsapi_ticket"
TICKET_GET: Final = "/cgi-bin/ticket/get"
AUTHORIZE_URL: Final = "https://open.weixin.qq.com/connect/oauth2/authorize"
OAUTH2_SCOPES: Final = frozenset({"snsapi_base", "snsapi_privateinfo", "snsapi_userinfo"})
MAX_BUTTONS: Final = 3
MAX_SUB_BUTTONS: Final = 5


def _none(data: dict[str, Any]) -> None:
    return None


# --------------------------------------------------------------------------- directory


def get_user(userid: str) -> Call[User]:
    """user/get (GET ``/cgi-bin/user/get?userid=``): one member."""
    check_text("userid", userid)
    return Call("GET", USER_GET, User.from_answer, {"userid": userid})


def _users(data: dict[str, Any]) -> list[User]:
    return [User.from_answer(user) for user in data.get("userlist") or ()]


def list_users(department_id: int, fetch_child: bool = False) -> Call[list[User]]:
    """user/list (GET ``/cgi-bin/user/list?department_id=&fetch_child=``): the members of a
    department with their details (of its sub-departments too with ``fetch_child``)."""
    check_id("department_id", department_id)
    if not isinstance(fetch_child, bool):
        raise ValueError(f"fetch_child must be a bool, got {fetch_child!r}")
    params = {"department_id": department_id, "fetch_child": int(fetch_child)}
    return Call("GET", USER_LIST, _users, params)


def _departments(data: dict[str, Any]) -> list[Department]:
    return [Department.from_answer(item) for item in data.get("department") or ()]


def list_departments(id: int | None = None) -> Call[list[Department]]:  # noqa: A002 - WeChat's
    """department/list (GET ``/cgi-bin/department/list?id=``): a department and all those
    below it (every department the app sees when ``id`` is None)."""
    if id is not None:
        check_id("id", id)
    return Call("GET", DEPARTMENT_LIST, _departments, None if id is None else {"id": id})


def _openid(data: dict[str, Any]) -> str:
    return str(data["openid"])


def userid_to_openid(userid: str) -> Call[str]:
    """user/convert_to_openid (POST ``/cgi-bin/user/convert_to_openid``, ``{"userid"}``):
    the member's openid, as WeChat Pay and other WeChat services know them."""
    check_text("userid", userid)
    return post_call(CONVERT_TO_OPENID, {"userid": userid}, _openid)


def _userid(data: dict[str, Any]) -> str:
    return str(data["userid"])


def convert_to_userid(openid: str) -> Call[str]:
    """user/convert_to_userid (POST ``/cgi-bin/user/convert_to_userid``, ``{"openid"}``):
    the member an openid stands for."""
    check_text("openid", openid)
    return post_call(CONVERT_TO_USERID, {"openid": openid}, _userid)


# --------------------------------------------------------------------------- menu


def _check_menu(menu: Mapping[str, Any]) -> None:
    buttons = menu.get("button") if isinstance(menu, Mapping) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"menu must be {{'button': [...]}} with 1 to {MAX_BUTTONS} buttons")
    for button in buttons:
        if not isinstance(button, Mapping) or not button.get("name"):
            raise ValueError("menu: every button needs a name")
        subs = button.get("sub_button")
        if subs is not None and (not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS):
            raise ValueError(f"menu: a button has at most {MAX_SUB_BUTTONS} sub_button")


def create_menu(agent_id: int, menu: Mapping[str, Any]) -> Call[None]:
    """menu/create (POST ``/cgi-bin/menu/create?agentid=``): set the app's menu.

    ``menu`` is WeChat's object, ``{"button": [...]}``: 1 to 3 buttons, each with a
    ``name`` and at most 5 ``sub_button``.
    """
    check_id("agent_id", agent_id)
    _check_menu(menu)
    return post_call(MENU_CREATE, dict(menu), _none, {"agentid": agent_id})


def _menu(data: dict[str, Any]) -> dict[str, Any]:
    return {"button": list(data.get("button") or ())}


def get_menu(agent_id: int) -> Call[dict[str, Any]]:
    """menu/get (GET ``/cgi-bin/menu/get?agentid=``): the menu as ``create_menu`` takes it."""
    check_id("agent_id", agent_id)
    return Call("GET", MENU_GET, _menu, {"agentid": agent_id})


def delete_menu(agent_id: int) -> Call[None]:
    """menu/delete (GET ``/cgi-bin/menu/delete?agentid=``): remove the app's menu."""
    check_id("agent_id", agent_id)
    return Call("GET", MENU_DELETE, _none, {"agentid": agent_id})


# --------------------------------------------------------------------------- OAuth2


def oauth2_authorize_url(
    corp_id: str,
    redirect_uri: str,
    state: str = "",
    agent_id: int | None = None,
    scope: str = "snsapi_base",
) -> str:
    """The page a member opens in WeChat Work to be sent back to ``redirect_uri?code=``.

    ``https://open.weixin.qq.com/connect/oauth2/authorize?appid=...#wechat_redirect``; no
    network. ``agent_id`` is required by the ``snsapi_privateinfo`` scope.
    """
    check_text("corp_id", corp_id)
    check_text("redirect_uri", redirect_uri)
    if not redirect_uri.startswith(("http://", "https://")):
        raise ValueError("redirect_uri must be an http:// or https:// URL")
    if scope not in OAUTH2_SCOPES:
        raise ValueError(f"scope must be one of {sorted(OAUTH2_SCOPES)}")
    if not isinstance(state, str) or len(state.encode()) > 128:
        raise ValueError("state must be a str of at most 128 bytes")
    if agent_id is not None:
        check_id("agent_id", agent_id)
    elif scope == "snsapi_privateinfo":
        raise ValueError("agent_id is required with scope snsapi_privateinfo")
    params: dict[str, Any] = {
        "appid": corp_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
    }
    if agent_id is not None:
        params["agentid"] = agent_id
    return f"{AUTHORIZE_URL}?{urlencode(params, quote_via=quote)}#wechat_redirect"


def get_user_info_by_code(code: str) -> Call[UserInfo]:
    """auth/getuserinfo (GET ``/cgi-bin/auth/getuserinfo?code=``): who an OAuth2 code is."""
    check_text("code", code)
    return Call("GET", GETUSERINFO, UserInfo.from_answer, {"code": code})


# --------------------------------------------------------------------------- JS-SDK


def get_jsapi_ticket() -> Call[dict[str, Any]]:
    """get_jsapi_ticket (GET ``/cgi-bin/get_jsapi_ticket``): the corp's jsapi_ticket
    (``{"ticket", "expires_in"}``), for ``wx.config``."""
    return get_json(GET_JSAPI_TICKET)


def get_agent_jsapi_ticket() -> Call[dict[str, Any]]:
    """ticket/get (GET ``/cgi-bin/ticket/get?type=agent_config``): the app's jsapi_ticket,
    for ``wx.agentConfig``."""
    return get_json(TICKET_GET, {"type": "agent_config"})


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK signature: SHA-1 of ``jsapi_ticket=..&noncestr=..&timestamp=..&url=..``.

    As WeChat documents it: the fields in that order, unescaped, the url without its
    ``#`` fragment.
    """
    check_text("ticket", ticket)
    check_text("noncestr", noncestr)
    check_text("url", url)
    if isinstance(timestamp, bool) or not str(timestamp).isdigit():
        raise ValueError(f"timestamp must be a number of seconds, got {timestamp!r}")
    plain = (
        f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={urldefrag(url)[0]}"
    )
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()


class AuthorizeUrls:
    """``oauth2_authorize_url`` of both clients (no I/O): the corp ID is their token
    server's ``corp_id``."""

    def oauth2_authorize_url(
        self,
        redirect_uri: str,
        state: str = "",
        agent_id: int | None = None,
        scope: str = "snsapi_base",
    ) -> str:
        """Return the OAuth2 page a member opens in WeChat Work to get a ``code``.

        ``https://open.weixin.qq.com/connect/oauth2/authorize?appid=CORPID&redirect_uri=...
        &response_type=code&scope=...&state=...&agentid=...#wechat_redirect``; WeChat Work
        then sends the member to ``redirect_uri?code=CODE&state=STATE``, and
        ``get_user_info_by_code(code)`` says who they are. No network.

        Raises:
            ValueError: a bad argument, or a token server without a ``corp_id``.
        """
        corp_id = getattr(getattr(self, "access_token_server", None), "corp_id", None)
        if not isinstance(corp_id, str) or not corp_id:
            raise ValueError("the access_token_server has no corp_id attribute")
        return oauth2_authorize_url(corp_id, redirect_uri, state, agent_id, scope)
