"""Pure-Python twin of the crypto core, on ``cryptography``, ``hashlib`` and ``pyexpat``.

This module is the executable specification of docs/reference.md section 1: the compiled
``wxcorp_fast._core_c`` gives the same results and raises the same errors (class,
code and message) for the same input. The protocol is WeChat Work's
"WXBizMsgCrypt" (developer docs: 加解密方案说明, 回调配置).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import os
import re
import time
from typing import Any
from xml.parsers.expat import ExpatError, ParserCreate

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._spec import (
    MAX_FRAME,
    MAX_JSON_DEPTH,
    MAX_JSON_NUMBER,
    MAX_TIMESTAMP_DIGITS,
    MAX_XML_DEPTH,
    MSG_AES_KEY_RAW,
    MSG_AES_KEY_TEXT,
    MSG_B64_CHAR,
    MSG_B64_PAD,
    MSG_CORP_EMPTY,
    MSG_CORP_MISMATCH,
    MSG_CORP_UTF8,
    MSG_CT_LENGTH,
    MSG_EMPTY_CORP_ID,
    MSG_EMPTY_TOKEN,
    MSG_FRAME_LENGTH,
    MSG_FRAME_SHORT,
    MSG_JSON_DEPTH,
    MSG_JSON_DUPLICATE,
    MSG_JSON_MALFORMED,
    MSG_JSON_NO_ENCRYPT,
    MSG_JSON_NOT_OBJECT,
    MSG_JSON_NUMBER,
    MSG_MISSING_PARAMS,
    MSG_PAD,
    MSG_REINIT,
    MSG_SIGNATURE_ENCODING,
    MSG_SIGNATURE_MISMATCH,
    MSG_TIMESTAMP,
    MSG_TOO_LONG,
    MSG_XML_DEPTH,
    MSG_XML_DOCTYPE,
    MSG_XML_MALFORMED,
    MSG_XML_NO_ENCRYPT,
    MSG_XML_NUMBER,
)
from .errors import (
    Base64Error,
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    JSONParseError,
    SignatureError,
    XMLParseError,
)
from .messages import (
    EMPTY_VALUES,
    FLOAT,
    INT,
    LOCATION_INFO,
    LOCATION_INFO_FIELDS,
    PICS_INFO,
    SCAN_INFO,
    STR,
    TAG_INDEX,
    AIBotMessage,
    Envelope,
    MixedMessage,
    ScanCodeInfo,
    SendLocationInfo,
    SendPicsInfo,
    aibot_message,
)

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

BLOCK_SIZE = 32
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_XML_WS = " \t\r\n"
_BOM = b"\xef\xbb\xbf"
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_CIPHER_CACHE_SIZE = 64
_ciphers: dict[bytes, Cipher[modes.CBC]] = {}


# --------------------------------------------------------------------------- keys, base64


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Decode a 43-character EncodingAESKey into the 32-byte AES key.

    Raises:
        InvalidAESKeyError (-40004): not 43 characters of the base64 alphabet.
    """
    if not isinstance(encoding_aes_key, str):
        raise TypeError("encoding_aes_key must be str")
    if len(encoding_aes_key) != 43 or not encoding_aes_key.isascii():
        raise InvalidAESKeyError(MSG_AES_KEY_TEXT)
    data = encoding_aes_key.encode("ascii")
    if data.translate(None, _B64_ALPHABET):
        raise InvalidAESKeyError(MSG_AES_KEY_TEXT)
    return binascii.a2b_base64(data + b"=")


def _check_key(aes_key: bytes) -> bytes:
    if not isinstance(aes_key, bytes):
        raise TypeError("aes_key must be bytes")
    if len(aes_key) != 32:
        raise InvalidAESKeyError(MSG_AES_KEY_RAW)
    return aes_key


def _cipher(aes_key: bytes) -> Cipher[modes.CBC]:
    cipher = _ciphers.get(aes_key)
    if cipher is None:
        if len(_ciphers) >= _CIPHER_CACHE_SIZE:
            _ciphers.clear()
        cipher = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16]))
        _ciphers[aes_key] = cipher
    return cipher


def _b64decode(data: bytes) -> bytes:
    """Strict standard base64: alphabet only, padded to a multiple of 4, '=' only at the end."""
    if data.translate(None, _B64_ALPHABET + b"="):
        raise Base64Error(MSG_B64_CHAR)
    n = len(data)
    pad = data.find(b"=")
    if n % 4 or (pad >= 0 and (pad < n - 2 or data[pad:].strip(b"="))):
        raise Base64Error(MSG_B64_PAD)
    return binascii.a2b_base64(data)


# --------------------------------------------------------------------------- signatures


def _sig_part(value: str | bytes) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise SignatureError(MSG_SIGNATURE_ENCODING) from None
    if isinstance(value, bytes):
        return value
    raise TypeError("signature parts must be str or bytes")


def _timestamp_part(timestamp: int | str | bytes) -> bytes:
    if isinstance(timestamp, int):
        return str(timestamp).encode("ascii")
    return _sig_part(timestamp)


def msg_signature(
    token: str | bytes, timestamp: int | str | bytes, nonce: str | bytes, encrypt: str | bytes
) -> str:
    """Return WeChat's msg_signature: hex SHA-1 of the four parts sorted and joined.

    Raises:
        SignatureError (-40001): a part is a str that cannot be encoded as UTF-8.
    """
    parts = sorted(
        (_sig_part(token), _timestamp_part(timestamp), _sig_part(nonce), _sig_part(encrypt))
    )
    return hashlib.sha1(b"".join(parts)).hexdigest()


