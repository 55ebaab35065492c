"""The API's calls, written once, without I/O, for the clients to perform.

A :class:`Call` says what to send (method, path, query, body) and how to read the answer
(``parse``); the functions below build one per endpoint, checking arguments as they go.
:func:`exchange` is the retry rules as a flow (see ``_flow``): each client only performs
its steps, with urllib3 or with aiohttp. Retry rules:

- errcode 42001 (expired) or 40014 (invalid): one refresh, told which token was refused,
  and one retry;
- errcode -1 (system busy), GET only: retried after 0.2, 0.4 and 0.8 s, at most 3 times;
- errcode 45009 / 45033: ``RateLimitError``, not retried; any other: ``APIError``;
- no answer, HTTP status other than 200, or no JSON object: ``TransportError``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final, Generic, TypeVar, Union
from urllib.parse import quote_plus, urlencode

from ..errors import (
    ERR_CODE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_INVALID_ACCESS_TOKEN,
    ERR_CODE_OK,
    ERR_CODE_SYSTEM_BUSY,
    TransportError,
)
from ._flow import Flow
from ._http import (
    JSON_HEADERS,
    MultipartBody,
    check_errcode,
    check_path,
    encode_json,
)
from .results import SendResult

__all__ = [
    "BUSY_RETRY_DELAYS",
    "Call",
    "MultipartFormField",
    "Recipients",
    "check_id",
    "check_text",
    "exchange",
    "form_call",
    "get_callback_ip",
    "get_json",
    "post_json",
    "post_call",
    "post_multipart_form",
    "send_markdown",
    "send_message",
    "send_text",
    "upload_media",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_RETRY_DELAYS: Final = (0.2, 0.4, 0.8)
TOKEN_ERRCODES: Final = frozenset({ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_INVALID_ACCESS_TOKEN})
MEDIA_TYPES: Final = frozenset({"image", "voice", "video", "file"})
GETCALLBACKIP: Final = "/cgi-bin/getcallbackip"
MESSAGE_SEND: Final = "/cgi-bin/message/send"
MEDIA_UPLOAD: Final = "/cgi-bin/media/upload"

# what quote_plus leaves as it is (WeChat's tokens are made of these)
_URL_SAFE: Final = re.compile(r"[A-Za-z0-9_.~-]*")

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


def _as_is(data: dict[str, Any]) -> dict[str, Any]:
    return data


@dataclass(slots=True)
class Call(Generic[T]):
    """One API call without its transport: the request, and the reader of its answer.

    ``media``: sent with the client's ``media_timeout`` instead of its ``timeout``. A
    multipart body is re-read from each file's start when the call is sent again.
    ``stream_to``: a binary file the answer's body is written to in 64 KiB chunks when it
    is not JSON (a download); a JSON answer (an errcode) is read and parsed as any other,
    and then the file is left untouched. The send step then answers the
    ``{"filename", "content_type", "size"}`` of what it wrote.
    """

    method: str
    path: str
    parse: Callable[[dict[str, Any]], T]
    params: Mapping[str, Any] | None = None
    body: bytes | MultipartBody | None = None
    headers: Mapping[str, str] | None = None
    media: bool = False
    stream_to: IO[bytes] | None = None
    _target: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_path(self.path)  # before any I/O
        # path and query up to the token's value, encoded once for every send of the call
        query = urlencode(self.params) + "&" if self.params else ""
        separator = "&" if "?" in self.path else "?"
        self._target = f"{self.path}{separator}{query}access_token="

    def url(self, base_url: str, token: str) -> str:
        """Return the call's URL with ``token`` as the access_token query parameter."""
        quoted = token if _URL_SAFE.fullmatch(token) else quote_plus(token)
        return f"{base_url}{self._target}{quoted}"


def exchange(call: Call[T], busy_retry_delays: Sequence[float]) -> Flow[T]:
    """Send ``call`` under the retry rules; return its parsed answer."""
    delays = iter(busy_retry_delays if call.method == "GET" else ())
    while True:
        token = yield ("token", None)
        data = yield ("send", token)
        errcode = data.get("errcode", ERR_CODE_OK)
        if errcode in TOKEN_ERRCODES:
            logger.info(
                "%s %s: errcode %s, refreshing the access_token", call.method, call.path, errcode
            )
            data = yield ("send", (yield ("refresh", token)))
            errcode = data.get("errcode", ERR_CODE_OK)
        if errcode == ERR_CODE_SYSTEM_BUSY:
            delay = next(delays, None)
            if delay is not None:
                logger.debug(
                    "%s %s: system busy, retrying in %.1f s", call.method, call.path, delay
                )
                yield ("sleep", delay)
                continue
        check_errcode(data)
        return call.parse(data)


