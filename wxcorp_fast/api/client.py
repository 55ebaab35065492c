"""``CorpClient``: WeChat Work API calls on urllib3 with a managed access_token.

The access_token is added to each call's query; neither it nor the corp secret appears in
a log record (urllib3's own included, see ``_http``), an exception or a repr. Retry rules:

- errcode 42001 (expired) or 40014 (invalid): one ``token_refresh()`` and one retry;
- errcode -1 (system busy), GET only: retried after 0.2, 0.4 and 0.8 s, at most 3 times;
- errcode 45009 / 45033: ``RateLimitError``, not retried; any other: ``APIError``;
- no answer, HTTP status other than 200, or no JSON object: ``TransportError``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, ClassVar, Final, Union

import urllib3

from ..errors import (
    ERR_CODE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_INVALID_ACCESS_TOKEN,
    ERR_CODE_OK,
    ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_SYSTEM_BUSY,
    APIError,
)
from ._http import (
    DEFAULT_BASE_URL,
    JSON_HEADERS,
    MultipartBody,
    build_url,
    check_errcode,
    default_pool_manager,
    encode_json,
    request_json,
)
from .tokens import AccessTokenServer, refresh_refused

__all__ = [
    "CorpClient",
    "MultipartFormField",
    "DEFAULT_BASE_URL",
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
]

logger = logging.getLogger(__name__)

MEDIA_TYPES: Final = frozenset({"image", "voice", "video", "file"})

_TOKEN_ERRCODES: Final = frozenset({ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_INVALID_ACCESS_TOKEN})

Recipients = Union[str, Iterable[str], None]


@dataclass(frozen=True)
class MultipartFormField:
    """One part of a ``multipart/form-data`` body.

    ``content`` is bytes or a binary file (streamed from its current position, never read
    whole). Without a ``filename`` the part is a plain form field; with one it is a file
    part whose ``content_type`` defaults to ``application/octet-stream``.
    """

    name: str
    content: bytes | IO[bytes]
    filename: str | None = None
    content_type: str | None = None


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

    busy_retry_delays: ClassVar[tuple[float, ...]] = (0.2, 0.4, 0.8)

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

    # ----------------------------------------------------------------- generic calls

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` with ``params`` and return the answer's JSON object.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        for delay in self.busy_retry_delays:
            try:
                return self._call("GET", path, params, None, None, self.timeout)
            except APIError as exc:
                if exc.errcode != ERR_CODE_SYSTEM_BUSY:
                    raise
                logger.debug("GET %s: system busy, retrying in %.1f s", path, delay)
            time.sleep(delay)
        return self._call("GET", path, params, None, None, self.timeout)

    def post_json(
        self, path: str, payload: Any, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST ``payload`` as UTF-8 JSON to ``path`` and return the answer's JSON object.

        Raises:
            APIError: a non-zero errcode (``RateLimitError`` for 45009 and 45033).
            TransportError: no answer, an HTTP status other than 200, or no JSON object.
        """
        return self._call("POST", path, params, encode_json(payload), JSON_HEADERS, self.timeout)

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
        body = MultipartBody([(f.name, f.content, f.filename, f.content_type) for f in fields])
        return self._call("POST", path, params, body, body.headers, self.media_timeout)

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: bytes | MultipartBody | None,
        headers: Mapping[str, str] | None,
        timeout: float,
    ) -> dict[str, Any]:
        """Send with the current token; on 42001/40014 refresh it and send once more."""

        def send(token: str) -> dict[str, Any]:
            query = {**params, "access_token": token} if params else {"access_token": token}
            url = build_url(self.base_url, path, query)
            return request_json(
                self.http, method, url, body=body, headers=headers, timeout=timeout
            )

        token = self.access_token_server.token()
        data = send(token)
        errcode = data.get("errcode", ERR_CODE_OK)
        if errcode in _TOKEN_ERRCODES:
            logger.info("%s %s: errcode %s, refreshing the access_token", method, path, errcode)
            data = send(refresh_refused(self.access_token_server.token_refresh, token))
        check_errcode(data)
        return data

    # ----------------------------------------------------------------- endpoints

    def get_callback_ip(self) -> list[str]:
        """Return the IP addresses WeChat Work sends callbacks from (getcallbackip)."""
        return [str(ip) for ip in self.get_json("/cgi-bin/getcallbackip").get("ip_list", [])]

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
        recipients = {
            key: joined
            for key, joined in (("touser", _join(touser)), ("toparty", _join(toparty)),
                                ("totag", _join(totag)))
            if joined
        }
        if not recipients:
            raise ValueError("one of touser, toparty or totag is required")
        payload = {**recipients, "msgtype": msgtype, "agentid": agent_id, msgtype: dict(content)}
        return self.post_json("/cgi-bin/message/send", payload)

    def send_text(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> dict[str, Any]:
        """Send a text message; see :meth:`send_message`."""
        return self.send_message(agent_id, "text", {"content": content}, touser, toparty, totag)

    def send_markdown(
        self,
        agent_id: int,
        content: str,
        touser: Recipients = None,
        toparty: Recipients = None,
        totag: Recipients = None,
    ) -> dict[str, Any]:
        """Send a markdown message; see :meth:`send_message`."""
        return self.send_message(
            agent_id, "markdown", {"content": content}, touser, toparty, totag
        )

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
        if media_type not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {sorted(MEDIA_TYPES)}")
        name = filename or os.path.basename(str(getattr(file, "name", "") or "")) or "media"
        field = MultipartFormField("media", file, filename=name)
        data = self.post_multipart_form("/cgi-bin/media/upload", [field], {"type": media_type})
        return str(data["media_id"])


def _join(value: Recipients) -> str:
    """Join recipient IDs with ``|`` (a string is taken as already joined)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "|".join(value)