def signature(token: str | bytes, timestamp: int | str | bytes, nonce: str | bytes) -> str:
    """Return the three-part signature of the plain-mode URL check.

    Raises:
        SignatureError (-40001): a part is a str that cannot be encoded as UTF-8.
    """
    parts = sorted((_sig_part(token), _timestamp_part(timestamp), _sig_part(nonce)))
    return hashlib.sha1(b"".join(parts)).hexdigest()


def _signature_matches(expected: str, given: str | bytes) -> bool:
    if isinstance(given, str):
        if not given.isascii():
            return False
        given = given.encode("ascii")
    elif not isinstance(given, bytes):
        raise TypeError("msg_signature must be str or bytes")
    return hmac.compare_digest(expected.encode("ascii"), given)


# --------------------------------------------------------------------------- padding, frame


def _check_block_size(block_size: int) -> None:
    if not isinstance(block_size, int) or not 1 <= block_size <= 255:
        raise ValueError("block_size must be an int from 1 to 255")


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Pad ``data`` with PKCS#7 to a multiple of ``block_size`` (always 1..block_size bytes)."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    _check_block_size(block_size)
    n = block_size - len(data) % block_size
    return data + bytes((n,)) * n


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Remove PKCS#7 padding.

    Raises:
        DecryptError (-40007): empty data, a pad byte outside 1..block_size or longer
            than the data, or pad bytes that differ.
    """
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    _check_block_size(block_size)
    if not data:
        raise DecryptError(MSG_PAD)
    n = data[-1]
    if n < 1 or n > block_size or n > len(data) or data.count(n, len(data) - n) != n:
        raise DecryptError(MSG_PAD)
    return data[:-n]


def _corp_bytes(corp_id: str | bytes) -> bytes:
    if isinstance(corp_id, str):
        try:
            return corp_id.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("corp_id is not encodable as UTF-8") from None
    if isinstance(corp_id, bytes):
        return corp_id
    raise TypeError("corp_id must be str or bytes")


def pack_frame(random: bytes, msg: bytes, corp_id: str | bytes) -> bytes:
    """Build the plaintext frame random(16) + len(msg) (4 bytes, big-endian) + msg + corp_id."""
    if not isinstance(random, bytes) or not isinstance(msg, bytes):
        raise TypeError("random and msg must be bytes")
    if len(random) != 16:
        raise ValueError("random must be 16 bytes")
    if len(msg) > 0xFFFFFFFF:
        raise ValueError("msg is longer than 4 GiB")
    return random + len(msg).to_bytes(4, "big") + msg + _corp_bytes(corp_id)


def unpack_frame(plain: bytes) -> tuple[bytes, bytes, str]:
    """Split an unpadded frame into ``(random, msg, corp_id)``.

    Raises:
        DecryptError (-40007): under 20 bytes, a length field that overruns, an empty
            corp_id, or a corp_id that is not UTF-8.
    """
    if not isinstance(plain, bytes):
        raise TypeError("plain must be bytes")
    return _unpack(plain, False)


def _unpack(plain: bytes, allow_empty: bool) -> tuple[bytes, bytes, str]:
    """unpack_frame's checks; ``allow_empty`` accepts an empty receive id (AI bots)."""
    if len(plain) < 20:
        raise DecryptError(MSG_FRAME_SHORT)
    n = int.from_bytes(plain[16:20], "big")
    if n > len(plain) - 20:
        raise DecryptError(MSG_FRAME_LENGTH)
    corp = plain[20 + n :]
    if not corp and not allow_empty:
        raise DecryptError(MSG_CORP_EMPTY)
    try:
        corp_id = corp.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptError(MSG_CORP_UTF8) from None
    return plain[:16], plain[20 : 20 + n], corp_id


# --------------------------------------------------------------------------- AES


def encrypt_msg(msg: bytes | str, corp_id: str, aes_key: bytes, random: bytes | None = None) -> str:
    """Encrypt ``msg`` for ``corp_id`` into base64 text (a fresh CSPRNG random if None).

    Raises:
        InvalidAESKeyError (-40004): ``aes_key`` is not 32 bytes.
        OverflowError: the padded frame would exceed 2 GiB (one AES call's limit).
    """
    _check_key(aes_key)
    if isinstance(msg, str):
        try:
            msg = msg.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("msg is not encodable as UTF-8") from None
    if random is None:
        random = os.urandom(16)
    elif not isinstance(random, bytes) or not isinstance(msg, bytes):
        raise TypeError("random and msg must be bytes")
    elif len(random) != 16:
        raise ValueError("random must be 16 bytes")
    if isinstance(msg, bytes):  # checked before the frame is built (and msg copied)
        frame = 20 + len(msg) + len(_corp_bytes(corp_id))
        if frame + BLOCK_SIZE - frame % BLOCK_SIZE > MAX_FRAME:
            raise OverflowError(MSG_TOO_LONG)
    padded = pkcs7_pad(pack_frame(random, msg, corp_id))
    encryptor = _cipher(aes_key).encryptor()
    data = encryptor.update(padded) + encryptor.finalize()
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def decrypt_msg(encrypt: str | bytes, aes_key: bytes) -> tuple[bytes, bytes, str]:
    """Decrypt base64 ``encrypt`` into ``(random, msg, corp_id)``.

    Raises:
        InvalidAESKeyError (-40004): ``aes_key`` is not 32 bytes.
        Base64Error (-40010): characters outside the base64 alphabet (whitespace too)
            or bad padding.
        DecryptError (-40007): ciphertext length not a positive multiple of 32, bad
            PKCS#7 padding or a bad frame.
    """
    return _unpack(_decrypt_frame(encrypt, aes_key), False)


