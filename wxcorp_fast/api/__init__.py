"""The WeChat Work API side: HTTP plumbing, access-token servers and ``CorpClient``.

- ``tokens``: ``AccessTokenServer`` (the interface), ``DefaultAccessTokenServer`` (one
  process) and ``RedisAccessTokenServer`` (one token shared through Redis).
- ``client``: ``CorpClient`` and ``MultipartFormField``.
- ``_calls``: each API call once, without I/O (request, answer reader, retry rules);
  ``_token_flows``: the token servers' rules (margins, windows, backoff, Redis keys and
  lock); both as flows (``_flow``), generators that yield the I/O they need.
- ``_http``: urllib3 plumbing: URLs, JSON and streamed multipart bodies, errcode checks,
  and the redaction of secrets in errors and log records.

Import the public names from here (or from ``wxcorp_fast``); the modules are internal layout.
"""

from __future__ import annotations

from ..errors import (
    ERR_CODE_ACCESS_TOKEN_EXPIRED,
    ERR_CODE_OK,
    ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED,
)
from ._http import DEFAULT_BASE_URL
from .client import CorpClient, MultipartFormField
from .tokens import AccessTokenServer, DefaultAccessTokenServer, RedisAccessTokenServer

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
]
