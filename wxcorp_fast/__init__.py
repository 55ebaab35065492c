"""Fast, hardened SDK for WeChat Work (企业微信) callbacks and API calls.

The everyday names live here. The rooms behind them: ``crypto`` (the protocol primitives and
``MsgCrypto``), ``messages``, ``callback`` (the callback server), ``api`` (the API client and
access tokens), ``testing`` (simulator, fake API server), ``compat`` and ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ._core import IMPLEMENTATION
from .callback import (
    URL_QUERY_AGENT_SERVER_KEY_NAME,
    AgentServer,
    AgentServerFrontend,
    AsyncRedisDedupeStore,
    DefaultAgentServer,
    Deferred,
    MemoryDedupeStore,
    MessageServeMux,
    MultiAgentServerFrontend,
    RedisDedupeStore,
    Request,
    Response,
    serve_http,
    serve_http_async,
    write_response,
)
from .crypto import (
    MsgCrypto,
    decode_aes_key,
    decrypt_msg,
    encrypt_msg,
    msg_signature,
    pack_frame,
    parse_envelope,
    parse_message,
    pkcs7_pad,
    pkcs7_unpad,
    signature,
    unpack_frame,
)
from .errors import (
    APIError,
    Base64Error,
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    JSONParseError,
    RateLimitError,
    SignatureError,
    StaleRequestError,
    TransportError,
    UnknownAgentError,
    WXCorpError,
    XMLParseError,
)
from .messages import Envelope, MixedMessage, ScanCodeInfo, SendLocationInfo, SendPicsInfo

if TYPE_CHECKING:
    from .api import (
        DEFAULT_BASE_URL,
        ERR_CODE_ACCESS_TOKEN_EXPIRED,
        ERR_CODE_OK,
        ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED,
        AccessTokenServer,
        CorpClient,
        DefaultAccessTokenServer,
        MultipartFormField,
        RedisAccessTokenServer,
    )

__version__ = "0.1.0"

__all__ = [
    "IMPLEMENTATION",
    "__version__",
    # the callback server: endpoints, agents, routing, what a handler gets
    "AgentServerFrontend",
    "MultiAgentServerFrontend",
    "URL_QUERY_AGENT_SERVER_KEY_NAME",
    "DefaultAgentServer",
    "AgentServer",
    "MessageServeMux",
    "Deferred",
    "Request",
    "Response",
    "serve_http",
    "serve_http_async",
    "write_response",
    "MemoryDedupeStore",
    "RedisDedupeStore",
    "AsyncRedisDedupeStore",
    # messages
    "MixedMessage",
    "Envelope",
    "ScanCodeInfo",
    "SendPicsInfo",
    "SendLocationInfo",
    # the API client and its access tokens
    "CorpClient",
    "MultipartFormField",
    "AccessTokenServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "DEFAULT_BASE_URL",
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    # errors
    "WXCorpError",
    "CallbackError",
    "SignatureError",
    "StaleRequestError",
    "XMLParseError",
    "JSONParseError",
    "InvalidAESKeyError",
    "CorpIdMismatchError",
    "UnknownAgentError",
    "DecryptError",
    "Base64Error",
    "APIError",
    "RateLimitError",
    "TransportError",
    # the protocol primitives (their room is wxcorp_fast.crypto)
    "MsgCrypto",
    "decode_aes_key",
    "msg_signature",
    "signature",
    "pkcs7_pad",
    "pkcs7_unpad",
    "pack_frame",
    "unpack_frame",
    "encrypt_msg",
    "decrypt_msg",
    "parse_envelope",
    "parse_message",
]

#: The API client's names, imported from ``wxcorp_fast.api`` on first use: a callback server
#: that never calls the API does not pay for urllib3 (and ssl) at start-up.
LAZY_API_NAMES: Final = frozenset(
    {
        "CorpClient",
        "MultipartFormField",
        "AccessTokenServer",
        "DefaultAccessTokenServer",
        "RedisAccessTokenServer",
        "DEFAULT_BASE_URL",
        "ERR_CODE_OK",
        "ERR_CODE_ACCESS_TOKEN_EXPIRED",
        "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    }
)


def __getattr__(name: str) -> Any:
    """Import an API name on first use (see ``LAZY_API_NAMES``)."""
    if name not in LAZY_API_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".api", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY_API_NAMES})
