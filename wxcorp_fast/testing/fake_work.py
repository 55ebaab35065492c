"""``FakeWorkServer``: a real HTTP server on 127.0.0.1 playing the WeChat Work API.

It answers every call of the clients, checking their arguments as WeChat Work does
(``gettoken``, ``getcallbackip``, ``media/upload``, ``media/uploadimg``, ``media/get``,
``message/send``, ``message/recall``, ``message/update_template_card``, ``user/get``,
``user/list``, ``department/list``, ``menu/create|get|delete``, ``auth/getuserinfo``,
``appchat/create``, ``appchat/send``, ``get_jsapi_ticket``, ``ticket/get``), keeps simple
state (seeded users and departments, each app's menu, chats, messages sent and recalled,
media uploaded, OAuth2 codes issued), records what it got, counts every call, and has
knobs for the failures a client must survive: expired tokens (42001), injected errcodes
(-1, 40014, 45009, ...), HTTP 5xx answers and delays, on every path. Any other path
can be stubbed with :meth:`FakeWorkServer.route`. Use it as a context manager, or through the
``fake_work`` fixture of ``wxcorp_fast.testing.fixtures``::

    with FakeWorkServer() as fake:
        client = CorpClient(
            DefaultAccessTokenServer(fake.corp_id, fake.corp_secret, base_url=fake.base_url),
            base_url=fake.base_url,
        )
        client.send_text(1000002, "hello", touser="zhangsan")
        assert fake.messages[0]["text"] == {"content": "hello"}
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Union
from urllib.parse import parse_qs, quote, urlsplit

from . import vectors

__all__ = [
    "FakeWorkServer",
    "Upload",
    "RecordedRequest",
    "RouteHandler",
    "FAKE_CORP_SECRET",
    "GETTOKEN",
    "GETCALLBACKIP",
    "MEDIA_UPLOAD",
    "MESSAGE_SEND",
    "AIBOT_RESPONSE",
    "USER_GET",
    "USER_LIST",
    "CONVERT_TO_OPENID",
    "CONVERT_TO_USERID",
    "DEPARTMENT_LIST",
    "MENU_CREATE",
    "MENU_GET",
    "MENU_DELETE",
    "GETUSERINFO",
    "MEDIA_GET",
    "MEDIA_UPLOADIMG",
    "APPCHAT_CREATE",
    "APPCHAT_SEND",
    "MESSAGE_RECALL",
    "UPDATE_TEMPLATE_CARD",
    "GET_JSAPI_TICKET",
    "TICKET_GET",
    "DEFAULT_USERS",
    "DEFAULT_DEPARTMENTS",
]

logger = logging.getLogger(__name__)

FAKE_CORP_SECRET: Final = "fake-corp-secret-0123456789abcdefghijklmnopqrstuvwxyz"
GETTOKEN: Final = "/cgi-bin/gettoken"
GETCALLBACKIP: Final = "/cgi-bin/getcallbackip"
MEDIA_UPLOAD: Final = "/cgi-bin/media/upload"
MESSAGE_SEND: Final = "/cgi-bin/message/send"
AIBOT_RESPONSE: Final = "/cgi-bin/aibot/response"
USER_GET: Final = "/cgi-bin/user/get"
USER_LIST: Final = "/cgi-bin/user/list"
CONVERT_TO_OPENID: Final = "/cgi-bin/user/convert_to_openid"
CONVERT_TO_USERID: Final = "/cgi-bin/user/convert_to_userid"
DEPARTMENT_LIST: Final = "/cgi-bin/department/list"
MENU_CREATE: Final = "/cgi-bin/menu/create"
MENU_GET: Final = "/cgi-bin/menu/get"
MENU_DELETE: Final = "/cgi-bin/menu/delete"
GETUSERINFO: Final = "/cgi-bin/auth/getuserinfo"
MEDIA_GET: Final = "/cgi-bin/media/get"
MEDIA_UPLOADIMG: Final = "/cgi-bin/media/uploadimg"
APPCHAT_CREATE: Final = "/cgi-bin/appchat/create"
APPCHAT_SEND: Final = "/cgi-bin/appchat/send"
MESSAGE_RECALL: Final = "/cgi-bin/message/recall"
UPDATE_TEMPLATE_CARD: Final = "/cgi-bin/message/update_template_card"
GET_JSAPI_TICKET: Final = "/cgi-bin/get_jsapi_ticket"
TICKET_GET: Final = "/cgi-bin/ticket/get"
#: what a new server's directory holds (``add_user`` / ``add_department`` add more)
DEFAULT_DEPARTMENTS: Final[tuple[dict[str, Any], ...]] = (
    {"id": 1, "name": "总公司", "parentid": 0, "order": 100000000},
    {"id": 2, "name": "研发部", "parentid": 1, "order": 100000000},
)
DEFAULT_USERS: Final[tuple[dict[str, Any], ...]] = (
    {
        "userid": "zhangsan",
        "name": "张三",
        "department": [1, 2],
        "position": "产品经理",
        "mobile": "13800000000",
        "email": "zhangsan@example.com",
        "status": 1,
    },
    {
        "userid": "lisi",
        "name": "李四",
        "department": [2],
        "position": "工程师",
        "mobile": "13800000001",
        "email": "lisi@example.com",
        "status": 1,
    },
)
#: template cards with buttons, whose send answers a response_code
INTERACTIVE_CARDS: Final = frozenset(
    {"button_interaction", "vote_interaction", "multiple_interaction"}
)
CARD_TYPES: Final = INTERACTIVE_CARDS | {"text_notice", "news_notice"}
MAX_IMAGE: Final = 2 * 1024 * 1024
AIBOT_RESPONSE_TYPES: Final = frozenset({"markdown", "template_card"})
MAX_AIBOT_CONTENT: Final = 20480

MAX_BODY: Final = 64 * 1024 * 1024
MAX_LINE: Final = 65536
MAX_HEADERS: Final = 100
# Size limits of 上传临时素材 (bytes); uploads must be larger than 5 bytes.
MEDIA_LIMITS: Final = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}
MESSAGE_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "file",
        "textcard",
        "news",
        "mpnews",
        "markdown",
        "miniprogram_notice",
        "template_card",
    }
)
ERRMSG: Final = {
    -1: "system busy",
    40001: "invalid credential",
    40004: "invalid media type",
    40006: "invalid file size",
    40008: "invalid message type",
    40013: "invalid corpid",
    40007: "invalid media_id",
    40014: "invalid access_token",
    40029: "invalid code",
    40003: "invalid openid",
    40035: "invalid parameter",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40063: "some parameters are empty",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41011: "missing agentid",
    42001: "access_token expired",
    44004: "empty content",
    45009: "reach max api daily quota limit",
    45033: "api concurrent out of limit",
    46003: "menu no exist",
    47001: "data format error",
    60111: "userid not found",
    60123: "invalid party id",
    86003: "chat not exist",
    86215: "chatid exists",
}


@dataclass(frozen=True)
class Upload:
    """One media file the fake server received."""

    media_type: str
    media_id: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class _File:
    """An answer that is a file (media/get): sent with its Content-Disposition."""

    content: bytes
    filename: str
    content_type: str


@dataclass(frozen=True)
class RecordedRequest:
    """One call the fake server got: method, path, query (as sent, secrets included), body.

    Its repr shows ``access_token`` and ``corpsecret`` as ``***``.
    """

    method: str
    path: str
    query: dict[str, str]
    body: bytes = field(default=b"", repr=False)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        shown = {k: "***" if k in _SECRET_PARAMS else v for k, v in self.query.items()}
        return f"RecordedRequest(method={self.method!r}, path={self.path!r}, query={shown!r})"


#: A routed path's handler: it gets the recorded request and returns a JSON object (sent
#: with errcode 0 and errmsg "ok" unless it sets them), or ``(status, body)`` where body
#: is a JSON object or raw text/bytes (sent as text/plain).
RouteHandler = Callable[
    [RecordedRequest], Union[Mapping[str, Any], tuple[int, Union[Mapping[str, Any], str, bytes]]]
]


_SECRET_PARAMS: Final = frozenset({"access_token", "corpsecret"})

# a built-in answer: (query, headers, body) -> JSON object, or a file (media/get)
_Builtin = Callable[[dict[str, str], Mapping[str, str], bytes], Union[dict[str, Any], "_File"]]


@dataclass
class _Injection:
    """A queued failure: ``kind`` is ``"errcode"`` or ``"status"``."""

    kind: str
    value: int
    path: str | None
    remaining: int
    errmsg: str


class _Answer(Exception):
    """Raised inside a route to answer with an errcode."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")


