"""The protocol primitives of WeChat's callback encryption ("WXBizMsgCrypt"), and ``MsgCrypto``.

- ``aes_key`` = base64-decode(EncodingAESKey + "="), 32 bytes; IV = aes_key[:16].
- plaintext frame = random(16) + len(msg) as 4-byte big-endian + msg + corp_id, PKCS#7-padded
  to a multiple of 32 bytes, AES-256-CBC, then standard base64.
- msg_signature = hex(SHA1(concat(sorted([token, timestamp, nonce, encrypt])))).

Every name here is the selected core's own function or class (``IMPLEMENTATION`` says which:
the compiled extension, or its pure-Python twin), with no wrapper in between.
"""

from __future__ import annotations

from ._core import IMPLEMENTATION, core

__all__ = [
    "IMPLEMENTATION",
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

MsgCrypto = core.MsgCrypto
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
