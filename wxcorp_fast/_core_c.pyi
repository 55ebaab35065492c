"""Stub of the compiled twin ``wxcorp_fast._core_c``.

Same names, parameters, defaults and annotations as ``wxcorp_fast._core_py`` (the
specification); ``tests/test_stub.py`` keeps the two equal.
"""

from typing import Final

from typing_extensions import disjoint_base

from .messages import AIBotMessage, Envelope, MixedMessage

__all__ = [
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
    "parse_aibot_message",
    "AIBotCrypto",
]

OPENSSL_VERSION: Final[str]
"""The version text of the libcrypto this module runs against."""
OPENSSL_LINKAGE: Final[str]
"""``"static"`` when libcrypto is linked into this module (bundled), ``"shared"`` otherwise."""

def decode_aes_key(encoding_aes_key: str) -> bytes: ...
def msg_signature(
    token: str | bytes, timestamp: int | str | bytes, nonce: str | bytes, encrypt: str | bytes
) -> str: ...
def signature(token: str | bytes, timestamp: int | str | bytes, nonce: str | bytes) -> str: ...
def pkcs7_pad(data: bytes, block_size: int = 32) -> bytes: ...
def pkcs7_unpad(data: bytes, block_size: int = 32) -> bytes: ...
def pack_frame(random: bytes, msg: bytes, corp_id: str | bytes) -> bytes: ...
def unpack_frame(plain: bytes) -> tuple[bytes, bytes, str]: ...
def encrypt_msg(
    msg: bytes | str, corp_id: str, aes_key: bytes, random: bytes | None = None
) -> str: ...
def decrypt_msg(encrypt: str | bytes, aes_key: bytes) -> tuple[bytes, bytes, str]: ...
def parse_envelope(body: bytes | str) -> Envelope: ...
def parse_message(xml: bytes | str) -> MixedMessage: ...

@disjoint_base  # a cdef class: no multiple inheritance with other C layouts
class MsgCrypto:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None: ...
    @property
    def corp_id(self) -> str: ...
    def verify_url(
        self, msg_signature: str, timestamp: int | str, nonce: str, echostr: str
    ) -> bytes: ...
    def decrypt(
        self, body: bytes | str, msg_signature: str, timestamp: int | str, nonce: str
    ) -> bytes: ...
    def encrypt(
        self, reply: bytes | str, nonce: str, timestamp: int | str | None = None
    ) -> bytes: ...

def parse_aibot_message(data: bytes | str) -> AIBotMessage: ...

@disjoint_base  # a cdef class: no multiple inheritance with other C layouts
class AIBotCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None: ...
    @property
    def receive_id(self) -> str: ...
    def verify_url(
        self, msg_signature: str, timestamp: int | str, nonce: str, echostr: str
    ) -> bytes: ...
    def decrypt_json(
        self, body: bytes | str, msg_signature: str, timestamp: int | str, nonce: str
    ) -> bytes: ...
    def encrypt_json(
        self, reply: bytes | str, nonce: str, timestamp: int | str | None = None
    ) -> bytes: ...