class FakeWorkServer:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port answering like WeChat Work.

    Records: ``requests`` (every call), ``messages`` (payloads message/send accepted),
    ``uploads``, ``tokens`` (issued), ``connections`` (TCP connections accepted),
    ``responses`` (payloads pushed to AI-bot ``response_url``s it issued with
    ``response_url()``); ``calls`` counts calls per path.

    Args:
        corp_id: the corpid ``gettoken`` accepts (the docs' example by default).
        corp_secret: the corpsecret ``gettoken`` accepts.
        expires_in: the ``expires_in`` of issued tokens (7200 like WeChat; settable).
        callback_ips: what ``getcallbackip`` lists.
        port: the 127.0.0.1 port to listen on; 0 (the default) picks a free one.
    """

    def __init__(
        self,
        corp_id: str = vectors.CORP_ID,
        corp_secret: str = FAKE_CORP_SECRET,
        *,
        expires_in: int = 7200,
        callback_ips: tuple[str, ...] = ("101.226.103.0/25", "140.207.54.0/25"),
        port: int = 0,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError("port must be an int from 0 to 65535")
        self._requested_port = port
        self.corp_id = corp_id
        self.corp_secret = corp_secret
        self.expires_in = expires_in
        self.callback_ips = callback_ips
        self.messages: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._response_codes: dict[str, bool] = {}  # response_code -> used
        self.uploads: list[Upload] = []
        self.tokens: list[str] = []
        self.users: dict[str, dict[str, Any]] = {u["userid"]: dict(u) for u in DEFAULT_USERS}
        self.departments: dict[int, dict[str, Any]] = {
            d["id"]: dict(d) for d in DEFAULT_DEPARTMENTS
        }
        self.menus: dict[int, dict[str, Any]] = {}
        self.chats: dict[str, dict[str, Any]] = {}
        self.chat_messages: list[dict[str, Any]] = []
        self.recalled: list[str] = []
        self.card_updates: list[dict[str, Any]] = []
        self.images: dict[str, bytes] = {}
        self._media: dict[str, Upload] = {}
        self._codes: dict[str, str] = {}  # OAuth2 code -> userid
        self._sent: dict[str, dict[str, Any]] = {}  # msgid -> payload
        self._card_codes: dict[str, bool] = {}  # template-card response_code -> used
        self.jsapi_tickets: list[str] = []
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._valid: dict[str, float] = {}
        self._injections: list[_Injection] = []
        self._delays: dict[str | None, float] = {}
        self._routes: dict[tuple[str, str], RouteHandler] = {}
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The port the server listens on (after ``start``)."""
        if self._httpd is None:
            raise RuntimeError("FakeWorkServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``base_url`` to clients and token servers."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeWorkServer:
        """Bind 127.0.0.1 on ``port`` (a free one for 0) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("FakeWorkServer is already started")
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", self._requested_port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeWorkServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and wake delayed answers."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeWorkServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._httpd is not None else "stopped"
        return f"FakeWorkServer({where}, corp_id={self.corp_id!r})"

    def response_url(self) -> str:
        """Issue an AI-bot ``response_url`` (one use, as WeChat Work's) served by this server.

        Pass it as ``AIBotSimulator(..., response_urls=fake.response_url)``; what is pushed
        to it lands in ``responses``. A second push, or an unknown code, is answered with
        errcode 40035 (WeChat Work does not document its own).
        """
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._response_codes[code] = False
        return f"{self.base_url}{AIBOT_RESPONSE}?response_code={code}"

    # ----------------------------------------------------------------- state

    def add_user(
        self, userid: str, name: str = "", department: tuple[int, ...] = (1,), **fields: Any
    ) -> dict[str, Any]:
        """Add (or replace) a member that user/get, user/list and OAuth2 codes know.

        ``fields`` are more of WeChat's member fields (``mobile``, ``email``, ``status``
        (1 by default), ``position``, ``alias``, ...), answered as given.
        """
        if not userid:
            raise ValueError("userid must not be empty")
        user: dict[str, Any] = {
            "userid": userid,
            "name": name or userid,
            "department": list(department),
        }
        user.setdefault("status", 1)
        user.update(fields)
        with self._lock:
            self.users[userid] = user
        return user

    def add_department(
        self,
        id: int,
        name: str,
        parentid: int = 1,
        order: int = 0,  # noqa: A002 - WeChat's
    ) -> dict[str, Any]:
        """Add (or replace) a department that department/list and user/list know."""
        if id <= 0:
            raise ValueError("id must be positive")
        department = {"id": id, "name": name, "parentid": parentid, "order": order}
        with self._lock:
            self.departments[id] = department
        return department

    def add_media(
        self,
        content: bytes,
        filename: str = "media.bin",
        content_type: str = "application/octet-stream",
        media_type: str = "file",
    ) -> str:
        """Store a temporary media file, as if uploaded; return its media_id (media/get
        serves it)."""
        media_id = f"fake-media-{secrets.token_hex(12)}"
        with self._lock:
            self._media[media_id] = Upload(media_type, media_id, filename, content_type, content)
        return media_id

    def oauth_code(self, userid: str) -> str:
        """Issue a one-use OAuth2 code for member ``userid`` (auth/getuserinfo answers it),
        as WeChat Work does when the member comes back from the authorize page."""
        if userid not in self.users:
            raise ValueError(f"no user {userid!r}: add_user() first")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = userid
        return code

    def message(self, msgid: str) -> dict[str, Any] | None:
        """The message/send payload of ``msgid`` (None if unknown)."""
        with self._lock:
            return self._sent.get(msgid)

    # ----------------------------------------------------------------- knobs

    def route(self, method: str, path: str, handler: RouteHandler | None) -> None:
        """Answer ``method path`` with ``handler`` (``None`` removes the route).

        The handler gets the recorded :class:`RecordedRequest` (``.query``, ``.body``, ``.json()``)
        and returns a JSON object, sent with ``errcode`` 0 and ``errmsg`` "ok" unless it
        sets them, or ``(status, body)``: an HTTP status and a JSON object or raw text.
        A route takes precedence over the built-in answers. The call is counted and
        recorded, the access_token is checked first (41001, 40014, 42001 after
        :meth:`expire_tokens`) except on gettoken, and :meth:`fail`, :meth:`http_error`
        and :meth:`delay` apply as to any path. A handler that raises is answered 500::

            fake.route("GET", "/cgi-bin/user/get",
                       lambda req: {"userid": req.query["userid"], "name": "张三"})
        """
        with self._lock:
            if handler is None:
                self._routes.pop((method, path), None)
            else:
                self._routes[(method, path)] = handler

    def expire_tokens(self) -> None:
        """Expire every token issued so far: calls with one answer 42001."""
        with self._lock:
            self._valid = dict.fromkeys(self._valid, 0.0)

    def fail(
        self, errcode: int, times: int = 1, *, path: str | None = None, errmsg: str | None = None
    ) -> None:
        """Answer the next ``times`` calls (to ``path``, or to any path) with ``errcode``."""
        self._inject("errcode", errcode, times, path, errmsg or ERRMSG.get(errcode, "error"))

    def http_error(self, status: int = 500, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` calls (to ``path``, or to any) with HTTP ``status``."""
        self._inject("status", status, times, path, "")

    def delay(self, seconds: float, *, path: str | None = None) -> None:
        """Delay every answer (to ``path``, or to any path) by ``seconds``; 0 turns it off."""
        with self._lock:
            self._delays[path] = seconds

    def reset(self) -> None:
        """Forget calls, records, tokens, knobs and routes (the users and departments stay)."""
        with self._lock:
            self._routes.clear()
            self._calls.clear()
            self.requests.clear()
            self.connections = 0
            self._valid.clear()
            self._injections.clear()
            self._delays.clear()
            self.messages.clear()
            self.responses.clear()
            self._response_codes.clear()
            self.uploads.clear()
            self.tokens.clear()
            self.menus.clear()
            self.chats.clear()
            self.chat_messages.clear()
            self.recalled.clear()
            self.card_updates.clear()
            self.images.clear()
            self._media.clear()
            self._codes.clear()
            self._sent.clear()
            self._card_codes.clear()
            self.jsapi_tickets.clear()

    def _inject(self, kind: str, value: int, times: int, path: str | None, errmsg: str) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._injections.append(_Injection(kind, value, path, times, errmsg))

    # ----------------------------------------------------------------- counters

    @property
    def calls(self) -> Counter[str]:
        """A copy of the number of calls per path (every path, also unknown ones)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def gettoken_calls(self) -> int:
        """The number of ``/cgi-bin/gettoken`` calls."""
        return self.calls[GETTOKEN]

    # ----------------------------------------------------------------- answers

    def _before(self, request: RecordedRequest) -> _Injection | None:
        """Count the call, apply the delay, and pop an injected failure that matches."""
        path = request.path
        with self._lock:
            self._calls[path] += 1
            self.requests.append(request)
            delay = self._delays.get(path, self._delays.get(None, 0.0))
            found = next((i for i in self._injections if i.path in (None, path)), None)
            if found is not None:
                found.remaining -= 1
                if found.remaining == 0:
                    self._injections.remove(found)
        if delay > 0:
            self._stopping.wait(delay)
        return found

    def _answer(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, Any] | str | bytes | _File | None]:
        """Return (HTTP status, JSON object, raw body or file) for one request."""
        split = urlsplit(target)
        path = split.path
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = RecordedRequest(method, path, query, body)
        injected = self._before(request)
        if injected is not None:
            if injected.kind == "status":
                return injected.value, None
            return 200, {"errcode": injected.value, "errmsg": injected.errmsg}
        with self._lock:
            handler = self._routes.get((method, path))
        if handler is not None:
            return self._routed(handler, request)
        routes: dict[tuple[str, str], _Builtin] = {
            ("GET", GETTOKEN): self._gettoken,
            ("GET", GETCALLBACKIP): self._getcallbackip,
            ("POST", MEDIA_UPLOAD): self._media_upload,
            ("POST", MESSAGE_SEND): self._message_send,
            ("POST", AIBOT_RESPONSE): self._aibot_response,
            ("GET", USER_GET): self._user_get,
            ("GET", USER_LIST): self._user_list,
            ("POST", CONVERT_TO_OPENID): self._convert_to_openid,
            ("POST", CONVERT_TO_USERID): self._convert_to_userid,
            ("GET", DEPARTMENT_LIST): self._department_list,
            ("POST", MENU_CREATE): self._menu_create,
            ("GET", MENU_GET): self._menu_get,
            ("GET", MENU_DELETE): self._menu_delete,
            ("GET", GETUSERINFO): self._getuserinfo,
            ("GET", MEDIA_GET): self._media_get,
            ("POST", MEDIA_UPLOADIMG): self._media_uploadimg,
            ("POST", APPCHAT_CREATE): self._appchat_create,
            ("POST", APPCHAT_SEND): self._appchat_send,
            ("POST", MESSAGE_RECALL): self._message_recall,
            ("POST", UPDATE_TEMPLATE_CARD): self._update_template_card,
            ("GET", GET_JSAPI_TICKET): self._jsapi_ticket,
            ("GET", TICKET_GET): self._agent_ticket,
        }
        route = routes.get((method, path))
        if route is None:
            return 404, None
        try:
            if path != GETTOKEN and path != AIBOT_RESPONSE:  # a response_url is its own key
                self._check_token(query.get("access_token"))
            found = route(query, headers, body)
        except _Answer as answer:
            return 200, {"errcode": answer.errcode, "errmsg": answer.errmsg}
        if isinstance(found, _File):
            return 200, found
        return 200, {"errcode": 0, "errmsg": "ok", **found}

    def _routed(
        self, handler: RouteHandler, request: RecordedRequest
    ) -> tuple[int, Mapping[str, Any] | str | bytes | _File | None]:
        try:
            if request.path != GETTOKEN:
                self._check_token(request.query.get("access_token"))
        except _Answer as answer:
            return 200, {"errcode": answer.errcode, "errmsg": answer.errmsg}
        try:
            result = handler(request)
        except Exception:  # noqa: BLE001 - a broken stub is answered 500, and logged
            logger.exception("route %s %s raised", request.method, request.path)
            return 500, None
        if isinstance(result, tuple):
            return result
        return 200, {"errcode": 0, "errmsg": "ok", **result}

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise _Answer(41001)
        with self._lock:
            deadline = self._valid.get(token)
        if deadline is None:
            raise _Answer(40014)
        if time.monotonic() >= deadline:
            raise _Answer(42001)

    def _gettoken(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        corp_id, secret = query.get("corpid"), query.get("corpsecret")
        if not corp_id:
            raise _Answer(41002)
        if not secret:
            raise _Answer(41004)
        if corp_id != self.corp_id:
            raise _Answer(40013)
        if not secrets.compare_digest(secret.encode(), self.corp_secret.encode()):
            raise _Answer(40001)
        token = secrets.token_urlsafe(48)
        with self._lock:
            expires_in = self.expires_in
            self._valid[token] = time.monotonic() + expires_in
            self.tokens.append(token)
        return {"access_token": token, "expires_in": expires_in}

    def _getcallbackip(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        return {"ip_list": list(self.callback_ips)}

    def _media_upload(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        media_type = query.get("type", "")
        if media_type not in MEDIA_LIMITS:
            raise _Answer(40004)
        media = next(
            (
                p
                for p in _parse_multipart(headers.get("content-type", ""), body)
                if p.name == "media" and p.filename is not None
            ),
            None,
        )
        if media is None or media.filename is None:
            raise _Answer(40035, "invalid parameter: no media part with a filename")
        if not 5 < len(media.content) <= MEDIA_LIMITS[media_type]:
            raise _Answer(40006)
        media_id = f"fake-media-{secrets.token_hex(12)}"
        record = Upload(media_type, media_id, media.filename, media.content_type, media.content)
        with self._lock:
            self.uploads.append(record)
            self._media[media_id] = record
        return {"type": media_type, "media_id": media_id, "created_at": str(int(time.time()))}

    def _message_send(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        try:
            payload = json.loads(body)
        except ValueError:
            raise _Answer(47001) from None
        if not isinstance(payload, dict):
            raise _Answer(47001)
        if "agentid" not in payload:
            raise _Answer(41011)
        if type(payload["agentid"]) is not int:
            raise _Answer(40056)
        msgtype = payload.get("msgtype")
        if msgtype not in MESSAGE_TYPES:
            raise _Answer(40008)
        if not any(payload.get(k) for k in ("touser", "toparty", "totag")):
            raise _Answer(40035, "invalid parameter: touser, toparty and totag are all empty")
        content = payload.get(msgtype)
        if not isinstance(content, dict):
            raise _Answer(40035, f"invalid parameter: no {msgtype} object")
        if msgtype in ("text", "markdown") and not (
            isinstance(content.get("content"), str) and content["content"]
        ):
            raise _Answer(44004)
        answer: dict[str, Any] = {
            "invaliduser": "",
            "invalidparty": "",
            "invalidtag": "",
            "unlicenseduser": "",
        }
        if msgtype == "template_card":
            if content.get("card_type") not in CARD_TYPES:
                raise _Answer(40058, "invalid parameter: template_card.card_type")
            if content.get("card_type") in INTERACTIVE_CARDS:
                answer["response_code"] = secrets.token_urlsafe(24)
        with self._lock:
            self.messages.append(payload)
            msgid = f"fake-msg-{len(self.messages)}"
            self._sent[msgid] = payload
            if "response_code" in answer:
                self._card_codes[answer["response_code"]] = False
        return {**answer, "msgid": msgid}

    def _aibot_response(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        code = query.get("response_code", "")
        try:
            payload = json.loads(body)
        except ValueError:
            raise _Answer(47001) from None
        if not isinstance(payload, dict):
            raise _Answer(47001)
        msgtype = payload.get("msgtype")
        if msgtype not in AIBOT_RESPONSE_TYPES:
            raise _Answer(40008)
        content = payload.get(msgtype)
        if not isinstance(content, dict):
            raise _Answer(40035, f"invalid parameter: no {msgtype} object")
        if msgtype == "markdown":
            text = content.get("content")
            if not isinstance(text, str) or not text:
                raise _Answer(44004)
            if len(text.encode("utf-8")) > MAX_AIBOT_CONTENT:
                raise _Answer(40035, "invalid parameter: content over 20480 bytes")
        with self._lock:
            if self._response_codes.get(code) is not False:
                raise _Answer(40035, "invalid response_code (unknown or already used)")
            self._response_codes[code] = True
            self.responses.append(payload)
        return {}

    # ----------------------------------------------------------------- directory

    def _user_get(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        userid = query.get("userid")
        if not userid:
            raise _Answer(40058, "invalid parameter: userid missing")
        with self._lock:
            user = self.users.get(userid)
        if user is None:
            raise _Answer(60111)
        return dict(user)

    def _department_id(self, value: str | None, required: bool) -> int | None:
        if value is None or value == "":
            if required:
                raise _Answer(40058, "invalid parameter: department_id missing")
            return None
        if not value.isdigit():
            raise _Answer(40058, "invalid parameter: department id")
        department_id = int(value)
        if department_id not in self.departments:
            raise _Answer(60123)
        return department_id

    def _below(self, department_id: int) -> set[int]:
        """``department_id`` and every department under it."""
        found = {department_id}
        while True:
            more = {d for d, v in self.departments.items() if v["parentid"] in found} - found
            if not more:
                return found
            found |= more

    def _user_list(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        with self._lock:
            department_id = self._department_id(query.get("department_id"), True)
            assert department_id is not None
            wanted = (
                self._below(department_id) if query.get("fetch_child") == "1" else {department_id}
            )
            users = [dict(u) for u in self.users.values() if wanted & set(u["department"])]
        return {"userlist": users}

    def openid(self, userid: str) -> str:
        """The openid this server gives the member ``userid`` (stable per corp and userid)."""
        digest = hashlib.sha256(f"{self.corp_id}:{userid}".encode()).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]

    def _convert_to_openid(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        userid = _json_object(body).get("userid")
        if not isinstance(userid, str) or not userid:
            raise _Answer(40058, "invalid parameter: userid missing")
        with self._lock:
            if userid not in self.users:
                raise _Answer(60111)
        return {"openid": self.openid(userid)}

    def _convert_to_userid(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        openid = _json_object(body).get("openid")
        if not isinstance(openid, str) or not openid:
            raise _Answer(40058, "invalid parameter: openid missing")
        with self._lock:
            found = [u for u in self.users if self.openid(u) == openid]
        if not found:
            raise _Answer(40003)
        return {"userid": found[0]}

    def _department_list(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        with self._lock:
            department_id = self._department_id(query.get("id"), False)
            wanted = self.departments if department_id is None else self._below(department_id)
            found = [dict(self.departments[d]) for d in sorted(wanted)]
        return {"department": found}

    # ----------------------------------------------------------------- menu

    def _agentid(self, query: dict[str, str]) -> int:
        value = query.get("agentid", "")
        if not value:
            raise _Answer(41011)
        if not value.isdigit() or int(value) <= 0:
            raise _Answer(40056)
        return int(value)

    def _menu_create(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        agent_id = self._agentid(query)
        payload = _json_object(body)
        buttons = payload.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise _Answer(40058, "invalid parameter: button")
        for button in buttons:
            if not isinstance(button, dict) or not button.get("name"):
                raise _Answer(40058, "invalid parameter: button name")
            if len(button.get("sub_button") or ()) > 5:
                raise _Answer(40058, "invalid parameter: sub_button")
        with self._lock:
            self.menus[agent_id] = payload
        return {}

    def _menu_get(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        agent_id = self._agentid(query)
        with self._lock:
            menu = self.menus.get(agent_id)
        if menu is None:
            raise _Answer(46003)
        return {"button": menu["button"]}

    def _menu_delete(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        agent_id = self._agentid(query)
        with self._lock:
            self.menus.pop(agent_id, None)
        return {}

    # ----------------------------------------------------------------- OAuth2, JS-SDK

    def _getuserinfo(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        code = query.get("code")
        if not code:
            raise _Answer(40029, "invalid code: code missing")
        with self._lock:
            userid = self._codes.pop(code, None)
        if userid is None:
            raise _Answer(40029)
        return {"userid": userid, "user_ticket": f"fake-user-ticket-{secrets.token_hex(8)}"}

    def _ticket(self) -> dict[str, Any]:
        ticket = f"fake-ticket-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.jsapi_tickets.append(ticket)
        return {"ticket": ticket, "expires_in": 7200}

    def _jsapi_ticket(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        return self._ticket()

    def _agent_ticket(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        if query.get("type") != "agent_config":
            raise _Answer(40058, "invalid parameter: type")
        return self._ticket()

    # ----------------------------------------------------------------- media

    def _media_get(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> _File:
        media_id = query.get("media_id")
        if not media_id:
            raise _Answer(40058, "invalid parameter: media_id missing")
        with self._lock:
            media = self._media.get(media_id)
        if media is None:
            raise _Answer(40007)
        return _File(
            media.content, media.filename, media.content_type or "application/octet-stream"
        )

    def _media_uploadimg(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        media = next(
            (
                p
                for p in _parse_multipart(headers.get("content-type", ""), body)
                if p.filename is not None
            ),
            None,
        )
        if media is None or media.filename is None:
            raise _Answer(40058, "invalid parameter: no file part with a filename")
        if not media.filename.lower().endswith((".jpg", ".jpeg", ".png")):
            raise _Answer(40004)
        if not 5 < len(media.content) <= MAX_IMAGE:
            raise _Answer(40006)
        url = f"https://wework.qpic.cn/wwpic/fake-{secrets.token_hex(12)}/0"
        with self._lock:
            self.images[url] = media.content
        return {"url": url}

    # ----------------------------------------------------------------- chats, recall, cards

    def _appchat_create(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        payload = _json_object(body)
        userlist = payload.get("userlist")
        if not isinstance(userlist, list) or not 2 <= len(userlist) <= 2000:
            raise _Answer(40058, "invalid parameter: userlist")
        owner = payload.get("owner") or userlist[0]
        chatid = payload.get("chatid") or f"fakechat{secrets.token_hex(8)}"
        with self._lock:
            unknown = [u for u in [*userlist, owner] if u not in self.users]
            if unknown:
                raise _Answer(60111, f"userid not found: {unknown[0]}")
            if chatid in self.chats:
                raise _Answer(86215)
            self.chats[chatid] = {
                "chatid": chatid,
                "name": payload.get("name", ""),
                "owner": owner,
                "userlist": list(userlist),
            }
        return {"chatid": chatid}

    def _appchat_send(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        payload = _json_object(body)
        msgtype = payload.get("msgtype")
        if msgtype not in MESSAGE_TYPES:
            raise _Answer(40008)
        content = payload.get(msgtype)
        if not isinstance(content, dict):
            raise _Answer(40058, f"invalid parameter: no {msgtype} object")
        if msgtype in ("text", "markdown") and not content.get("content"):
            raise _Answer(44004)
        with self._lock:
            if payload.get("chatid") not in self.chats:
                raise _Answer(86003)
            self.chat_messages.append(payload)
        return {}

    def _message_recall(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        msgid = _json_object(body).get("msgid")
        if not msgid:
            raise _Answer(40058, "invalid parameter: msgid missing")
        with self._lock:
            if msgid not in self._sent or msgid in self.recalled:
                raise _Answer(40058, "invalid parameter: msgid")
            self.recalled.append(msgid)
        return {}

    def _update_template_card(
        self, query: dict[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        payload = _json_object(body)
        if type(payload.get("agentid")) is not int:
            raise _Answer(41011)
        if ("template_card" in payload) == ("button" in payload):
            raise _Answer(40058, "invalid parameter: one of template_card and button")
        code = payload.get("response_code")
        with self._lock:
            if not code or self._card_codes.get(code) is not False:
                raise _Answer(40058, "invalid parameter: response_code unknown or used")
            self._card_codes[code] = True
            self.card_updates.append(payload)
            invalid = [u for u in payload.get("userids") or () if u not in self.users]
        return {"invaliduser": invalid}


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class _FormPart:
    name: str
    filename: str | None
    content_type: str
    content: bytes


_PARAM = re.compile(r';\s*([A-Za-z0-9_-]+)="?([^";]*)"?')


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body (47001 for anything else)."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise _Answer(47001) from None
    if not isinstance(payload, dict):
        raise _Answer(47001)
    return payload


def _parse_multipart(content_type: str, body: bytes) -> list[_FormPart]:
    """Split a ``multipart/form-data`` body into its parts (malformed parts are dropped)."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        raise _Answer(47001)
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: list[_FormPart] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep or not content.endswith(b"\r\n"):
            continue
        fields: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        params = dict(_PARAM.findall(";" + fields.get("content-disposition", "")))
        parts.append(
            _FormPart(
                name=params.get("name", ""),
                filename=params.get("filename"),
                content_type=fields.get("content-type", ""),
                content=content[:-2],
            )
        )
    return parts


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # a listen backlog for bursts of clients (socketserver's 5 resets the rest, as the real
    # API does not)
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], fake: FakeWorkServer
    ) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """Shut down open keep-alive connections so their threads end."""
        with self.connections_lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(socketserver.StreamRequestHandler):
    """A small HTTP/1.1 keep-alive handler (http.server's costs ~0.4 ms a request).

    Enough HTTP for a client library: request line, headers, a Content-Length body
    (chunked bodies get 411), one write per answer.
    """

    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
        with self.server.fake._lock:
            self.server.fake.connections += 1

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            while self._handle_one():
                pass
        except OSError:  # reset, timed out or shut down by stop()
            pass

    def _handle_one(self) -> bool:
        """Serve one request; return whether the connection stays open."""
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or len(line) > MAX_LINE:
            return self._send(400, None, keep_alive=False)
        method, target, version = parts
        headers: dict[str, str] = {}
        while True:
            header = self.rfile.readline(MAX_LINE + 1)
            if header in (b"\r\n", b"\n", b""):
                break
            if len(headers) >= MAX_HEADERS or len(header) > MAX_LINE:
                return self._send(431, None, keep_alive=False)
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        keep_alive = version != "HTTP/1.0" and headers.get("connection", "").lower() != "close"
        body = b""
        if method == "POST":
            length = headers.get("content-length", "")
            if not length.isdigit():
                return self._send(411, None, keep_alive=False)
            if int(length) > MAX_BODY:
                return self._send(413, None, keep_alive=False)
            body = self.rfile.read(int(length))
        status, data = self.server.fake._answer(method, target, headers, body)
        return self._send(status, data, keep_alive)

    def _send(
        self, status: int, data: Mapping[str, Any] | str | bytes | _File | None, keep_alive: bool
    ) -> bool:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        extra = ""
        if isinstance(data, _File):
            payload = data.content
            content_type = data.content_type
            quoted = quote(data.filename)
            extra = (
                f'Content-Disposition: attachment; filename="{quoted}";'
                f" filename*=UTF-8''{quoted}\r\n"
            )
        elif data is None or isinstance(data, (str, bytes)):
            payload = (
                f"{status} {reason}".encode()
                if data is None
                else (data.encode() if isinstance(data, str) else data)
            )
            content_type = "text/plain"
        else:
            payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
            content_type = "application/json; charset=UTF-8"
        closing = "" if keep_alive else "Connection: close\r\n"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\n{extra}{closing}\r\n"
        )
        if len(payload) < 65536:
            self.wfile.write(head.encode("latin-1") + payload)
        else:  # a large file: not copied once more
            self.wfile.write(head.encode("latin-1"))
            self.wfile.write(payload)
        return keep_alive