def _decrypt_frame(encrypt: str | bytes, aes_key: bytes) -> bytes:
    """decrypt_msg up to the unpadded frame (its checks and errors, in that order)."""
    _check_key(aes_key)
    if isinstance(encrypt, str):
        if not encrypt.isascii():
            raise Base64Error(MSG_B64_CHAR)
        encrypt = encrypt.encode("ascii")
    elif not isinstance(encrypt, bytes):
        raise TypeError("encrypt must be str or bytes")
    data = _b64decode(encrypt)
    if not data or len(data) % BLOCK_SIZE:
        raise DecryptError(MSG_CT_LENGTH)
    decryptor = _cipher(aes_key).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    return pkcs7_unpad(plain)


# --------------------------------------------------------------------------- XML


def _xml_bytes(xml: bytes | str) -> bytes:
    if isinstance(xml, str):
        try:
            return xml.encode("utf-8")
        except UnicodeEncodeError:
            raise XMLParseError(MSG_XML_MALFORMED) from None
    if isinstance(xml, bytes):
        return xml
    raise TypeError("xml must be bytes or str")


def _refuse_doctype(data: bytes) -> None:
    """Refuse a DOCTYPE in the prolog once everything before it is well-formed."""
    i = 3 if data.startswith(_BOM) else 0
    while True:
        j = data.find(b"<", i)
        if j < 0 or data[i:j].strip(b" \t\r\n"):
            return
        if data.startswith(b"<?", j):
            k = data.find(b"?>", j + 2)
            end = 2
        elif data.startswith(b"<!--", j):
            k = data.find(b"-->", j + 4)
            end = 3
        elif data.startswith(b"<!DOCTYPE", j):
            prefix = data[:j]
            try:
                _new_parser().Parse(prefix, False)
            except ExpatError:
                raise XMLParseError(MSG_XML_MALFORMED) from None
            if b"\x00" in prefix:
                raise XMLParseError(MSG_XML_MALFORMED)
            raise XMLParseError(MSG_XML_DOCTYPE)
        else:
            return
        if k < 0:
            return
        i = k + end


def _refuse(*_: object) -> None:
    raise XMLParseError(MSG_XML_DOCTYPE)


def _check_pi(target: str, _data: str) -> None:
    if not target.isascii():
        raise XMLParseError(MSG_XML_MALFORMED)


def _new_parser() -> Any:
    parser = ParserCreate("UTF-8")
    parser.ProcessingInstructionHandler = _check_pi
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    return parser


# A flat document (what WeChat sends: <xml>, then elements holding only text or one CDATA
# section, then </xml>) is read with a regular expression instead of expat. It accepts a
# subset of what expat accepts and gives the same values: no references, no ']' in text or
# CDATA, and values whose characters need no care (printable, or tab and LF; no CR, which
# expat would normalise, no other controls, no U+FFFE/U+FFFF). Anything else takes the
# expat path.
_FLAT_ELEMENT = re.compile(
    r"[ \t\n]*<([A-Za-z_][A-Za-z0-9_]*)>(?:<!\[CDATA\[([^\]]*)\]\]>|([^<&\]]*))</\1>"
)
_FLAT_END = re.compile(r"[ \t\n]*</xml>[ \t\n]*")
_NEEDS_CARE = re.compile(r"[^\t\n -~\x80-\ufffd\U00010000-\U0010ffff]")


