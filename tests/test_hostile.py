"""Hostile input battery: each case gets its documented error, with no crash and no hang.

Every case runs on both twins through ``MsgCrypto`` (the way a server meets the input)
and, where it applies, through the module functions. Ciphertexts with chosen bad
plaintexts are made with ``cryptography`` directly and signed with ``msg_signature``,
so the signature check passes and the decryption path is the one under test. Every
error is also checked for leaked secrets: no token, EncodingAESKey, AES key or
plaintext in its text, its repr or the chain a traceback would print.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from wxcorp_fast import _spec
from wxcorp_fast.errors import (
    Base64Error,
    CallbackError,
    CorpIdMismatchError,
    DecryptError,
    SignatureError,
    XMLParseError,
)

from _samples import aes_cbc_encrypt

# Secrets chosen to be easy to spot in any text.
TOKEN = "SecretTokenQ7"
ENCODING_AES_KEY = "SecretKeyZmxwbWFucXVpZXRseXJlYWRzdGhpc2tleQ"
AES_KEY = base64.b64decode(ENCODING_AES_KEY + "=")
CORP_ID = "wwCorpSecretish"
PLAINTEXT = b"<xml><Content>TopSecretPlaintext</Content></xml>"
TIMESTAMP = "1700000000"
NONCE = "hostile-nonce"
MB10 = 10 * 1024 * 1024

SECRETS = [
    TOKEN,
    ENCODING_AES_KEY,
    repr(AES_KEY),
    AES_KEY.hex(),
    base64.b64encode(AES_KEY).decode(),
    "TopSecretPlaintext",
]


def frame(
    msg: bytes = PLAINTEXT,
    corp: bytes = CORP_ID.encode(),
    *,
    length: int | None = None,
    pad: bytes | None = None,
    random: bytes = b"R" * 16,
) -> bytes:
    """A plaintext frame, PKCS#7-padded unless ``pad`` is given."""
    plain = random + (len(msg) if length is None else length).to_bytes(4, "big") + msg + corp
    if pad is None:
        n = 32 - len(plain) % 32
        pad = bytes([n]) * n
    return plain + pad


def seal(plain: bytes, key: bytes = AES_KEY) -> str:
    """Encrypt a crafted plaintext (already a multiple of 32 bytes)."""
    assert len(plain) % 32 == 0
    return aes_cbc_encrypt(plain, key)


def sign(encrypt: str | bytes) -> str:
    from wxcorp_fast import _core_py

    return _core_py.msg_signature(TOKEN, TIMESTAMP, NONCE, encrypt)


