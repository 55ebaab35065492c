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
from collections.abc import Mapping, Sequence
from typing import IO, Any, ClassVar, TypeVar

import urllib3

from ..aibot.respond import RespondReply, response_request
from ..errors import ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_OK, ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED
from . import _calls
from ._calls import BUSY_RETRY_DELAYS, Call, MultipartFormField, Recipients
from ._flow import Step, run
from ._http import DEFAULT_BASE_URL, JSON_HEADERS, check_errcode, default_pool_manager, request_json
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


class CorpClient:
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
    ) -> dict[str, Any]:
        """Send an application message (message/send) and return WeChat's answer.

        Recipients are a ``|``-separated string or an iterable of IDs (``"@all"`` for
        everyone); at least one of ``touser``, ``toparty``, ``totag`` is required. The
        answer holds ``msgid`` and the ``invaliduser``/``invalidparty``/``invalidtag`` lists.

        Raises:
            ValueError: no recipient at all.
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
    ) -> dict[str, Any]:
        """Send a text message; see :meth:`send_message`."""
        return self._run(_calls.send_text(agent_id, content, touser, toparty, totag))

    def send_markdown(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> dict[str, Any]:
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