def _parse_flat(data: bytes) -> dict[str, Any] | None:
    """The raw dict of a flat document, or None when the document is not flat."""
    if not data.startswith(b"<xml>"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    raw: dict[str, Any] = {}
    pos = 5
    match = _FLAT_ELEMENT.match(text, pos)
    while match is not None:
        name, cdata, plain = match.groups()
        value = plain if cdata is None else cdata
        if not value.isprintable() and _NEEDS_CARE.search(value):
            return None
        old = raw.get(name)
        if old is None:
            raw[name] = value
        elif type(old) is list:
            old.append(value)
        else:
            raw[name] = [old, value]
        pos = match.end()
        match = _FLAT_ELEMENT.match(text, pos)
    return raw if _FLAT_END.fullmatch(text, pos) else None


def _parse_tree(xml: bytes | str) -> dict[str, Any]:
    """Parse a document into the ``raw`` dict of a message (root element dropped)."""
    data = _xml_bytes(xml)
    raw = _parse_flat(data)
    return _parse_expat(data) if raw is None else raw


def _parse_expat(data: bytes) -> dict[str, Any]:
    """_parse_tree for any document: pyexpat with DOCTYPE, UTF-16 and non-ASCII names refused."""
    _refuse_doctype(data)
    if b"\x00" in data:  # expat would read UTF-16; callbacks are UTF-8 only
        raise XMLParseError(MSG_XML_MALFORMED)
    parser = _new_parser()
    parser.buffer_text = True
    texts: list[str] = []  # all character data, in document order
    # One entry per open element: [children dict or None, its first index in texts].
    stack: list[list[Any]] = []
    root: list[dict[str, Any]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if not name.isascii() or (attrs and not all(key.isascii() for key in attrs)):
            raise XMLParseError(MSG_XML_MALFORMED)
        if stack:
            if len(stack) >= MAX_XML_DEPTH:
                raise XMLParseError(MSG_XML_DEPTH)
            top = stack[-1]
            if top[0] is None:
                top[0] = {}
        stack.append([None, len(texts)])

    def end(name: str) -> None:
        children, first = stack.pop()
        if not stack:
            root.append({} if children is None else children)
            return
        if children is None:
            value: Any = "".join(texts[first:]) if len(texts) > first else ""
        else:
            value = children
        siblings = stack[-1][0]
        old = siblings.get(name)
        if old is None:
            siblings[name] = value
        elif type(old) is list:
            old.append(value)
        else:
            siblings[name] = [old, value]

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = texts.append
    try:
        parser.Parse(data, True)
    except ExpatError:
        raise XMLParseError(MSG_XML_MALFORMED) from None
    return root[0]


def _scalar(value: Any) -> str:
    if type(value) is list:
        value = value[0]
    return value if type(value) is str else ""


def _group(value: Any) -> dict[str, Any] | None:
    if type(value) is list:
        value = value[0]
    return value if type(value) is dict else None


def _to_int(tag: str, value: Any) -> int:
    text = _scalar(value).strip(_XML_WS)
    if not text:
        return 0
    digits = text[1:] if text[0] in "+-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    try:
        return int(text)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise XMLParseError(MSG_XML_NUMBER.format(tag)) from None


def _to_float(tag: str, value: Any) -> float:
    text = _scalar(value).strip(_XML_WS)
    if not text:
        return 0.0
    if _FLOAT.fullmatch(text) is None:
        raise XMLParseError(MSG_XML_NUMBER.format(tag))
    return float(text)


def _convert(tag: str, kind: int, value: Any) -> Any:
    if kind == STR:
        return _scalar(value)
    if kind == INT:
        return _to_int(tag, value)
    if kind == FLOAT:
        return _to_float(tag, value)
    group = _group(value)
    if kind == SCAN_INFO:
        if group is None:
            return ScanCodeInfo()
        return ScanCodeInfo(_scalar(group.get("ScanType")), _scalar(group.get("ScanResult")))
    if kind == PICS_INFO:
        if group is None:
            return None
        count = _to_int("Count", group.get("Count"))
        return SendPicsInfo(count, _pic_list(group.get("PicList")))
    assert kind == LOCATION_INFO
    if group is None:
        return SendLocationInfo()
    return SendLocationInfo(*(_convert(t, k, group.get(t)) for _, t, k in LOCATION_INFO_FIELDS))


def _pic_list(value: Any) -> list[str]:
    group = _group(value)
    if group is None:
        return []
    items = group.get("item")
    if items is None:
        return []
    if type(items) is not list:
        items = [items]
    return [_scalar(item.get("PicMd5Sum")) if type(item) is dict else "" for item in items]


def parse_envelope(body: bytes | str) -> Envelope:
    """Parse a callback's POST body into its ToUserName, AgentID and Encrypt.

    Raises:
        XMLParseError (-40002): not well-formed, a DOCTYPE or entity declaration, no
            Encrypt element, or an AgentID that is not a number.
    """
    raw = _parse_tree(body)
    encrypt = raw.get("Encrypt")
    if encrypt is None:
        raise XMLParseError(MSG_XML_NO_ENCRYPT)
    return Envelope(
        _scalar(raw.get("ToUserName")), _to_int("AgentID", raw.get("AgentID")), _scalar(encrypt)
    )


def parse_message(xml: bytes | str) -> MixedMessage:
    """Parse a decrypted message or event into a ``MixedMessage``.

    Typed fields are converted in document order; a repeated element gives its first
    value, an element with children counts as absent for a text or number field.

    Raises:
        XMLParseError (-40002): not well-formed, a DOCTYPE or entity declaration, or a
            numeric field that is not a number.
    """
    raw = _parse_tree(xml)
    values = list(EMPTY_VALUES)
    for tag, value in raw.items():
        spec = TAG_INDEX.get(tag)
        if spec is None:
            continue
        index, kind = spec
        if type(value) is str and kind == STR:  # the common cases first
            values[index] = value
        elif kind == INT and type(value) is str and value.isascii() and value.isdigit():
            values[index] = _to_int(tag, value) if len(value) > 18 else int(value)
        else:
            values[index] = _convert(tag, kind, value)
    return MixedMessage(raw, tuple(values))


def _query_timestamp(msg_signature: object, timestamp: object, nonce: object) -> int:
    """A callback query's signed values checked; the timestamp as an int.

    Raises:
        SignatureError (-40001): a value missing or empty, or the timestamp not 1 to 20
            ASCII digits.
    """
    if not msg_signature or not timestamp or not nonce:
        raise SignatureError(MSG_MISSING_PARAMS)
    if not (
        isinstance(timestamp, str)
        and len(timestamp) <= MAX_TIMESTAMP_DIGITS
        and timestamp.isascii()
        and timestamp.isdigit()
    ):
        raise SignatureError(MSG_TIMESTAMP)
    return int(timestamp)


def _open_callback(
    query: object, body: object, token: str, aes_key: bytes, corp_id: str, agent_id: int
) -> tuple[str, int, str, bytes, MixedMessage, bytes, str, int] | None:
    """A POST callback verified and opened at once, or None at the first check that fails.

    The checks are those of ``wxcorp_fast.callback.checks`` but the replay window; this
    only says whether they all pass (the caller then runs them one by one to raise the
    error). Returns ``(msg_signature, timestamp, nonce, xml, msg, random, envelope corp id,
    envelope AgentID)``.
    """
    if type(query) is not dict or type(body) is not bytes:
        return None
    sig, ts_text, nonce = query.get("msg_signature"), query.get("timestamp"), query.get("nonce")
    if not (
        type(sig) is str
        and len(sig) == 40
        and sig.isascii()
        and type(ts_text) is str
        and type(nonce) is str
    ):
        return None
    try:
        ts = _query_timestamp(sig, ts_text, nonce)
        env_corp, env_agent, encrypt = parse_envelope(body)
        if not env_corp:
            return None
        if corp_id and (env_corp != corp_id or env_agent not in (agent_id, 0)):
            return None
        if not _signature_matches(msg_signature(token, ts_text, nonce, encrypt), sig):
            return None
        random, xml, frame_corp = decrypt_msg(encrypt, aes_key)
        if frame_corp != env_corp:
            return None
        msg = parse_message(xml)
    except CallbackError:
        return None
    if msg.to_user_name != env_corp or msg.agent_id != env_agent:
        return None
    if (
        corp_id
        and env_agent != agent_id
        and not (msg.msg_type == "event" and msg.event in ("subscribe", "unsubscribe"))
    ):
        return None
    return sig, ts, nonce, xml, msg, random, env_corp, env_agent


def _plain_query(query_string: str) -> dict[str, str] | None:
    """``{name: first value}`` of an ASCII query string without escapes ('%', '+'), else
    None (``parse_query``'s own path then decodes it)."""
    if (
        type(query_string) is not str
        or not query_string.isascii()
        or "%" in query_string
        or "+" in query_string
    ):
        return None
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            out.setdefault(name, value)
    return out


#: What a text reply's CDATA cannot hold as it is: characters to refuse, a CR, "]]>".
_NOT_PLAIN_CDATA = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|]]>")


