"""Fast, hardened SDK for WeChat Work (企业微信) callbacks and API calls."""

from __future__ import annotations

from ._core import IMPLEMENTATION, core
from .agent import AgentServer, DefaultAgentServer
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
from .dedupe import MemoryDedupeStore, RedisDedupeStore
from .errors import (
    APIError,
    Base64Error,
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    RateLimitError,
    SignatureError,
    StaleRequestError,
    TransportError,
    UnknownAgentError,
    WXCorpError,
    XMLParseError,
)
from .frontends import (
    URL_QUERY_AGENT_SERVER_KEY_NAME,
    AgentServerFrontend,
    MultiAgentServerFrontend,
)
from .messages import Envelope, MixedMessage, ScanCodeInfo, SendLocationInfo, SendPicsInfo
from .mux import MessageServeMux
from .server import Request, Response, serve_http, serve_http_async, write_response

__version__ = "0.1.0"

decode_aes_key = core.decode_aes_key
msg_signature = core.msg_signature
signature = core.signature
pkcs7_pad = core.pkcs7_pad
pkcs7_unpad = core.pkcs7_unpad
pack_frame = core.pack_frame
unpack_frame = core.unpack_frame
encrypt_msg = core.encrypt_msg
decrypt_msg = core.decrypt_msg
parse_envelope = core.parse_envelope
parse_message = core.parse_message
MsgCrypto = core.MsgCrypto

__all__ = [
    "IMPLEMENTATION",
    "__version__",
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
    "MsgCrypto",
    "Envelope",
    "MixedMessage",
    "ScanCodeInfo",
    "SendPicsInfo",
    "SendLocationInfo",
    "WXCorpError",
    "CallbackError",
    "SignatureError",
    "XMLParseError",
    "InvalidAESKeyError",
    "CorpIdMismatchError",
    "DecryptError",
    "Base64Error",
    "StaleRequestError",
    "UnknownAgentError",
    "APIError",
    "RateLimitError",
    "TransportError",
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    "DEFAULT_BASE_URL",
    "AccessTokenServer",
    "DefaultAccessTokenServer",
    "RedisAccessTokenServer",
    "CorpClient",
    "MultipartFormField",
    "Request",
    "Response",
    "MessageServeMux",
    "AgentServer",
    "DefaultAgentServer",
    "serve_http",
    "serve_http_async",
    "write_response",
    "AgentServerFrontend",
    "MultiAgentServerFrontend",
    "URL_QUERY_AGENT_SERVER_KEY_NAME",
    "MemoryDedupeStore",
    "RedisDedupeStore",
]
