"""The WeChat Work API side: HTTP plumbing, access-token servers and the clients.

- ``tokens``: ``AccessTokenServer`` (the interface), ``DefaultAccessTokenServer`` (one
  process) and ``RedisAccessTokenServer`` (one token shared through Redis).
- ``client``: ``CorpClient`` (urllib3) and ``MultipartFormField``; ``results``: the typed
  answers of its calls (``User``, ``Department``, ``UserInfo``, ``Media``, ``SendResult``).
- ``async_tokens`` and ``async_client`` (extra ``wxcorp-fast[async]``: aiohttp): their
  async twins ``AsyncAccessTokenServer``, ``AsyncDefaultAccessTokenServer``,
  ``AsyncRedisAccessTokenServer`` and ``AsyncCorpClient``. They are imported on first use
  of their names here, so that the blocking side never needs aiohttp.
- ``_calls`` (with ``_directory``, ``_messages``, ``_media``): each API call once, without
  I/O (argument checks, request, answer reader, retry rules);
  ``_token_flows``: the token servers' rules (margins, windows, backoff, Redis keys and
  lock); both as flows (``_flow``), generators that yield the I/O they need, performed by
  the blocking and by the async classes alike.
- ``_http``: urllib3 plumbing: URLs, JSON and streamed multipart bodies, errcode checks,
  and the redaction of secrets in errors and log records; ``_aiohttp``: the same on aiohttp.

Import the public names from here (or from ``wxcorp_fast``); the modules are internal layout.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    ERR_CODE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_OK,
    ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED,
)
from ._directory import jsapi_signature
from ._http import DEFAULT_BASE_URL
from .client import CorpClient, MultipartFormField
from .results import Department, Media, SendResult, User, UserInfo
from .tokens import (
    AccessTokenServer,
    AgentJsapiTicketServer,
    DefaultAccessTokenServer,
    JsapiTicketServer,
    RedisAccessTokenServer,
    RedisAgentJsapiTicketServer,
    RedisJsapiTicketServer,
)

if TYPE_CHECKING:
    from .async_client import AsyncCorpClient as AsyncCorpClient
    from .async_tokens import (
        AsyncAccessTokenServer as AsyncAccessTokenServer,
    )
    from .async_tokens import (
        AsyncAgentJsapiTicketServer as AsyncAgentJsapiTicketServer,
    )
    from .async_tokens import (
        AsyncDefaultAccessTokenServer as AsyncDefaultAccessTokenServer,
    )
    from .async_tokens import (
        AsyncJsapiTicketServer as AsyncJsapiTicketServer,
    )
    from .async_tokens import (
        AsyncRedisAccessTokenServer as AsyncRedisAccessTokenServer,
    )
    from .async_tokens import (
        AsyncRedisAgentJsapiTicketServer as AsyncRedisAgentJsapiTicketServer,
    )
    from .async_tokens import (
        AsyncRedisJsapiTicketServer as AsyncRedisJsapiTicketServer,
    )

__all__ = [
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    "DEFAULT_BASE_URL",
    "AccessTokenServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "CorpClient",
    "MultipartFormField",
    "Department",
    "Media",
    "SendResult",
    "User",
    "UserInfo",
    "jsapi_signature",
    "JsapiTicketServer",
    "AgentJsapiTicketServer",
    "RedisJsapiTicketServer",
    "RedisAgentJsapiTicketServer",
]

#: The async names (not in ``__all__``: a star import must not need aiohttp) and their modules.
ASYNC_NAMES: Final = {
    "AsyncAccessTokenServer": "async_tokens",
    "AsyncDefaultAccessTokenServer": "async_tokens",
    "AsyncRedisAccessTokenServer": "async_tokens",
    "AsyncCorpClient": "async_client",
    "AsyncJsapiTicketServer": "async_tokens",
    "AsyncAgentJsapiTicketServer": "async_tokens",
    "AsyncRedisJsapiTicketServer": "async_tokens",
    "AsyncRedisAgentJsapiTicketServer": "async_tokens",
}


def __getattr__(name: str) -> Any:
    """Import an async name on first use (it needs aiohttp, the ``async`` extra)."""
    module = ASYNC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *ASYNC_NAMES})