# --------------------------------------------------------------------------- generic calls


def get_json(path: str, params: Mapping[str, Any] | None = None) -> Call[dict[str, Any]]:
    """GET ``path`` with ``params``; the answer's JSON object."""
    return Call("GET", path, _as_is, params)


def post_json(
    path: str, payload: Any, params: Mapping[str, Any] | None = None
) -> Call[dict[str, Any]]:
    """POST ``payload`` as UTF-8 JSON to ``path``; the answer's JSON object."""
    return post_call(path, payload, _as_is, params)


def post_call(
    path: str,
    payload: Any,
    parse: Callable[[dict[str, Any]], T],
    params: Mapping[str, Any] | None = None,
) -> Call[T]:
    """POST ``payload`` as UTF-8 JSON to ``path``; the answer read by ``parse``."""
    return Call("POST", path, parse, params, encode_json(payload), JSON_HEADERS)


def post_multipart_form(
    path: str, fields: Sequence[MultipartFormField], params: Mapping[str, Any] | None = None
) -> Call[dict[str, Any]]:
    """POST ``fields`` as streamed ``multipart/form-data``; the answer's JSON object."""
    return form_call(path, fields, params, _as_is)


def form_call(
    path: str,
    fields: Sequence[MultipartFormField],
    params: Mapping[str, Any] | None,
    parse: Callable[[dict[str, Any]], T],
) -> Call[T]:
    body = MultipartBody([(f.name, f.content, f.filename, f.content_type) for f in fields])
    return Call("POST", path, parse, params, body, body.headers, media=True)


# --------------------------------------------------------------------------- endpoints


def _ip_list(data: dict[str, Any]) -> list[str]:
    return [str(ip) for ip in data.get("ip_list", [])]


def get_callback_ip() -> Call[list[str]]:
    """getcallbackip: the IP addresses WeChat Work sends callbacks from."""
    return Call("GET", GETCALLBACKIP, _ip_list)


def _join(value: Recipients) -> str:
    """Join recipient IDs with ``|`` (a string is taken as already joined)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "|".join(value)


def check_id(name: str, value: object) -> None:
    """Refuse an ID (agent, department) that is not a positive int (bool excluded).

    Raises:
        ValueError: naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_text(name: str, value: object) -> None:
    """Refuse a required string argument that is not a non-empty ``str``.

    Raises:
        ValueError: naming ``name``.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")


def send_message(
    agent_id: int,
    msgtype: str,
    content: Mapping[str, Any],
    touser: Recipients,
    toparty: Recipients,
    totag: Recipients,
) -> Call[SendResult]:
    """message/send: an application message to users, departments and tags.

    Raises:
        ValueError: no recipient at all, or a bad agent_id, msgtype or content.
    """
    check_id("agent_id", agent_id)
    check_text("msgtype", msgtype)
    if not isinstance(content, Mapping):
        raise ValueError("content must be a mapping (the message's JSON object)")
    recipients = {
        key: joined
        for key, joined in (
            ("touser", _join(touser)),
            ("toparty", _join(toparty)),
            ("totag", _join(totag)),
        )
        if joined
    }
    if not recipients:
        raise ValueError("one of touser, toparty or totag is required")
    payload = {**recipients, "msgtype": msgtype, "agentid": agent_id, msgtype: dict(content)}
    return post_call(MESSAGE_SEND, payload, SendResult.from_answer)


def send_text(
    agent_id: int, content: str, touser: Recipients, toparty: Recipients, totag: Recipients
) -> Call[SendResult]:
    """message/send of a text message."""
    return send_message(agent_id, "text", {"content": content}, touser, toparty, totag)


def send_markdown(
    agent_id: int, content: str, touser: Recipients, toparty: Recipients, totag: Recipients
) -> Call[SendResult]:
    """message/send of a markdown message."""
    return send_message(agent_id, "markdown", {"content": content}, touser, toparty, totag)


def _media_id(data: dict[str, Any]) -> str:
    media_id = data.get("media_id")
    if not isinstance(media_id, str) or not media_id:
        raise TransportError("media/upload answered no media_id")
    return media_id


def upload_media(media_type: str, file: IO[bytes] | bytes, filename: str | None) -> Call[str]:
    """media/upload of a temporary media file; the answer's ``media_id``.

    Raises:
        ValueError: an unknown media type.
    """
    if media_type not in MEDIA_TYPES:
        raise ValueError(f"media_type must be one of {sorted(MEDIA_TYPES)}")
    name = filename or os.path.basename(str(getattr(file, "name", "") or "")) or "media"
    field = MultipartFormField("media", file, filename=name)
    return form_call(MEDIA_UPLOAD, [field], {"type": media_type}, _media_id)
