"""``AsyncCorpClient``: the WeChat Work API on aiohttp (extra ``wxcorp-fast[async]``).

Every method of ``CorpClient``, as a coroutine, with the same arguments, retry rules,
errors and redaction: both clients perform the same calls (``_calls``), this one with
aiohttp (``_aiohttp``). One ``aiohttp.ClientSession`` per client unless one is passed;
``aclose()`` (or ``async with``) closes the client's own session, never a passed one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, ClassVar, TypeVar

import aiohttp

from ..aibot.respond import RespondReply, response_request
from . import _calls, _directory, _media, _messages
from ._aiohttp import Session, SessionUser, request_json
from ._calls import BUSY_RETRY_DELAYS, Call, MultipartFormField, Recipients
from ._flow import Step, arun
from ._http import DEFAULT_BASE_URL, JSON_HEADERS, check_errcode
from ._token_flows import refresh_refused
from .async_tokens import AsyncAccessTokenServer
from .results import Department, Media, SendResult, User, UserInfo

__all__ = ["AsyncCorpClient"]

T = TypeVar("T")


class AsyncCorpClient(SessionUser, _directory.AuthorizeUrls):
    """Calls of the WeChat Work API, as coroutines, with the token of ``access_token_server``.

    Args:
        access_token_server: where the access_token comes from.
        session: the ``aiohttp.ClientSession`` whose connections are reused (one is made
            on first use when None, and closed by :meth:`aclose`).
        base_url: the API's base URL.
        timeout: seconds allowed for a JSON call (connect, and each read); settable.
        media_timeout: seconds allowed for a multipart upload; settable.

    ``aclose()`` (or leaving ``async with``) closes the session the client made.
    """

    busy_retry_delays: ClassVar[tuple[float, ...]] = BUSY_RETRY_DELAYS

    def __init__(
        self,
        access_token_server: AsyncAccessTokenServer,
        session: aiohttp.ClientSession | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        media_timeout: float = 300.0,
    ) -> None:
        self.access_token_server = access_token_server
        self._session = Session(session)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.media_timeout = media_timeout

    def __repr__(self) -> str:
        return f"AsyncCorpClient({self.access_token_server!r}, base_url={self.base_url!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The ``aiohttp.ClientSession`` in use (made now, in the running loop, if needed)."""
        return self._session.get()

    async def _run(self, call: Call[T]) -> T:
        """Send ``call`` under the retry rules and return its parsed answer."""
        return await arun(
            _calls.exchange(call, self.busy_retry_delays), functools.partial(self._perform, call)
        )

    async def _perform(self, call: Call[Any], step: Step) -> Any:
        kind, arg = step
        if kind == "send":
            timeout = self.media_timeout if call.media else self.timeout
            return await request_json(
                self._session.get(),
                call.method,
                call.url(self.base_url, arg),
                body=call.body,
                headers=call.headers,
                timeout=timeout,
                sink=call.stream_to,
            )
        if kind == "token":
            return await self.access_token_server.token()
        if kind == "refresh":
            return await refresh_refused(self.access_token_server.token_refresh, arg)
        await asyncio.sleep(arg)  # "sleep"
        return None

    # ----------------------------------------------------------------- generic calls

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` with ``params`` and return the answer's JSON object.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        return await self._run(_calls.get_json(path, params))

    async def post_json(
        self, path: str, payload: Any, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST ``payload`` as UTF-8 JSON to ``path`` and return the answer's JSON object."""
        return await self._run(_calls.post_json(path, payload, params))

    async def post_multipart_form(
        self,
        path: str,
        fields: Sequence[MultipartFormField],
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST ``fields`` as streamed ``multipart/form-data`` with ``media_timeout``."""
        return await self._run(_calls.post_multipart_form(path, fields, params))

    async def respond(self, response_url: str, reply: RespondReply) -> dict[str, Any]:
        """Push one late reply to an AI-bot callback's ``response_url`` (no access_token).

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        url, body = response_request(response_url, reply)
        data = await request_json(
            self._session.get(),
            "POST",
            url,
            body=body,
            headers=JSON_HEADERS,
            timeout=self.timeout,
        )
        check_errcode(data)
        return data

    # ----------------------------------------------------------------- endpoints

    async def get_callback_ip(self) -> list[str]:
        """Return the IP addresses WeChat Work sends callbacks from (getcallbackip)."""
        return await self._run(_calls.get_callback_ip())

    async def send_message(
        self,
        agent_id: int,
        msgtype: str,
        content: Mapping[str, Any],
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send an application message (message/send); see ``CorpClient.send_message``."""
        return await self._run(
            _calls.send_message(agent_id, msgtype, content, touser, toparty, totag)
        )

    async def send_text(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send a text message; see :meth:`send_message`."""
        return await self._run(_calls.send_text(agent_id, content, touser, toparty, totag))

    async def send_markdown(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """Send a markdown message; see :meth:`send_message`."""
        return await self._run(_calls.send_markdown(agent_id, content, touser, toparty, totag))

    async def upload_media(
        self, media_type: str, file: IO[bytes] | bytes, filename: str | None = None
    ) -> str:
        """Upload a temporary media file (media/upload) and return its ``media_id``.

        The file is streamed, read in the event loop's default executor.
        """
        return await self._run(_calls.upload_media(media_type, file, filename))

    # ----------------------------------------------------------------- directory

    async def get_user(self, userid: str) -> User:
        """See ``CorpClient.get_user``."""
        return await self._run(_directory.get_user(userid))

    async def list_users(self, department_id: int, fetch_child: bool = False) -> list[User]:
        """See ``CorpClient.list_users``."""
        return await self._run(_directory.list_users(department_id, fetch_child))

    async def userid_to_openid(self, userid: str) -> str:
        """See ``CorpClient.userid_to_openid``."""
        return await self._run(_directory.userid_to_openid(userid))

    async def convert_to_userid(self, openid: str) -> str:
        """See ``CorpClient.convert_to_userid``."""
        return await self._run(_directory.convert_to_userid(openid))

    async def list_departments(self, id: int | None = None) -> list[Department]:  # noqa: A002
        """See ``CorpClient.list_departments``."""
        return await self._run(_directory.list_departments(id))

    # ----------------------------------------------------------------- menu

    async def create_menu(self, agent_id: int, menu: Mapping[str, Any]) -> None:
        """See ``CorpClient.create_menu``."""
        return await self._run(_directory.create_menu(agent_id, menu))

    async def get_menu(self, agent_id: int) -> dict[str, Any]:
        """See ``CorpClient.get_menu``."""
        return await self._run(_directory.get_menu(agent_id))

    async def delete_menu(self, agent_id: int) -> None:
        """See ``CorpClient.delete_menu``."""
        return await self._run(_directory.delete_menu(agent_id))

    # ----------------------------------------------------------------- OAuth2

    async def get_user_info_by_code(self, code: str) -> UserInfo:
        """See ``CorpClient.get_user_info_by_code``."""
        return await self._run(_directory.get_user_info_by_code(code))

    # ----------------------------------------------------------------- media

    async def download_media(self, media_id: str, file: IO[bytes]) -> Media:
        """See ``CorpClient.download_media``."""
        return await self._run(_media.download_media(media_id, file))

    async def upload_image(self, file: IO[bytes] | bytes, filename: str | None = None) -> str:
        """See ``CorpClient.upload_image``."""
        return await self._run(_media.upload_image(file, filename))

    # ----------------------------------------------------------------- group chats

    async def create_appchat(
        self,
        userlist: Iterable[str],
        name: str = "",
        owner: str | None = None,
        chatid: str | None = None,
    ) -> str:
        """See ``CorpClient.create_appchat``."""
        return await self._run(_messages.create_appchat(userlist, name, owner, chatid))

    async def send_appchat(
        self, chatid: str, msgtype: str, content: Mapping[str, Any], safe: bool = False
    ) -> None:
        """See ``CorpClient.send_appchat``."""
        return await self._run(_messages.send_appchat(chatid, msgtype, content, safe))

    # ----------------------------------------------------------------- messages

    async def recall_message(self, msgid: str) -> None:
        """See ``CorpClient.recall_message``."""
        return await self._run(_messages.recall_message(msgid))

    async def send_template_card(
        self,
        agent_id: int,
        template_card: Mapping[str, Any],
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> SendResult:
        """See ``CorpClient.send_template_card``."""
        return await self._run(
            _messages.send_template_card(agent_id, template_card, touser, toparty, totag)
        )

    async def update_template_card(
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
        """See ``CorpClient.update_template_card``."""
        return await self._run(
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