def _text_reply(
    to_user_name: str, from_user_name: str, create_time: int, content: str
) -> bytes | None:
    """A text reply's inner XML in one pass, or None where ``TextReply.render``'s own path
    must write it (a character to escape or refuse, a value of another type, a create_time
    outside 0 to 10**18)."""
    if not (
        type(to_user_name) is str
        and type(from_user_name) is str
        and type(content) is str
        and type(create_time) is int
        and 0 <= create_time < 10**18
    ):
        return None
    for text in (to_user_name, from_user_name, content):
        if _NOT_PLAIN_CDATA.search(text):
            return None
    return (
        f"<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName>"
        f"<FromUserName><![CDATA[{from_user_name}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content></xml>"
    ).encode()


# --------------------------------------------------------------------------- MsgCrypto


def _check_nonce(nonce: str) -> bytes:
    if not isinstance(nonce, str):
        raise TypeError("nonce must be str")
    if not nonce or not nonce.isascii() or not nonce.isprintable() or "]]>" in nonce:
        raise ValueError("nonce must be non-empty printable ASCII without ']]>'")
    return nonce.encode("ascii")


def _reply_timestamp(timestamp: int | str | None) -> bytes:
    if timestamp is None:
        return str(int(time.time())).encode("ascii")
    if isinstance(timestamp, int):
        return str(timestamp).encode("ascii")
    if isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit():
        return timestamp.encode("ascii")
    raise ValueError("timestamp must be an int or a string of digits")


class MsgCrypto:
    """One application's codec: verify, decrypt and encrypt WeChat Work callbacks.

    Args:
        token: the callback Token set in the admin console.
        encoding_aes_key: the 43-character EncodingAESKey.
        corp_id: the corp id every decrypted frame must carry.

    Signatures are compared in constant time. There is no timestamp window and no size
    limit at this level (the server adds both). Settings are fixed at construction
    (``__init__`` again raises ``TypeError``). A ``MsgCrypto`` pickles, and its pickle
    carries the Token and the EncodingAESKey: treat it as a secret.
    """

    __slots__ = ("_args", "_token", "_aes_key", "_corp_id", "_initialised")
    _args: tuple[str, str, str]
    _token: bytes
    _aes_key: bytes
    _corp_id: str
    _initialised: bool

    # Set up in __new__, once: as in the compiled twin (whose GIL-free code reads these
    # through pointers), __init__ cannot reset a live codec.
    def __new__(cls, token: str, encoding_aes_key: str, corp_id: str) -> MsgCrypto:
        if not isinstance(token, str) or not isinstance(corp_id, str):
            raise TypeError("token and corp_id must be str")
        if not token:
            raise ValueError(MSG_EMPTY_TOKEN)
        if not corp_id:
            raise ValueError(MSG_EMPTY_CORP_ID)
        self = super().__new__(cls)
        self._token = _sig_part(token)
        self._aes_key = decode_aes_key(encoding_aes_key)
        _corp_bytes(corp_id)  # refuse a corp_id that has no UTF-8 form, as _core_c does
        self._corp_id = corp_id
        self._args = (token, encoding_aes_key, corp_id)
        self._initialised = False
        return self

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        if self._initialised:
            raise TypeError(MSG_REINIT)
        self._initialised = True

    def __reduce__(self) -> tuple[type[MsgCrypto], tuple[str, str, str]]:
        return (type(self), self._args)

    @property
    def corp_id(self) -> str:
        """The expected corp id."""
        return self._corp_id

    def __repr__(self) -> str:
        return f"MsgCrypto(corp_id={self._corp_id!r})"

    def _check_signature(
        self, given: str, timestamp: int | str, nonce: str, encrypt: str | bytes
    ) -> None:
        expected = msg_signature(self._token, timestamp, nonce, encrypt)
        if not _signature_matches(expected, given):
            raise SignatureError(MSG_SIGNATURE_MISMATCH)

    def _open(self, encrypt: str | bytes) -> bytes:
        _, msg, corp_id = decrypt_msg(encrypt, self._aes_key)
        if corp_id != self._corp_id:
            raise CorpIdMismatchError(MSG_CORP_MISMATCH)
        return msg

    def verify_url(
        self, msg_signature: str, timestamp: int | str, nonce: str, echostr: str
    ) -> bytes:
        """Check the GET URL verification and return the decrypted echostr.

        Raises:
            SignatureError (-40001), Base64Error (-40010), DecryptError (-40007),
            CorpIdMismatchError (-40005).
        """
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._open(echostr)

    def decrypt(
        self, body: bytes | str, msg_signature: str, timestamp: int | str, nonce: str
    ) -> bytes:
        """Verify the POST body's signature, decrypt it and return the inner XML.

        Raises:
            XMLParseError (-40002), SignatureError (-40001), Base64Error (-40010),
            DecryptError (-40007), CorpIdMismatchError (-40005).
        """
        encrypt = parse_envelope(body).encrypt
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self._open(encrypt)

    def encrypt(self, reply: bytes | str, nonce: str, timestamp: int | str | None = None) -> bytes:
        """Encrypt ``reply`` (inner XML) into the signed reply envelope.

        ``timestamp=None`` is now; the frame's random is fresh from the OS CSPRNG.
        """
        nonce_b = _check_nonce(nonce)
        ts = _reply_timestamp(timestamp)
        encrypt = encrypt_msg(reply, self._corp_id, self._aes_key).encode("ascii")
        sig = msg_signature(self._token, ts, nonce_b, encrypt).encode("ascii")
        return b"".join(
            (
                b"<xml><Encrypt><![CDATA[",
                encrypt,
                b"]]></Encrypt><MsgSignature><![CDATA[",
                sig,
                b"]]></MsgSignature><TimeStamp>",
                ts,
                b"</TimeStamp><Nonce><![CDATA[",
                nonce_b,
                b"]]></Nonce></xml>",
            )
        )


