"""The WeChat Work API client: one door for the room.

- ``client``: ``CorpClient`` (urllib3) and ``MultipartFormField``;
- ``tokens``: ``AccessTokenServer`` and the default and Redis token servers;
- ``_http``: the HTTP plumbing both share (URLs, JSON, multipart, redaction of secrets).
"""

from __future__ import annotations

from ..errors import ERR_CODE_ACCESS_TOKEN_EXPIRED, ERR_CODE_OK, ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED
from ._http import DEFAULT_BASE_URL
from .client import CorpClient, MultipartFormField
from .tokens import AccessTokenServer, DefaultAccessTokenServer, RedisAccessTokenServer

__all__ = [
    "CorpClient",
    "MultipartFormField",
    "AccessTokenServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "DEFAULT_BASE_URL",
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
]
