"""Fast, hardened SDK for WeChat Work (企业微信) callbacks and API calls.

The everyday names live here. The rooms behind them: ``crypto`` (the protocol primitives and
``MsgCrypto``), ``messages``, ``callback`` (the callback server), ``api`` (the API client and
access tokens), ``testing`` (simulator, fake API server), ``compat`` and ``cli``.
"""

from __future__ import annotations

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

# `typing` itself costs more than the rest of this module: the names it would give are for the
# type checkers only (mypy and ruff take `if TYPE_CHECKING:` by its name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

    from ._core import IMPLEMENTATION
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
    from .messages import Envelope, MixedMessage, ScanCodeInfo, SendLocationInfo, SendPicsInfo

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

#: Every top-level name but the errors and ``__version__``, with the room it is imported from
#: on first use (PEP 562): ``import wxcorp_fast`` loads only ``wxcorp_fast.errors``, and
#: ``from wxcorp_fast import MsgCrypto`` only what ``MsgCrypto`` needs.
LAZY_NAMES: Final = {
    "IMPLEMENTATION": "._core",
    **dict.fromkeys(LAZY_API_NAMES, ".api"),
    **dict.fromkeys(
        (
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
        ),
        ".callback",
    ),
    **dict.fromkeys(
        ("MixedMessage", "Envelope", "ScanCodeInfo", "SendPicsInfo", "SendLocationInfo"),
        ".messages",
    ),
    **dict.fromkeys(
        (
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
        ),
        ".crypto",
    ),
}

#: The rooms, imported on first attribute access as ``import wxcorp_fast`` used to import some
#: of them: ``wxcorp_fast.crypto.MsgCrypto`` works after a bare ``import wxcorp_fast``.
ROOMS: Final = frozenset(
    {"aibot", "api", "callback", "cli", "compat", "crypto", "messages", "replies", "testing"}
)


def __getattr__(name: str) -> Any:
    """Import a top-level name (``LAZY_NAMES``) or a room (``ROOMS``) on first use."""
    from importlib import import_module

    room = LAZY_NAMES.get(name)
    if room is not None:
        value = getattr(import_module(room, __name__), name)
    elif name in ROOMS:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY_NAMES})
