"""aiohttp plumbing of the async API client and token servers (extra ``wxcorp-fast[async]``).

:func:`request_json` is ``_http.request_json`` on an ``aiohttp.ClientSession``: the same
answers, the same :class:`~wxcorp_fast.errors.TransportError` texts (method and path,
never the query), connection failures retried twice as urllib3's pool does (nothing was
sent), no redirects followed. Multipart bodies stream from their files in 64 KiB chunks
read off the event loop. The redacting filter of ``_http`` is installed on aiohttp's
loggers at import.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import IO, Any, Final, TypeVar

try:
    import aiohttp
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "the async API client needs aiohttp: pip install 'wxcorp-fast[async]'"
    ) from exc

from ..errors import TransportError
from ._http import (
    _CHUNK,
    MultipartBody,
    failed,
    file_answer,
    install_log_redaction,
    is_file_answer,
    read_answer,
    where,
)

__all__ = ["AIOHTTP_LOGGERS", "Session", "SessionUser", "request_json"]

AIOHTTP_LOGGERS: Final = (
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)
CONNECT_RETRIES: Final = 2

_U = TypeVar("_U", bound="SessionUser")


class Session:
    """A client's ``aiohttp.ClientSession``: the one passed in, or one made on first use.

    A session made here is closed by :meth:`aclose`; a passed one belongs to its owner.
    """

    __slots__ = ("_session", "_owned")

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session
        self._owned = session is None

    def get(self) -> aiohttp.ClientSession:
        """Return the session, making it (inside the running event loop) when needed."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "wxcorp-fast"})
        return self._session

    async def aclose(self) -> None:
        """Close the session if it was made here (a later call makes a new one)."""
        if self._owned and self._session is not None:
            session, self._session = self._session, None
            await session.close()


class SessionUser:
    """What an async client or token server shares: its :class:`Session`, ``aclose()``,
    ``async with``."""

    _session: Session

    async def aclose(self) -> None:
        """Close the aiohttp session this object made (a passed one stays open)."""
        await self._session.aclose()

    async def __aenter__(self: _U) -> _U:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: bytes | MultipartBody | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    sink: IO[bytes] | None = None,
) -> dict[str, Any]:
    """Send one request and return its JSON object; errcode is left to the caller.

    ``timeout`` bounds the connection and each read, as urllib3's does. With a ``sink``,
    a file answer is written to it in 64 KiB chunks (each write in the loop's default
    executor) and ``_http.file_answer`` is returned, as ``_http.request_json`` does.

    Raises:
        TransportError: connection failure or timeout, an HTTP status other than 200,
            or an answer that is not a JSON object. The text holds no query string.
    """
    limits = _limits(timeout)
    failure = ""
    answer: tuple[int, bytes] | dict[str, Any] | None = None
    for _ in range(CONNECT_RETRIES + 1):
        try:
            data = _stream(body) if isinstance(body, MultipartBody) else body
            async with session.request(
                method, url, data=data, headers=headers, timeout=limits, allow_redirects=False
            ) as response:
                if sink is not None and response.status == 200 and is_file_answer(response.headers):
                    answer = await _download(response, sink)
                else:
                    answer = (response.status, await response.read())
            break
        except aiohttp.ClientConnectorError as exc:  # not connected: nothing was sent
            failure = failed(exc)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = failed(exc)
            break
    # raised outside the except blocks: no secret-bearing aiohttp exception as its context
    if answer is None:
        raise TransportError(f"{where(method, url)} {failure}")
    if isinstance(answer, dict):
        return answer
    return read_answer(method, url, *answer)


async def _download(response: aiohttp.ClientResponse, sink: IO[bytes]) -> dict[str, Any]:
    """Write ``response``'s body to ``sink`` chunk by chunk; its ``file_answer``."""
    loop = asyncio.get_running_loop()
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        await loop.run_in_executor(None, sink.write, chunk)
        size += len(chunk)
    return file_answer(response.headers, size)


@functools.lru_cache(maxsize=8)
def _limits(timeout: float) -> aiohttp.ClientTimeout:
    """The aiohttp timeouts of urllib3's ``timeout=``: the connection, and each read."""
    return aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)


async def _stream(body: MultipartBody) -> AsyncIterator[bytes]:
    """Yield ``body``'s chunks, each read in the loop's default executor (files block)."""
    loop = asyncio.get_running_loop()
    chunks = iter(body)
    while (chunk := await loop.run_in_executor(None, next, chunks, None)) is not None:
        yield chunk


install_log_redaction("aiohttp", AIOHTTP_LOGGERS)
