"""``AsyncCorpClient``: the WeChat Work API on aiohttp (extra ``wxcorp-fast[async]``).

Every method of ``CorpClient``, as a coroutine, with the same arguments, retry rules,
errors and redaction: both clients perform the same calls (``_calls``), this one with
aiohttp (``_aiohttp``). One ``aiohttp.ClientSession`` per client unless one is passed;
``aclose()`` (or ``async with``) closes the client's own session, never a passed one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import IO, Any, ClassVar, TypeVar

import aiohttp

from ..aibot.respond import RespondReply, response_request
from . import _calls
from ._aiohttp import Session, SessionUser, request_json
from ._calls import BUSY_RETRY_DELAYS, Call, MultipartFormField, Recipients
from ._flow import Step, arun
from ._http import DEFAULT_BASE_URL, JSON_HEADERS, check_errcode
from ._token_flows import refresh_refused
from .async_tokens import AsyncAccessTokenServer

__all__ = ["AsyncCorpClient"]

T = TypeVar("T")


class AsyncCorpClient(SessionUser):
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
    ) -> dict[str, Any]:
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
    ) -> dict[str, Any]:
        """Send a text message; see :meth:`send_message`."""
        return await self._run(_calls.send_text(agent_id, content, touser, toparty, totag))

    async def send_markdown(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> dict[str, Any]:
        """Send a markdown message; see :meth:`send_message`."""
        return await self._run(_calls.send_markdown(agent_id, content, touser, toparty, totag))

    async def upload_media(
        self, media_type: str, file: IO[bytes] | bytes, filename: str | None = None
    ) -> str:
        """Upload a temporary media file (media/upload) and return its ``media_id``.

        The file is streamed, read in the event loop's default executor.
        """
        return await self._run(_calls.upload_media(media_type, file, filename))