# --------------------------------------------------------------------------- AI bots (JSON)
#
# WeChat Work's AI bots (智能机器人) use the same frames as MsgCrypto in a JSON envelope
# (docs: 回调和回复的加解密方案): the POST body is {"encrypt": "..."}, the reply
# {"encrypt", "msgsignature", "timestamp", "nonce"}, and the frame's receive id is "" for
# a company's own bot. The scanner below is the specification of src_c/jsonscan.c: strict
# RFC 8259 JSON in UTF-8, one object at the top, the first problem in document order wins.

_JSON_WS = re.compile(rb"[ \t\n\r]*")
_JSON_PLAIN_STRING = re.compile(rb'"([^"\\\x00-\x1f]*)"')
_JSON_STRING = re.compile(rb'"((?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*)"')
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)")
_encode_basestring = json.encoder.encode_basestring
_JSON_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
# Value types, as the scan records them.
_J_STRING, _J_OTHER = 1, 2


class _JSONScan:
    """The state of one scan: the data, the position, the top object's encrypt member."""

    __slots__ = ("data", "pos", "encrypt")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.encrypt: tuple[int, bytes, bool] | None = None

    def ws(self) -> None:
        self.pos = _JSON_WS.match(self.data, self.pos).end()  # type: ignore[union-attr]

    def at(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def string(self) -> tuple[bytes, bool]:
        """The content of the string token at pos, validated; whether it holds escapes."""
        match = _JSON_PLAIN_STRING.match(self.data, self.pos)
        escaped = match is None
        if match is None:
            match = _JSON_STRING.match(self.data, self.pos)
            if match is None:
                raise JSONParseError(MSG_JSON_MALFORMED)
        content = match.group(1)
        if not content.isascii():
            try:
                content.decode("utf-8")
            except UnicodeDecodeError:
                raise JSONParseError(MSG_JSON_MALFORMED) from None
        if escaped and b"\\u" in content:
            _check_surrogates(content)
        self.pos = match.end()
        return content, escaped

    def value(self, depth: int) -> tuple[int, bytes, bool]:
        """Scan the value at pos inside ``depth`` open containers: (type, token, escaped)."""
        c = self.at()
        if c == 0x7B or c == 0x5B:  # { [
            if depth >= MAX_JSON_DEPTH:
                raise JSONParseError(MSG_JSON_DEPTH)
            if c == 0x7B:
                self.object(depth + 1, False)
            else:
                self.array(depth + 1)
            return _J_OTHER, b"", False
        if c == 0x22:  # "
            content, escaped = self.string()
            return _J_STRING, content, escaped
        literal = _JSON_LITERALS.get(c)
        if literal is not None:
            if not self.data.startswith(literal, self.pos):
                raise JSONParseError(MSG_JSON_MALFORMED)
            self.pos += len(literal)
            return _J_OTHER, literal, False
        match = _JSON_NUMBER.match(self.data, self.pos)
        if match is None:
            raise JSONParseError(MSG_JSON_MALFORMED)
        if match.end() - match.start() > MAX_JSON_NUMBER:
            raise JSONParseError(MSG_JSON_NUMBER)
        self.pos = match.end()
        return _J_OTHER, match.group(), False

    def object(self, depth: int, top: bool) -> None:
        """Scan the object at pos; duplicate keys are refused when it closes."""
        self.pos += 1
        self.ws()
        if self.at() == 0x7D:  # }
            self.pos += 1
            return
        keys: list[bytes] = []
        while True:
            if self.at() != 0x22:
                raise JSONParseError(MSG_JSON_MALFORMED)
            content, escaped = self.string()
            key = _json_unescape(content) if escaped else content
            keys.append(key)
            self.ws()
            if self.at() != 0x3A:  # :
                raise JSONParseError(MSG_JSON_MALFORMED)
            self.pos += 1
            self.ws()
            value = self.value(depth)
            if top and key == b"encrypt":
                self.encrypt = value
            self.ws()
            c = self.at()
            if c == 0x2C:  # ,
                self.pos += 1
                self.ws()
                continue
            if c != 0x7D:
                raise JSONParseError(MSG_JSON_MALFORMED)
            self.pos += 1
            break
        if len(keys) > 1 and len(set(keys)) != len(keys):
            raise JSONParseError(MSG_JSON_DUPLICATE)

    def array(self, depth: int) -> None:
        self.pos += 1
        self.ws()
        if self.at() == 0x5D:  # ]
            self.pos += 1
            return
        while True:
            self.value(depth)
            self.ws()
            c = self.at()
            if c == 0x2C:
                self.pos += 1
                self.ws()
                continue
            if c != 0x5D:
                raise JSONParseError(MSG_JSON_MALFORMED)
            self.pos += 1
            return


def _check_surrogates(content: bytes) -> None:
    """Refuse a \\u escape of a surrogate that is not a high one followed by a low one."""
    pending = -1  # the end of a high surrogate's escape, while a low one must follow
    for match in _JSON_ESCAPE.finditer(content):
        hex4 = match.group(1)
        unit = -1 if hex4 is None else int(hex4, 16)
        if pending >= 0:
            if match.start() != pending or not 0xDC00 <= unit <= 0xDFFF:
                raise JSONParseError(MSG_JSON_MALFORMED)
            pending = -1
        elif 0xD800 <= unit <= 0xDBFF:
            pending = match.end()
        elif 0xDC00 <= unit <= 0xDFFF:
            raise JSONParseError(MSG_JSON_MALFORMED)
    if pending >= 0:
        raise JSONParseError(MSG_JSON_MALFORMED)


def _json_unescape(content: bytes) -> bytes:
    """The UTF-8 text of a validated string's content, escapes decoded."""
    text: str = json.loads(b'"' + content + b'"')
    return text.encode("utf-8")


def _json_data(data: bytes | str, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise JSONParseError(MSG_JSON_MALFORMED) from None
    raise TypeError(f"{what} must be bytes or str")


def _json_scan(data: bytes) -> _JSONScan:
    """Validate ``data`` as one JSON object (see src_c/jsonscan.h for the rules)."""
    scan = _JSONScan(data)
    scan.ws()
    c = scan.at()
    if c < 0:
        raise JSONParseError(MSG_JSON_MALFORMED)
    if c != 0x7B:
        raise JSONParseError(MSG_JSON_NOT_OBJECT)
    scan.object(1, True)
    scan.ws()
    if scan.pos != len(data):
        raise JSONParseError(MSG_JSON_MALFORMED)
    return scan


def _json_encrypt(body: bytes | str) -> bytes:
    """The ``encrypt`` member of an AI-bot POST body, unescaped (UTF-8 bytes)."""
    found = _json_scan(_json_data(body, "body")).encrypt
    if found is None or found[0] != _J_STRING:
        raise JSONParseError(MSG_JSON_NO_ENCRYPT)
    _, content, escaped = found
    return _json_unescape(content) if escaped else content


def parse_aibot_message(data: bytes | str) -> AIBotMessage:
    """Parse the decrypted JSON of an AI-bot callback into an ``AIBotMessage``.

    Raises:
        JSONParseError (-40002): not one well-formed JSON object (invalid UTF-8, a lone
            surrogate escape, nesting deeper than 64, a number token over 640 bytes, a
            duplicate key), or a typed field whose JSON type is wrong.
    """
    raw_bytes = _json_data(data, "data")
    _json_scan(raw_bytes)
    return aibot_message(json.loads(raw_bytes.decode("utf-8")))


def _parse_aibot_refresh(data: bytes | str) -> str | AIBotMessage:
    """The stream id of a stream refresh (msgtype ``stream``), else the ``AIBotMessage``.

    Checks and errors are ``parse_aibot_message``'s (the compiled twin never builds a
    refresh's message).
    """
    msg = parse_aibot_message(data)
    return msg.stream_id if msg.msgtype == "stream" else msg


def _json_string(text: str) -> bytes:
    """Return ``text`` as a JSON string literal in UTF-8, as encode_basestring writes it."""
    if not isinstance(text, str):
        raise TypeError("text must be str")
    try:
        return _encode_basestring(text).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not encodable as UTF-8") from None


def _json_nonce(nonce: str) -> tuple[bytes, bytes]:
    """The nonce as signed, and as written inside a JSON string."""
    if not isinstance(nonce, str):
        raise TypeError("nonce must be str")
    if not nonce or not nonce.isascii() or not nonce.isprintable():
        raise ValueError("nonce must be non-empty printable ASCII")
    raw = nonce.encode("ascii")
    return raw, raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def _json_timestamp(timestamp: int | str | None) -> bytes:
    """The reply's timestamp as a JSON number (digits, no leading zero)."""
    if timestamp is None:
        return str(int(time.time())).encode("ascii")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= 0:
        return str(timestamp).encode("ascii")
    if (
        isinstance(timestamp, str)
        and timestamp.isascii()
        and timestamp.isdigit()
        and (len(timestamp) == 1 or timestamp[0] != "0")
    ):
        return timestamp.encode("ascii")
    raise ValueError("timestamp must be a non-negative int or digits without a leading zero")


class AIBotCrypto:
    """An AI bot's codec: verify, decrypt and encrypt its JSON callbacks.

    Args:
        token: the callback Token set for the bot.
        encoding_aes_key: the 43-character EncodingAESKey.
        receive_id: the receive id every decrypted frame must carry; ``""`` (the default)
            for a company's own AI bot, as WeChat Work's docs say.

    The frames are MsgCrypto's; unlike MsgCrypto, an empty receive id is accepted when it
    is the expected one. Signatures are compared in constant time.
    """

    __slots__ = ("_args", "_token", "_aes_key", "_receive_id")

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        if hasattr(self, "_args"):
            raise TypeError("AIBotCrypto is already initialised")
        if not isinstance(token, str) or not isinstance(receive_id, str):
            raise TypeError("token and receive_id must be str")
        self._token = _sig_part(token)
        self._aes_key = decode_aes_key(encoding_aes_key)
        _corp_bytes(receive_id)  # refuse a receive_id that has no UTF-8 form
        self._receive_id = receive_id
        self._args = (token, encoding_aes_key, receive_id)

    def __reduce__(self) -> tuple[type[AIBotCrypto], tuple[str, str, str]]:
        return (type(self), self._args)

    @property
    def receive_id(self) -> str:
        """The expected receive id."""
        return self._receive_id

    def __repr__(self) -> str:
        return f"AIBotCrypto(receive_id={self._receive_id!r})"

    def _check_signature(
        self, given: str, timestamp: int | str, nonce: str, encrypt: str | bytes
    ) -> None:
        expected = msg_signature(self._token, timestamp, nonce, encrypt)
        if not _signature_matches(expected, given):
            raise SignatureError(MSG_SIGNATURE_MISMATCH)

    def _open(self, encrypt: str | bytes) -> bytes:
        _, msg, receive_id = _unpack(_decrypt_frame(encrypt, self._aes_key), True)
        if receive_id != self._receive_id:
            raise CorpIdMismatchError(MSG_CORP_MISMATCH)
        return msg

    def verify_url(
        self, msg_signature: str, timestamp: int | str, nonce: str, echostr: str
    ) -> bytes:
        """Check the GET URL verification and return the decrypted echostr.

        Raises:
            SignatureError (-40001), Base64Error (-40010), DecryptError (-40007),
            CorpIdMismatchError (-40005).
        """
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._open(echostr)

    def decrypt_json(
        self, body: bytes | str, msg_signature: str, timestamp: int | str, nonce: str
    ) -> bytes:
        """Verify the POST body's signature, decrypt it and return the inner JSON.

        Raises:
            JSONParseError (-40002), SignatureError (-40001), Base64Error (-40010),
            DecryptError (-40007), CorpIdMismatchError (-40005).
        """
        encrypt = _json_encrypt(body)
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self._open(encrypt)

    def _open_json(
        self,
        body: bytes | str,
        msg_signature: str | None,
        timestamp: str | None,
        nonce: str | None,
    ) -> tuple[int, bytes, str | AIBotMessage | None]:
        """A POST callback's query checks, ``decrypt_json`` and ``_parse_aibot_refresh`` at once.

        ``msg_signature``, ``timestamp`` and ``nonce`` are the query's values (``None``:
        absent). Returns ``(timestamp as an int, the inner JSON, parsed)``: ``parsed`` is
        what ``_parse_aibot_refresh`` returns, or ``None`` where it raises a
        ``CallbackError`` (the caller parses again, after its replay check, to raise it).

        Raises:
            SignatureError (-40001): a parameter missing or empty, or the timestamp not
                1 to 20 ASCII digits; then ``decrypt_json``'s errors.
        """
        ts = _query_timestamp(msg_signature, timestamp, nonce)
        data = self.decrypt_json(body, msg_signature, timestamp, nonce)  # type: ignore[arg-type]
        try:
            parsed = _parse_aibot_refresh(data)
        except CallbackError:
            parsed = None
        return ts, data, parsed

    def encrypt_json(
        self, reply: bytes | str, nonce: str, timestamp: int | str | None = None
    ) -> bytes:
        """Encrypt ``reply`` (inner JSON) into the signed JSON reply envelope.

        ``timestamp=None`` is now; the frame's random is fresh from the OS CSPRNG.
        """
        nonce_b, nonce_json = _json_nonce(nonce)
        ts = _json_timestamp(timestamp)
        encrypt = encrypt_msg(reply, self._receive_id, self._aes_key).encode("ascii")
        sig = msg_signature(self._token, ts, nonce_b, encrypt).encode("ascii")
        return b"".join(
            (
                b'{"encrypt":"',
                encrypt,
                b'","msgsignature":"',
                sig,
                b'","timestamp":',
                ts,
                b',"nonce":"',
                nonce_json,
                b'"}',
            )
        )

    def _encrypt_stream(
        self,
        stream_id: str,
        content: str,
        finish: bool,
        nonce: str,
        timestamp: int | str | None = None,
    ) -> bytes:
        """``encrypt_json`` of a plain stream reply, rendered as ``replies.render_stream`` does."""
        inner = b"".join(
            (
                b'{"msgtype":"stream","stream":{"id":',
                _json_string(stream_id),
                b',"finish":true,"content":' if finish else b',"finish":false,"content":',
                _json_string(content),
                b"}}",
            )
        )
        return self.encrypt_json(inner, nonce, timestamp)
