"""HTTP plumbing of the API clients: pool, JSON and streamed multipart bodies, redaction.

Every request of the blocking token servers and of ``CorpClient`` goes through
:func:`request_json`, which turns urllib3's exceptions into
:class:`~wxcorp_fast.errors.TransportError` texts that name the method and path only. The
query string carries the access_token (or, for ``gettoken``, the corp secret);
:func:`redact` masks both, and :class:`RedactingFilter`, installed on urllib3's loggers at
import, does the same for urllib3's own log records (its DEBUG line
``"GET /cgi-bin/...?access_token=..." 200`` included). What does not depend on urllib3
(URLs, bodies, :func:`read_answer`, :func:`check_errcode`) serves the aiohttp transport too.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Final, Union
from urllib.parse import unquote, urlencode, urlsplit

import urllib3

from ..errors import APIError, RateLimitError, TransportError

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRIES",
    "RedactingFilter",
    "MultipartBody",
    "Part",
    "build_url",
    "check_errcode",
    "check_path",
    "default_pool_manager",
    "encode_json",
    "failed",
    "file_answer",
    "install_log_redaction",
    "is_file_answer",
    "read_answer",
    "redact",
    "request_json",
    "where",
]

DEFAULT_BASE_URL: Final = "https://qyapi.weixin.qq.com"
REDACTED: Final = "***"
_SECRET_PARAM = re.compile(
    r"((?:access_token|corpsecret|response_code)=)[^&\s\"'#]*", re.IGNORECASE
)
_SECRET_MARKERS: Final = ("access_token", "corpsecret", "response_code")
URLLIB3_LOGGERS: Final = (
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)
RATE_LIMIT_ERRCODES: Final = frozenset({45009, 45033})
JSON_HEADERS: Final = {"Content-Type": "application/json; charset=utf-8"}

# Connection failures are retried (nothing was sent); a request that may have reached the
# server is not (message/send is not idempotent); redirects are answers, not followed.
RETRIES: Final = urllib3.Retry(total=None, connect=2, read=0, status=0, other=0, redirect=False)

_CHUNK: Final = 64 * 1024


def redact(text: str) -> str:
    """Return ``text`` with the values of ``access_token=``, ``corpsecret=`` and
    ``response_code=`` (an AI bot's response_url credential) masked."""
    return _SECRET_PARAM.sub(r"\1" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Mask access_token and corpsecret query values in a record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place when its message holds a secret; never drop it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: leave it to the handler
            return True
        lowered = message.lower()
        if any(marker in lowered for marker in _SECRET_MARKERS):
            record.msg = redact(message)
            record.args = None
        return True


_FILTER: Final = RedactingFilter()


def install_log_redaction(package: str = "urllib3", known: Iterable[str] = URLLIB3_LOGGERS) -> None:
    """Add the redacting filter to ``package``'s loggers: ``known`` and any made so far.

    A logger's filters see only the records logged on it, not its children's, so each
    logger of the package gets the filter. Idempotent.
    """
    names = set(known)
    names.update(
        name for name in logging.Logger.manager.loggerDict if name.startswith(package + ".")
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def default_pool_manager() -> urllib3.PoolManager:
    """Return the pool a client or token server makes when none is passed to it."""
    return urllib3.PoolManager(
        num_pools=4, maxsize=8, retries=RETRIES, headers={"User-Agent": "wxcorp-fast"}
    )


def check_path(path: str) -> None:
    """Refuse an API path that does not start with ``/``.

    Raises:
        ValueError: it does not.
    """
    if not path.startswith("/"):
        raise ValueError("path must start with '/'")


def build_url(base_url: str, path: str, params: Mapping[str, Any] | None) -> str:
    """Join ``base_url``, ``path`` (starting with ``/``) and the url-encoded ``params``."""
    check_path(path)
    if not params:
        return base_url + path
    return f"{base_url}{path}{'&' if '?' in path else '?'}{urlencode(params)}"


def encode_json(payload: Any) -> bytes:
    """Encode ``payload`` as compact UTF-8 JSON (CJK kept as is, as WeChat expects)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def check_errcode(data: Mapping[str, Any]) -> None:
    """Raise ``RateLimitError`` (45009, 45033) or ``APIError`` for a non-zero errcode."""
    errcode = data.get("errcode", 0)
    if errcode == 0:
        return
    if not isinstance(errcode, int):
        raise TransportError("the answer's errcode is not an integer")
    errmsg = redact(str(data.get("errmsg", "")))
    cls = RateLimitError if errcode in RATE_LIMIT_ERRCODES else APIError
    raise cls(errcode, errmsg)


Body = Union[bytes, "MultipartBody", None]


def request_json(
    http: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    body: Body = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    sink: IO[bytes] | None = None,
) -> dict[str, Any]:
    """Send one request and return its JSON object; errcode is left to the caller.

    With a ``sink``, an answer that is a file (see :func:`is_file_answer`) is written to it
    in 64 KiB chunks and :func:`file_answer` is returned instead.

    Raises:
        TransportError: connection failure or timeout, an HTTP status other than 200,
            or an answer that is not a JSON object. The text holds no query string.
    """
    failure: str | None = None
    answer: dict[str, Any] | None = None
    try:
        response = http.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=timeout,
            retries=RETRIES,
            preload_content=sink is None,
        )
        if sink is None:
            answer = read_answer(method, url, response.status, response.data)
        else:
            try:
                if response.status == 200 and is_file_answer(response.headers):
                    size = 0
                    for chunk in response.stream(_CHUNK):
                        sink.write(chunk)
                        size += len(chunk)
                    answer = file_answer(response.headers, size)
                else:
                    answer = read_answer(method, url, response.status, response.read())
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        failure = failed(getattr(exc, "reason", None) or exc)
    # raised outside the except block: no secret-bearing urllib3 exception as its context
    if answer is None:
        raise TransportError(f"{where(method, url)} {failure}")
    return answer


def is_file_answer(headers: Mapping[str, str]) -> bool:
    """Whether an answer to a download is the file, not JSON (an errcode).

    WeChat sends a file with a ``Content-Disposition`` header, and an error as JSON
    (``application/json`` or ``text/plain``) without one.
    """
    if headers.get("Content-Disposition"):
        return True
    content_type = headers.get("Content-Type", "").lower()
    return not ("json" in content_type or content_type.startswith("text/plain"))


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*(?:[\w-]+'[\w-]*')?\"?([^\";]+)", re.IGNORECASE)
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]*)"?', re.IGNORECASE)


def file_answer(headers: Mapping[str, str], size: int) -> dict[str, Any]:
    """What a download's send step answers: the filename (of ``Content-Disposition``), the
    ``Content-Type`` and the number of bytes written."""
    disposition = headers.get("Content-Disposition", "")
    match = _FILENAME_STAR.search(disposition)
    filename = unquote(match.group(1)) if match else ""
    if not filename:
        plain = _FILENAME.search(disposition)
        filename = plain.group(1) if plain else ""
    return {
        "filename": filename,
        "content_type": headers.get("Content-Type", ""),
        "size": size,
    }


def read_answer(method: str, url: str, status: int, body: bytes) -> dict[str, Any]:
    """Return the JSON object of an answer to ``method url``.

    Raises:
        TransportError: an HTTP status other than 200, or a body that is not a JSON object.
    """
    if status != 200:
        raise TransportError(f"{where(method, url)} answered HTTP {status}", status)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TransportError(f"{where(method, url)} answered no JSON object", 200)
    return data


def failed(exc: BaseException) -> str:
    """Describe a transport failure by its class and redacted text (for a TransportError)."""
    return f"failed: {type(exc).__name__}: {redact(str(exc))}"


def where(method: str, url: str) -> str:
    """Name a request by method and path, without its query."""
    return f"{method} {urlsplit(url).path}"


# --------------------------------------------------------------------------- multipart

# (name, content, filename, content_type) of one form part.
Part = tuple[str, Union[bytes, IO[bytes]], Union[str, None], Union[str, None]]


def _quote(value: str) -> str:
    """Escape a name or filename for a Content-Disposition parameter (as browsers do)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class _FileSlice:
    """The bytes of a binary file from its current position to its end, re-readable."""

    __slots__ = ("file", "start", "length")

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.start = file.tell()
        self.length = file.seek(0, io.SEEK_END) - self.start
        file.seek(self.start)

    def chunks(self) -> Iterator[bytes]:
        """Yield the slice in 64 KiB chunks, from its start."""
        self.file.seek(self.start)
        left = self.length
        while left > 0:
            chunk = self.file.read(min(_CHUNK, left))
            if not chunk:
                raise TransportError("the file to upload got shorter while it was sent")
            left -= len(chunk)
            yield chunk


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, ValueError, OSError):
        return False


class MultipartBody:
    """A ``multipart/form-data`` body streamed part by part, with a known length.

    Files are read in 64 KiB chunks while the request is sent, never copied whole; a
    non-seekable file is read into memory first (its length must be known). Iterating
    again starts over from each file's original position, so the body can be resent.
    """

    def __init__(self, parts: Sequence[Part], boundary: str | None = None) -> None:
        self.boundary = boundary or os.urandom(16).hex()
        self._segments: list[bytes | _FileSlice] = []
        for name, content, filename, content_type in parts:
            self._add(name, content, filename, content_type)
        self._segments.append(f"--{self.boundary}--\r\n".encode())
        self.content_length = sum(
            s.length if isinstance(s, _FileSlice) else len(s) for s in self._segments
        )

    @property
    def content_type(self) -> str:
        """The Content-Type header value, with the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def headers(self) -> dict[str, str]:
        """The Content-Type and Content-Length headers of this body."""
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    def _add(
        self,
        name: str,
        content: bytes | IO[bytes],
        filename: str | None,
        content_type: str | None,
    ) -> None:
        payload: bytes | _FileSlice
        if isinstance(content, (bytes, bytearray, memoryview)):
            payload = bytes(content)
        elif hasattr(content, "read"):
            payload = _FileSlice(content) if _seekable(content) else bytes(content.read())
        else:
            raise TypeError("a form field's content must be bytes or a binary file")
        size = payload.length if isinstance(payload, _FileSlice) else len(payload)
        disposition = f'form-data; name="{_quote(name)}"'
        lines = [f"--{self.boundary}"]
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"; filelength={size}'
            lines.append(f"Content-Disposition: {disposition}")
            lines.append(f"Content-Type: {content_type or 'application/octet-stream'}")
        else:
            lines.append(f"Content-Disposition: {disposition}")
            if content_type is not None:
                lines.append(f"Content-Type: {content_type}")
        self._segments.append(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        self._segments.append(payload)
        self._segments.append(b"\r\n")

    def __iter__(self) -> Iterator[bytes]:
        for segment in self._segments:
            if isinstance(segment, _FileSlice):
                yield from segment.chunks()
            else:
                yield segment


install_log_redaction()
