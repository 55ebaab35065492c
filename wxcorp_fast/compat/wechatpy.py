"""Drop-in for ``wechatpy.enterprise.crypto.WeChatCrypto`` (wechatpy 1.8.18), on our core.

Swap the import and keep the calls::

    # from wechatpy.enterprise.crypto import WeChatCrypto
    from wxcorp_fast.compat.wechatpy import WeChatCrypto

The methods, argument conversions, return types and output bytes are wechatpy's: the
same multi-line reply envelope, ``timestamp or now``, ``str`` results, and
``decrypt_message`` taking the POST body or an already parsed dict. What differs is
underneath: the selected crypto core (``wxcorp_fast._core.core``), strict checks of
padding, frame and base64, signatures compared in constant time, and the frame's random
drawn from the OS CSPRNG instead of ``random.sample``. Override :meth:`get_random_bytes`
to pin it (tests do, to compare with wechatpy byte for byte).

Errors: when wechatpy is importable, failures raise its own classes —
``InvalidSignatureException``, ``InvalidCorpIdException``, and ``WeChatException(code,
message)`` for the rest, with WeChat's official code. Without wechatpy they are this
package's ``CallbackError`` subclasses (``SignatureError``, ``CorpIdMismatchError``, ...).
"""

from __future__ import annotations

import functools
import hmac
import importlib
import importlib.util
import os
import sys
import time
from typing import Any, NoReturn

from .._core import core
from .._spec import (
    MSG_CORP_MISMATCH,
    MSG_SIGNATURE_MISMATCH,
)
from ..errors import (
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    SignatureError,
)

__all__ = ["WeChatCrypto", "WECHATPY_AVAILABLE"]

_REPLY_TEMPLATE = """<xml>
<Encrypt><![CDATA[{encrypt}]]></Encrypt>
<MsgSignature><![CDATA[{signature}]]></MsgSignature>
<TimeStamp>{timestamp}</TimeStamp>
<Nonce><![CDATA[{nonce}]]></Nonce>
</xml>"""

_MSG_NOT_UTF8 = "decrypted message is not UTF-8"


def _wechatpy_importable() -> bool:
    try:
        return importlib.util.find_spec("wechatpy") is not None
    except (ImportError, ValueError):
        return False


WECHATPY_AVAILABLE: bool = _wechatpy_importable()
"""True when failures raise wechatpy's own exception classes (imported on first failure)."""


@functools.cache
def _wechatpy_errors() -> tuple[Any, Any, Any] | None:
    """Return wechatpy's (WeChatException, InvalidSignatureException, InvalidCorpIdException)."""
    if not WECHATPY_AVAILABLE:
        return None
    try:
        exceptions = importlib.import_module("wechatpy.exceptions")
        try:
            corp_exceptions = importlib.import_module("wechatpy.enterprise.exceptions")
        except ImportError:  # wechatpy >= 2 renamed enterprise to work
            corp_exceptions = importlib.import_module("wechatpy.work.exceptions")
    except ImportError:
        return None
    return (
        exceptions.WeChatException,
        exceptions.InvalidSignatureException,
        corp_exceptions.InvalidCorpIdException,
    )


def _render_wechatpy_reply(msg: Any) -> Any:
    """Render a wechatpy reply object as wechatpy does; anything else passes through."""
    replies = sys.modules.get("wechatpy.replies")  # a reply object means wechatpy is loaded
    if replies is not None and isinstance(msg, replies.BaseReply):
        return msg.render()
    return msg


def _to_binary(value: Any) -> bytes:
    """wechatpy's ``to_binary``: falsy -> b"", bytes as is, str as UTF-8, else ``str()``."""
    if not value:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("utf-8")


def _raise(exc: CallbackError) -> NoReturn:
    """Re-raise a core error as wechatpy's class when wechatpy is present."""
    classes = _wechatpy_errors()
    if classes is None:
        raise exc
    wechat_exception, invalid_signature, invalid_corp_id = classes
    if isinstance(exc, SignatureError):
        raise invalid_signature() from exc
    if isinstance(exc, CorpIdMismatchError):
        raise invalid_corp_id() from exc
    raise wechat_exception(exc.code, exc.message) from exc


class WeChatCrypto:
    """WeChat Work callback crypto with wechatpy 1.8.18's interface.

    Args:
        token: the callback Token.
        encoding_aes_key: the 43-character EncodingAESKey.
        corp_id: the corp id every decrypted frame must carry.
    """

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        try:
            self.key: bytes = core.decode_aes_key(encoding_aes_key)
        except CallbackError as exc:
            _raise(exc)
        self.token = token
        self.corp_id = corp_id
        self._id = corp_id
        self._corp_id_b = _to_binary(corp_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(corp_id={self.corp_id!r})"

    def get_random_bytes(self) -> bytes:
        """Return the 16 random bytes that open each encrypted frame (override to pin)."""
        return os.urandom(16)

    # ------------------------------------------------------------------ internals

    def _signature(self, timestamp: Any, nonce: Any, encrypt: Any) -> str:
        parts = [_to_binary(x) for x in (self.token, timestamp, nonce, encrypt)]
        try:
            return core.msg_signature(*parts)
        except CallbackError as exc:
            _raise(exc)

    def _check(self, signature: Any, timestamp: Any, nonce: Any, encrypt: Any) -> None:
        expected = self._signature(timestamp, nonce, encrypt)
        # wechatpy compares with ``!=``: only an equal str matches. Ours is constant-time.
        if not (
            isinstance(signature, str)
            and hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass"))
        ):
            _raise(SignatureError(MSG_SIGNATURE_MISMATCH))

    def _open(self, encrypt: Any) -> str:
        try:
            _, msg, corp_id = core.decrypt_msg(_to_binary(encrypt), self.key)
        except CallbackError as exc:
            _raise(exc)
        if corp_id != self._id:
            _raise(CorpIdMismatchError(MSG_CORP_MISMATCH))
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            _raise(DecryptError(_MSG_NOT_UTF8))

    # ------------------------------------------------------------------ wechatpy's API

    def check_signature(
        self, signature: str, timestamp: str | int, nonce: str, echo_str: str
    ) -> str:
        """Verify the GET URL check and return the decrypted echostr."""
        self._check(signature, timestamp, nonce, echo_str)
        return self._open(echo_str)

    def encrypt_message(self, msg: Any, nonce: str, timestamp: str | int | None = None) -> str:
        """Encrypt a reply (inner XML, str or bytes, or a wechatpy reply) into the envelope."""
        msg = _render_wechatpy_reply(msg)
        timestamp = timestamp or str(int(time.time()))
        random = self.get_random_bytes()
        try:
            encrypt = core.encrypt_msg(
                _to_binary(msg), self._corp_id_b.decode("utf-8"), self.key, random
            )
        except CallbackError as exc:
            _raise(exc)
        signature = self._signature(timestamp, nonce, encrypt)
        return _REPLY_TEMPLATE.format(
            encrypt=encrypt, signature=signature, timestamp=timestamp, nonce=nonce
        )

    def decrypt_message(self, msg: Any, signature: str, timestamp: str | int, nonce: str) -> str:
        """Verify and decrypt a POST body (XML text or bytes, or a dict with ``Encrypt``)."""
        if isinstance(msg, dict):
            encrypt = msg["Encrypt"]
        else:
            try:
                # xmltodict, which wechatpy parses with, strips surrounding whitespace.
                encrypt = core.parse_envelope(_to_binary(msg)).encrypt.strip()
            except CallbackError as exc:
                _raise(exc)
        self._check(signature, timestamp, nonce, encrypt)
        return self._open(encrypt)
