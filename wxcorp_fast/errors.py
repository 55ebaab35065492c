"""The error tree of docs/reference.md section 5, with the official WXBizMsgCrypt codes.

The error classes and the API errcodes the package acts on, as the Go original's
``error.go`` holds them; the message texts both crypto twins raise live in ``_spec``.
"""

from __future__ import annotations

# No `typing` at run time: `import wxcorp_fast` loads this module alone (mypy and ruff take
# `if TYPE_CHECKING:` by its name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "ERR_CODE_OK",
    "ERR_CODE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    "ERR_CODE_INVALID_ACCESS_TOKEN",
    "ERR_CODE_SYSTEM_BUSY",
    "WXCorpError",
    "CallbackError",
    "SignatureError",
    "XMLParseError",
    "JSONParseError",
    "InvalidAESKeyError",
    "CorpIdMismatchError",
    "DecryptError",
    "Base64Error",
    "StaleRequestError",
    "UnknownAgentError",
    "APIError",
    "RateLimitError",
    "TransportError",
]


# WeChat Work API errcodes the package acts on (as the Go original's error.go keeps them).
ERR_CODE_OK: Final = 0
ERR_CODE_ACCESS_TOKEN_EXPIRED: Final = 42001
ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED: Final = 42009
ERR_CODE_INVALID_ACCESS_TOKEN: Final = 40014
ERR_CODE_SYSTEM_BUSY: Final = -1


class WXCorpError(Exception):
    """Root of every error this package raises on purpose."""


class CallbackError(WXCorpError, ValueError):
    """A callback (or its crypto) was rejected; ``code`` is WeChat's official error code."""

    code: int = -40000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type[CallbackError], tuple[str]]:
        return (type(self), (self.message,))


class SignatureError(CallbackError):
    """The signature did not match, or a signed parameter was missing or malformed."""

    code = -40001


class StaleRequestError(CallbackError):
    """The request's timestamp lies outside the replay window."""

    code = -40001


class XMLParseError(CallbackError):
    """The XML was not well-formed, declared a DOCTYPE, or lacked a required element."""

    code = -40002


class JSONParseError(CallbackError):
    """An AI-bot body or message is not the expected JSON (malformed, nested too deeply,
    a duplicate key, not an object, no string ``encrypt``, a field of the wrong type)."""

    code = -40002


class InvalidAESKeyError(CallbackError):
    """The EncodingAESKey (or raw AES key) is not valid."""

    code = -40004


class CorpIdMismatchError(CallbackError):
    """The corp_id (or agent) inside a message is not the expected one."""

    code = -40005


class UnknownAgentError(CallbackError):
    """No agent server is registered under the requested key."""

    code = -40005


class DecryptError(CallbackError):
    """The ciphertext, its PKCS#7 padding or its frame is invalid."""

    code = -40007


class Base64Error(CallbackError):
    """The base64 text has characters outside the alphabet or bad padding."""

    code = -40010


class APIError(WXCorpError):
    """The WeChat Work API answered a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg

    def __str__(self) -> str:
        return f"errcode: {self.errcode}, errmsg: {self.errmsg}"


class RateLimitError(APIError):
    """The API refused the call for its rate limits (45009, 45033)."""


class TransportError(WXCorpError):
    """The API could not be reached or gave no usable answer.

    Connection failures and timeouts, an HTTP status other than 200, a body that is not a
    JSON object, a gettoken answer without a token or with an ``expires_in`` out of range,
    and a Redis fetch lock that was never released in time.

    The message names the method and path only: never the query, which holds the
    access_token or the corp secret. ``status`` is the HTTP status when one was received.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message