def body(encrypt: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()


def assert_no_secrets(exc: BaseException) -> None:
    """Neither the error nor what a traceback prints of its chain reveals a secret."""
    seen: BaseException | None = exc
    while seen is not None:
        texts = [str(seen), repr(seen), *map(repr, seen.args)]
        for secret in SECRETS:
            assert not any(secret in text for text in texts), (secret, texts)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


@dataclass(frozen=True)
class Case:
    """An echostr (signed for the GET check) and/or a POST body, and the expected error."""

    error: type[CallbackError]
    message: str
    echostr: str  # signed with the right token unless ``signature`` is given
    post: bytes | None = None
    signature: str | None = None  # None: sign the encrypt correctly
    post_error: tuple[type[CallbackError], str] | None = None  # when the POST fails otherwise


def bad_pad(tail: bytes) -> str:
    """A frame whose plaintext ends in ``tail`` instead of valid PKCS#7 padding."""
    plain = frame(pad=b"")
    plain += b"z" * (-(len(plain) + len(tail)) % 32) + tail
    return seal(plain)


def _bad_b64(encrypt: str) -> Case:
    return Case(Base64Error, _spec.MSG_B64_CHAR, echostr=encrypt, post=body(encrypt))


VALID = seal(frame())
CASES: dict[str, Case] = {
    # signatures (checked before anything else is decrypted)
    "wrong-signature": Case(
        SignatureError, _spec.MSG_SIGNATURE_MISMATCH, VALID, body(VALID), signature="0" * 40
    ),
    "short-signature": Case(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        VALID,
        body(VALID),
        signature=sign(VALID)[:20],
    ),
    "non-hex-signature": Case(
        SignatureError, _spec.MSG_SIGNATURE_MISMATCH, VALID, body(VALID), signature="xyz!" * 10
    ),
    "empty-signature": Case(
        SignatureError, _spec.MSG_SIGNATURE_MISMATCH, VALID, body(VALID), signature=""
    ),
    "uppercase-signature": Case(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        VALID,
        body(VALID),
        signature=sign(VALID).upper(),
    ),
    "10mb-signature": Case(
        SignatureError, _spec.MSG_SIGNATURE_MISMATCH, VALID, body(VALID), signature="a" * MB10
    ),
    # base64
    "truncated-base64": Case(Base64Error, _spec.MSG_B64_PAD, VALID[:-1], body(VALID[:-1])),
    "truncated-base64-3": Case(Base64Error, _spec.MSG_B64_PAD, VALID[:-3], body(VALID[:-3])),
    "garbage-base64": _bad_b64("@@@@" + VALID[4:]),
    "whitespace-in-base64": _bad_b64(VALID[:30] + " " + VALID[30:]),
    "newline-in-base64": _bad_b64(VALID[:64] + "\n" + VALID[64:]),
    "nul-in-base64": Case(
        Base64Error,
        _spec.MSG_B64_CHAR,
        VALID[:10] + "\x00" + VALID[11:],
        post_error=(XMLParseError, _spec.MSG_XML_MALFORMED),
    ),
    "urlsafe-minus-base64": _bad_b64("-" + VALID[1:]),
    "urlsafe-underscore-base64": _bad_b64(VALID[:-8] + "_" + VALID[-7:]),
    "non-ascii-base64": _bad_b64(VALID[:-4] + "ÿÿÿÿ"),
    # ciphertext length
    "ciphertext-16": Case(DecryptError, _spec.MSG_CT_LENGTH, base64.b64encode(b"x" * 16).decode()),
    "ciphertext-48": Case(DecryptError, _spec.MSG_CT_LENGTH, base64.b64encode(b"x" * 48).decode()),
    "ciphertext-33": Case(DecryptError, _spec.MSG_CT_LENGTH, base64.b64encode(b"x" * 33).decode()),
    "ciphertext-empty": Case(DecryptError, _spec.MSG_CT_LENGTH, ""),
    # PKCS#7 padding
    "pad-0": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\x00")),
    "pad-0-block": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\x00" * 32)),
    "pad-33": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\x21")),
    "pad-33-run": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\x21" * 33)),
    "pad-mismatch": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\x01\x02")),
    "pad-255": Case(DecryptError, _spec.MSG_PAD, bad_pad(b"\xff")),
    # frames
    "length-overrun": Case(
        DecryptError, _spec.MSG_FRAME_LENGTH, seal(frame(length=len(PLAINTEXT) + len(CORP_ID) + 1))
    ),
    "length-ffffffff": Case(DecryptError, _spec.MSG_FRAME_LENGTH, seal(frame(length=0xFFFFFFFF))),
    "length-7fffffff": Case(DecryptError, _spec.MSG_FRAME_LENGTH, seal(frame(length=0x7FFFFFFF))),
    "frame-19-bytes": Case(DecryptError, _spec.MSG_FRAME_SHORT, seal(b"F" * 19 + b"\x0d" * 13)),
    "frame-0-bytes": Case(DecryptError, _spec.MSG_FRAME_SHORT, seal(b"\x20" * 32)),
    "frame-20-bytes": Case(
        DecryptError, _spec.MSG_CORP_EMPTY, seal(b"F" * 16 + b"\x00" * 4 + b"\x0c" * 12)
    ),
    "empty-corp-id": Case(DecryptError, _spec.MSG_CORP_EMPTY, seal(frame(corp=b""))),
    "corp-id-not-utf8": Case(DecryptError, _spec.MSG_CORP_UTF8, seal(frame(corp=b"\xffcorp"))),
    "wrong-corp-id": Case(
        CorpIdMismatchError, _spec.MSG_CORP_MISMATCH, seal(frame(corp=b"wwSomeoneElse"))
    ),
    "corp-id-prefix": Case(
        CorpIdMismatchError, _spec.MSG_CORP_MISMATCH, seal(frame(corp=CORP_ID[:-1].encode()))
    ),
    "corp-id-nul-suffix": Case(
        CorpIdMismatchError, _spec.MSG_CORP_MISMATCH, seal(frame(corp=CORP_ID.encode() + b"\x00"))
    ),
    # 10 MB ciphertexts (valid base64 and AES)
    "10mb-bad-pad": Case(DecryptError, _spec.MSG_PAD, seal(b"\x00" * MB10)),
    "10mb-overrun": Case(
        DecryptError, _spec.MSG_FRAME_LENGTH, seal(frame(msg=b"m" * MB10, length=MB10 + 100))
    ),
    "10mb-wrong-corp": Case(
        CorpIdMismatchError, _spec.MSG_CORP_MISMATCH, seal(frame(msg=b"m" * MB10, corp=b"other"))
    ),
    "10mb-garbage-base64": _bad_b64("A" * (MB10 - 1) + "*"),
    "10mb-whitespace-base64": _bad_b64(" " * MB10),
    "10mb-truncated-base64": Case(Base64Error, _spec.MSG_B64_PAD, "A" * (MB10 + 1)),
}


@pytest.fixture(scope="module")
def crypto_pair(core_impl):
    return core_impl, core_impl.MsgCrypto(TOKEN, ENCODING_AES_KEY, CORP_ID)


def expect(error: type[CallbackError], message: str, fn, *args) -> None:
    with pytest.raises(CallbackError) as info:
        fn(*args)
    exc = info.value
    assert (type(exc), exc.code, str(exc)) == (error, error.code, message)
    assert_no_secrets(exc)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_callback(crypto_pair, name):
    core, crypto = crypto_pair
    case = CASES[name]
    signature = sign(case.echostr) if case.signature is None else case.signature
    expect(case.error, case.message, crypto.verify_url, signature, TIMESTAMP, NONCE, case.echostr)
    post_error, post_message = case.post_error or (case.error, case.message)
    expect(
        post_error,
        post_message,
        crypto.decrypt,
        case.post or body(case.echostr),
        signature,
        TIMESTAMP,
        NONCE,
    )
    if case.error in (DecryptError, Base64Error):
        expect(case.error, case.message, core.decrypt_msg, case.echostr, AES_KEY)
        expect(case.error, case.message, core.decrypt_msg, case.echostr.encode(), AES_KEY)


def test_wrong_key(crypto_pair):
    """A ciphertext made under another key never opens: some DecryptError, never garbage."""
    core, crypto = crypto_pair
    other_key = bytes(range(32))
    for i in range(200):
        encrypt = core.encrypt_msg(PLAINTEXT, CORP_ID, other_key, i.to_bytes(16, "big"))
        with pytest.raises(DecryptError) as info:
            crypto.verify_url(sign(encrypt), TIMESTAMP, NONCE, encrypt)
        assert str(info.value) in {
            _spec.MSG_PAD,
            _spec.MSG_FRAME_SHORT,
            _spec.MSG_FRAME_LENGTH,
            _spec.MSG_CORP_EMPTY,
            _spec.MSG_CORP_UTF8,
        }
        assert_no_secrets(info.value)


def test_wrong_key_is_the_docs_key(core_impl):
    crypto = core_impl.MsgCrypto(TOKEN, "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", CORP_ID)
    with pytest.raises(DecryptError):
        crypto.verify_url(sign(VALID), TIMESTAMP, NONCE, VALID)


def test_valid_control_case(crypto_pair):
    """The battery's own crafted frames are right: the untouched one opens."""
    core, crypto = crypto_pair
    assert crypto.verify_url(sign(VALID), TIMESTAMP, NONCE, VALID) == PLAINTEXT
    assert crypto.decrypt(body(VALID), sign(VALID), TIMESTAMP, NONCE) == PLAINTEXT


def test_10mb_valid_message(crypto_pair):
    core, crypto = crypto_pair
    big = b"<xml><Content>" + "企".encode() * (MB10 // 3) + b"</Content></xml>"
    encrypt = core.encrypt_msg(big, CORP_ID, AES_KEY)
    assert crypto.decrypt(body(encrypt), sign(encrypt), TIMESTAMP, NONCE) == big
    assert core.parse_message(big).content == "企" * (MB10 // 3)
    envelope = crypto.encrypt(big, NONCE, TIMESTAMP)
    assert len(envelope) > MB10


# --------------------------------------------------------------------------- bodies and XML

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><xml><Encrypt>&lol9;</Encrypt></xml>"
)
QUADRATIC_BLOWUP = (
    b'<!DOCTYPE xml [<!ENTITY a "'
    + b"a" * 100_000
    + b'">]><xml><Encrypt>'
    + b"&a;" * 10_000
    + b"</Encrypt></xml>"
)
XXE = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>'
DEEP = b"<a>" * 100_000 + b"</a>" * 100_000
DEEP_UNCLOSED = b"<a>" * 1_000_000

BAD_BODIES = {
    "empty": (b"", _spec.MSG_XML_MALFORMED),
    "whitespace": (b" \n\t ", _spec.MSG_XML_MALFORMED),
    "not-xml": (b"hello world", _spec.MSG_XML_MALFORMED),
    "json": (b'{"Encrypt": "abc"}', _spec.MSG_XML_MALFORMED),
    "html": (b"<html><body><p>hi<br></body></html>", _spec.MSG_XML_MALFORMED),
    "truncated": (body(VALID)[:-10], _spec.MSG_XML_MALFORMED),
    "no-encrypt": (
        b"<xml><ToUserName>x</ToUserName><AgentID>1</AgentID></xml>",
        _spec.MSG_XML_NO_ENCRYPT,
    ),
    "empty-root": (b"<xml/>", _spec.MSG_XML_NO_ENCRYPT),
    "doctype": (b"<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>", _spec.MSG_XML_DOCTYPE),
    "billion-laughs": (BILLION_LAUGHS, _spec.MSG_XML_DOCTYPE),
    "quadratic-blowup": (QUADRATIC_BLOWUP, _spec.MSG_XML_DOCTYPE),
    "xxe": (XXE, _spec.MSG_XML_DOCTYPE),
    "nul-byte": (b"<xml><Encrypt>ab\x00cd</Encrypt></xml>", _spec.MSG_XML_MALFORMED),
    "nul-bytes-only": (b"\x00" * 1000, _spec.MSG_XML_MALFORMED),
    "invalid-utf8": (b"<xml><Encrypt>\xff\xfe</Encrypt></xml>", _spec.MSG_XML_MALFORMED),
    "invalid-utf8-name": (b"<xml><Enc\xc3rypt>x</Enc\xc3rypt></xml>", _spec.MSG_XML_MALFORMED),
    "overlong-utf8": (b"<xml><Encrypt>\xc0\xaf</Encrypt></xml>", _spec.MSG_XML_MALFORMED),
    "deep-nesting": (DEEP, _spec.MSG_XML_DEPTH),
    "deep-nesting-unclosed": (DEEP_UNCLOSED, _spec.MSG_XML_DEPTH),
    "10mb-garbage": (b"\xff" * MB10, _spec.MSG_XML_MALFORMED),
    "10mb-unclosed": (b"<xml><Encrypt>" + b"A" * MB10, _spec.MSG_XML_MALFORMED),
    "10mb-no-encrypt": (
        b"<xml><Content>" + b"x" * MB10 + b"</Content></xml>",
        _spec.MSG_XML_NO_ENCRYPT,
    ),
    "10mb-siblings": (b"<xml>" + b"<a/>" * (MB10 // 4) + b"</xml>", _spec.MSG_XML_NO_ENCRYPT),
    "10mb-entities": (
        b"<xml><Content>" + b"&amp;" * (MB10 // 5) + b"</Content></xml>",
        _spec.MSG_XML_NO_ENCRYPT,
    ),
    "10mb-bad-agent-id": (
        b"<xml><AgentID>" + b"9" * MB10 + b"x</AgentID><Encrypt>x</Encrypt></xml>",
        _spec.MSG_XML_NUMBER.format("AgentID"),
    ),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_hostile_bodies(crypto_pair, name):
    core, crypto = crypto_pair
    doc, message = BAD_BODIES[name]
    expect(XMLParseError, message, crypto.decrypt, doc, sign(VALID), TIMESTAMP, NONCE)
    expect(XMLParseError, message, core.parse_envelope, doc)
    if message != _spec.MSG_XML_NO_ENCRYPT:
        expect(XMLParseError, message, core.parse_message, doc)


def test_10mb_encrypt_body_wrong_signature(crypto_pair):
    core, crypto = crypto_pair
    huge = "A" * MB10
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        crypto.decrypt,
        body(huge),
        "0" * 40,
        TIMESTAMP,
        NONCE,
    )
    assert core.parse_envelope(body(huge)).encrypt == huge


HOSTILE_MESSAGES = {
    "nul-byte": (b"<xml><Content>a\x00b</Content></xml>", _spec.MSG_XML_MALFORMED),
    "invalid-utf8": (b"<xml><Content>\x80</Content></xml>", _spec.MSG_XML_MALFORMED),
    "surrogate-utf8": (b"<xml><Content>\xed\xa0\x80</Content></xml>", _spec.MSG_XML_MALFORMED),
    "bad-number": (
        b"<xml><CreateTime>" + b"1" * MB10 + b"a</CreateTime></xml>",
        _spec.MSG_XML_NUMBER.format("CreateTime"),
    ),
    "huge-number": (
        b"<xml><MsgId>" + b"1" * 100_000 + b"</MsgId></xml>",
        _spec.MSG_XML_NUMBER.format("MsgId"),
    ),
    "billion-laughs": (BILLION_LAUGHS, _spec.MSG_XML_DOCTYPE),
    "deep-nesting": (DEEP, _spec.MSG_XML_DEPTH),
}


@pytest.mark.parametrize("name", list(HOSTILE_MESSAGES))
def test_hostile_messages(core_impl, name):
    doc, message = HOSTILE_MESSAGES[name]
    expect(XMLParseError, message, core_impl.parse_message, doc)


def test_10mb_message(core_impl):
    doc = (
        b"<xml><Content><![CDATA["
        + b"\xe4\xbc\x81" * (MB10 // 3)
        + b"]]></Content><CreateTime> 12 </CreateTime></xml>"
    )
    msg = core_impl.parse_message(doc)
    assert len(msg.content) == MB10 // 3 and msg.create_time == 12


def test_hostile_decrypted_xml(crypto_pair):
    """A correctly signed and encrypted message whose inner XML is hostile decrypts to
    bytes; parsing those bytes gives the documented error."""
    core, crypto = crypto_pair
    for doc, message in [
        (BILLION_LAUGHS, _spec.MSG_XML_DOCTYPE),
        (b"\x00\xff", _spec.MSG_XML_MALFORMED),
    ]:
        encrypt = seal(frame(msg=doc))
        inner = crypto.decrypt(body(encrypt), sign(encrypt), TIMESTAMP, NONCE)
        assert inner == doc
        expect(XMLParseError, message, core.parse_message, inner)


def test_nul_and_invalid_utf8_in_parameters(crypto_pair):
    """NUL bytes and unencodable text in signed parameters: documented errors only."""
    core, crypto = crypto_pair
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        crypto.verify_url,
        sign(VALID),
        TIMESTAMP + "\x00",
        NONCE,
        VALID,
    )
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        crypto.verify_url,
        sign(VALID),
        TIMESTAMP,
        NONCE + "\x00",
        VALID,
    )
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_MISMATCH,
        crypto.verify_url,
        sign(VALID) + "\x00",
        TIMESTAMP,
        NONCE,
        VALID,
    )
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_ENCODING,
        crypto.verify_url,
        sign(VALID),
        TIMESTAMP,
        "\udc80",
        VALID,
    )
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_ENCODING,
        crypto.verify_url,
        sign(VALID),
        "\ud800",
        NONCE,
        VALID,
    )
    expect(
        SignatureError,
        _spec.MSG_SIGNATURE_ENCODING,
        crypto.verify_url,
        sign(VALID),
        TIMESTAMP,
        NONCE,
        "\udfff",
    )
    signed_nul = VALID + "\x00"
    expect(
        Base64Error,
        _spec.MSG_B64_CHAR,
        crypto.verify_url,
        sign(signed_nul),
        TIMESTAMP,
        NONCE,
        signed_nul,
    )


def test_messages_hold_no_secret_in_any_error(crypto_pair):
    """A sweep: every error the core raises on this battery's inputs is free of secrets."""
    core, crypto = crypto_pair
    inputs = [c.echostr for c in CASES.values() if c.signature is None and len(c.echostr) < 1000]
    for encrypt in inputs:
        for call in (
            lambda e=encrypt: crypto.verify_url(sign(e), TIMESTAMP, NONCE, e),
            lambda e=encrypt: crypto.decrypt(body(e), sign(e), TIMESTAMP, NONCE),
        ):
            with pytest.raises(CallbackError) as info:
                call()
            assert_no_secrets(info.value)
    assert TOKEN not in repr(crypto) and ENCODING_AES_KEY not in repr(crypto)
