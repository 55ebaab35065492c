"""``CorpClient``: WeChat Work API calls on urllib3 with a managed access_token.

The access_token is added to each call's query; neither it nor the corp secret appears in
a log record (urllib3's own included, see ``_http``), an exception or a repr. The calls
and their retry rules are written once in ``_calls``, without I/O; this class performs
their steps with urllib3:

- errcode 42001 (expired) or 40014 (invalid): one ``token_refresh()`` and one retry;
- errcode -1 (system busy), GET only: retried after 0.2, 0.4 and 0.8 s, at most 3 times;
- errcode 45009 / 45033: ``RateLimitError``, not retried; any other: ``APIError``;
- no answer, HTTP status other than 200, or no JSON object: ``TransportError``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, ClassVar, TypeVar

import urllib3

from ..aibot.respond import RespondReply, response_request
from ..errors import ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_OK, ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED
from . import _calls, _directory, _media, _messages
from ._calls import BUSY_RETRY_DELAYS, Call, MultipartFormField, Recipients
from ._flow import Step, run
from ._http import DEFAULT_BASE_URL, JSON_HEADERS, check_errcode, default_pool_manager, request_json
from .results import Department, Media, SendResult, User, UserInfo
from .tokens import AccessTokenServer, refresh_refused

__all__ = [
    "CorpClient",
    "MultipartFormField",
    "DEFAULT_BASE_URL",
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
]

T = TypeVar("T")


class CorpClient(_directory.AuthorizeUrls):
    """Calls of the WeChat Work API with the token of ``access_token_server``.

    Args:
        access_token_server: where the access_token comes from.
        http: the ``urllib3.PoolManager`` whose connections are reused (one is made per
            client when None).
        base_url: the API's base URL.
        timeout: seconds allowed for a JSON call (connect, and each read); settable.
        media_timeout: seconds allowed for a multipart upload; settable.
    """

    busy_retry_delays: ClassVar[tuple[float, ...]] = BUSY_RETRY_DELAYS

    def __init__(
        self,
        access_token_server: AccessTokenServer,
        http: urllib3.PoolManager | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        media_timeout: float = 300.0,
    ) -> None:
        self.access_token_server = access_token_server
        self.http = http if http is not None else default_pool_manager()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.media_timeout = media_timeout

    def __repr__(self) -> str:
        return f"CorpClient({self.access_token_server!r}, base_url={self.base_url!r})"

    def _run(self, call: Call[T]) -> T:
        """Send ``call`` under the retry rules and return its parsed answer."""
        return run(
            _calls.exchange(call, self.busy_retry_delays), functools.partial(self._perform, call)
        )

    def _perform(self, call: Call[Any], step: Step) -> Any:
        kind, arg = step
        if kind == "send":
            timeout = self.media_timeout if call.media else self.timeout
            return request_json(
                self.http,
                call.method,
                call.url(self.base_url, arg),
                body=call.body,
                headers=call.headers,
                timeout=timeout,
                sink=call.stream_to,
            )
        if kind == "token":
            return self.access_token_server.token()
        if kind == "refresh":
            return refresh_refused(self.access_token_server.token_refresh, arg)
        time.sleep(arg)  # "sleep"
        return None

    # ----------------------------------------------------------------- generic calls

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` with ``params`` and return the answer's JSON object.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        return self._run(_calls.get_json(path, params))

    def post_json(
        self, path: str, payload: Any, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST ``payload`` as UTF-8 JSON to ``path`` and return the answer's JSON object.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        return self._run(_calls.post_json(path, payload, params))

    def post_multipart_form(
        self,
        path: str,
        fields: Sequence[MultipartFormField],
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST ``fields`` as ``multipart/form-data``, streaming files, with ``media_timeout``.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        return self._run(_calls.post_multipart_form(path, fields, params))

    def respond(self, response_url: str, reply: RespondReply) -> dict[str, Any]:
        """Push one late reply to an AI-bot callback's ``response_url`` (no access_token).

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        url, body = response_request(response_url, reply)
        data = request_json(
            self.http, "POST", url, body=body, headers=JSON_HEADERS, timeout=self.timeout
        )
        check_errcode(data)
        return data

    # ----------------------------------------------------------------- endpoints

    def get_callback_ip(self) -> list[str]:
        """Return the IP addresses WeChat Work sends callbacks from (getcallbackip)."""
        return self._run(_calls.get_callback_ip())

    def send_message(
        self,
        agent_id: int,
        msgtype: str,
        content: Mapping[str, Any],
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send an application message (message/send) and return WeChat's answer, typed.

        Recipients are a ``|``-separated string or an iterable of IDs (``"@all"`` for
        everyone); at least one of ``touser``, ``toparty``, ``totag`` is required. The
        answer's ``msgid`` (for ``recall_message``) and ``invaliduser`` / ``invalidparty`` /
        ``invalidtag`` tuples are attributes; as a mapping it is WeChat's JSON answer.

        Raises:
            ValueError: no recipient at all, a bad agent_id, msgtype or content.
            APIError: a non-zero errcode.
        """
        return self._run(_calls.send_message(agent_id, msgtype, content, touser, toparty, totag))

    def send_text(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send a text message; see :meth:`send_message`."""
        return self._run(_calls.send_text(agent_id, content, touser, toparty, totag))

    def send_markdown(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send a markdown message; see :meth:`send_message`."""
        return self._run(_calls.send_markdown(agent_id, content, touser, toparty, totag))

    def upload_media(
        self, media_type: str, file: IO[bytes] | bytes, filename: str | None = None
    ) -> str:
        """Upload a temporary media file (media/upload) and return its ``media_id``.

        ``media_type`` is ``image``, ``voice``, ``video`` or ``file``; ``file`` is a binary
        file (streamed) or bytes. The filename defaults to the file's own name.

        Raises:
            ValueError: an unknown media type.
            APIError: a non-zero errcode.
        """
        return self._run(_calls.upload_media(media_type, file, filename))

    # ----------------------------------------------------------------- directory

    def get_user(self, userid: str) -> User:
        """Return the member ``userid`` (user/get).

        Raises:
            ValueError: an empty userid.
            APIError: e.g. 60111, no such userid.
        """
        return self._run(_directory.get_user(userid))

    def list_users(self, department_id: int, fetch_child: bool = False) -> list[User]:
        """Return the members of a department, with details (user/list).

        Raises:
            ValueError: a department_id that is not a positive int.
            APIError: e.g. 60123, no such department.
        """
        return self._run(_directory.list_users(department_id, fetch_child))

    def userid_to_openid(self, userid: str) -> str:
        """Return the member's openid (user/convert_to_openid).

        Raises:
            ValueError: an empty userid.
            APIError: e.g. 60111, no such userid.
        """
        return self._run(_directory.userid_to_openid(userid))

    def convert_to_userid(self, openid: str) -> str:
        """Return the userid of the member an openid stands for (user/convert_to_userid).

        Raises:
            ValueError: an empty openid.
            APIError: e.g. 40003, an openid of no member.
        """
        return self._run(_directory.convert_to_userid(openid))

    def list_departments(self, id: int | None = None) -> list[Department]:  # noqa: A002
        """Return department ``id`` and those below it, or all the app sees (department/list).

        Raises:
            ValueError: an id that is not a positive int.
            APIError: e.g. 60123, no such department.
        """
        return self._run(_directory.list_departments(id))

    # ----------------------------------------------------------------- menu

    def create_menu(self, agent_id: int, menu: Mapping[str, Any]) -> None:
        """Set app ``agent_id``'s menu, ``{"button": [...]}`` (menu/create).

        Raises:
            ValueError: a bad agent_id, or not 1 to 3 named buttons of at most 5 sub_button.
            APIError: a non-zero errcode.
        """
        return self._run(_directory.create_menu(agent_id, menu))

    def get_menu(self, agent_id: int) -> dict[str, Any]:
        """Return app ``agent_id``'s menu as ``create_menu`` takes it (menu/get).

        Raises:
            APIError: e.g. 46003, no menu.
        """
        return self._run(_directory.get_menu(agent_id))

    def delete_menu(self, agent_id: int) -> None:
        """Remove app ``agent_id``'s menu (menu/delete)."""
        return self._run(_directory.delete_menu(agent_id))

    # ----------------------------------------------------------------- OAuth2

    def get_user_info_by_code(self, code: str) -> UserInfo:
        """Return who an OAuth2 ``code`` belongs to (auth/getuserinfo); a code works once.

        Raises:
            APIError: e.g. 40029, an invalid or used code.
        """
        return self._run(_directory.get_user_info_by_code(code))

    # ----------------------------------------------------------------- media

    def download_media(self, media_id: str, file: IO[bytes]) -> Media:
        """Stream a temporary media file into the binary ``file`` (media/get), 64 KiB at a
        time, with ``media_timeout``; return its size, name and type.

        Nothing is written when WeChat answers an errcode (a refused token is refreshed
        and the download retried first).

        Raises:
            APIError: e.g. 40007, an invalid media_id.
        """
        return self._run(_media.download_media(media_id, file))

    def upload_image(self, file: IO[bytes] | bytes, filename: str | None = None) -> str:
        """Upload a JPG or PNG image kept for good (media/uploadimg); return its URL.

        Raises:
            ValueError: a filename that is not .jpg, .jpeg or .png.
            APIError: a non-zero errcode.
        """
        return self._run(_media.upload_image(file, filename))

    # ----------------------------------------------------------------- group chats

    def create_appchat(
        self,
        userlist: Iterable[str],
        name: str = "",
        owner: str | None = None,
        chatid: str | None = None,
    ) -> str:
        """Create a group chat of 2 to 2000 members (appchat/create); return its chatid.

        Raises:
            ValueError: a bad userlist or chatid.
            APIError: e.g. 60111, an unknown member.
        """
        return self._run(_messages.create_appchat(userlist, name, owner, chatid))

    def send_appchat(
        self, chatid: str, msgtype: str, content: Mapping[str, Any], safe: bool = False
    ) -> None:
        """Send a message to a group chat the app created (appchat/send).

        Raises:
            APIError: e.g. 86003, no such chat.
        """
        return self._run(_messages.send_appchat(chatid, msgtype, content, safe))

    # ----------------------------------------------------------------- messages

    def recall_message(self, msgid: str) -> None:
        """Recall a message sent within 24 hours, by ``send_message``'s ``msgid``
        (message/recall).

        Raises:
            APIError: e.g. 40058, an unknown msgid.
        """
        return self._run(_messages.recall_message(msgid))

    def send_template_card(
        self,
        agent_id: int,
        template_card: Mapping[str, Any],
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send a template card (message/send); a card with buttons answers a
        ``response_code`` for :meth:`update_template_card`.

        Raises:
            ValueError: no recipient, or a card without a card_type.
        """
        return self._run(
            _messages.send_template_card(agent_id, template_card, touser, toparty, totag)
        )

    def update_template_card(
        self,
        agent_id: int,
        response_code: str,
        template_card: Mapping[str, Any] | None = None,
        replace_name: str | None = None,
        userids: Iterable[str] | None = None,
        partyids: Iterable[int] | None = None,
        tagids: Iterable[int] | None = None,
        atall: bool = False,
    ) -> SendResult:
        """Update a sent template card (message/update_template_card) with the
        ``response_code`` of its send or of its button's event: to a new
        ``template_card``, or renaming its buttons to ``replace_name``.

        Raises:
            ValueError: neither or both of template_card and replace_name.
            APIError: e.g. 40058, an unknown or used response_code.
        """
        return self._run(
            _messages.update_template_card(
                agent_id,
                response_code,
                template_card,
                replace_name,
                userids,
                partyids,
                tagids,
                atall,
            )
        )
