"""docs/reference.md section 1 (and the parsing half of section 2), every case on both twins.

Each test takes ``core_impl`` (ids ``compiled`` / ``python``) and calls the twin's own
functions. Errors are checked as ``(class, code, str(exc))`` with the texts of
``wxcorp_fast.errors``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time

import pytest

from wxcorp_fast import _spec, errors
from wxcorp_fast.errors import (
    Base64Error,
    CorpIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    SignatureError,
    XMLParseError,
)
from wxcorp_fast.messages import (
    FIELDS,
    Envelope,
    MixedMessage,
    ScanCodeInfo,
    SendLocationInfo,
    SendPicsInfo,
)
from wxcorp_fast.testing import vectors as v

from _samples import (
    CHANGE_CONTACT_EVENT,
    DOCS_INNER_XML,
    LINK_MSG,
    LOCATION_EVENT,
    LOCATION_MSG,
    LOCATION_SELECT_EVENT,
    MEDIA_MSGS,
    ONE_PIC_EVENT,
    PICS_EVENT,
    SCANCODE_EVENT,
    TEMPLATE_CARD_EVENT,
    TEXT_MSG,
    aes_cbc_encrypt,
    raises_callback_error,
)

DOCS_KEY = base64.b64decode(v.ENCODING_AES_KEY + "=")

# wechatpy's published WeChat Work vector (tests/test_crypto.py), random pinned to
# "1234567890123456": an independent implementation's known answer.
WP_TOKEN = "123456"
WP_ENCODING_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WP_CORP_ID = "wx49f0ab532d5d035a"
WP_RANDOM = b"1234567890123456"
WP_TIMESTAMP = "1411525903"
WP_NONCE = "461056294"
WP_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
    "<CreateTime>1411525903</CreateTime>\n</xml>"
)
WP_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
    "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
    "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
    "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
    "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
WP_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"
WP_ECHO = (
    "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    "1411443780",
    "437374425",
    "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
)


def sha1_hex(*parts: str | bytes) -> str:
    """Reference signature: SHA-1 of the UTF-8 parts, sorted and joined."""
    raw = sorted(p.encode() if isinstance(p, str) else p for p in parts)
    return hashlib.sha1(b"".join(raw)).hexdigest()


@pytest.fixture
def docs_crypto(core_impl):
    return core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.SignatureError, -40001),
        (errors.StaleRequestError, -40001),
        (errors.XMLParseError, -40002),
        (errors.InvalidAESKeyError, -40004),
        (errors.CorpIdMismatchError, -40005),
        (errors.UnknownAgentError, -40005),
        (errors.DecryptError, -40007),
        (errors.Base64Error, -40010),
    ],
)
def test_error_codes_are_wechats(cls, code):
    assert cls.code == code
    assert issubclass(cls, errors.CallbackError)
    assert issubclass(cls, errors.WXCorpError) and issubclass(cls, ValueError)
    assert cls("text").code == code and str(cls("text")) == "text"


# --------------------------------------------------------------------------- the docs' example


def test_docs_url_verification(docs_crypto):
    echo = docs_crypto.verify_url(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
    assert echo == b"1616140317555161061"
    assert type(echo) is bytes


def test_docs_post_decrypts_to_hello(core_impl, docs_crypto):
    xml = docs_crypto.decrypt(v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)
    assert xml == DOCS_INNER_XML
    msg = core_impl.parse_message(xml)
    assert (msg.msg_type, msg.content, msg.from_user_name) == ("text", "hello", "mycreate")
    assert (msg.to_user_name, msg.agent_id, msg.create_time) == (v.CORP_ID, 218, 1409659813)
    assert msg.msg_id == 4561255354251345929


def test_docs_post_body_as_str(docs_crypto):
    body = v.POST_BODY.decode()
    xml = docs_crypto.decrypt(body, v.POST_MSG_SIGNATURE, int(v.POST_TIMESTAMP), v.POST_NONCE)
    assert xml == DOCS_INNER_XML


@pytest.mark.parametrize(
    ("timestamp", "nonce", "encrypt", "expected"),
    [
        (v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR, v.ECHO_MSG_SIGNATURE),
        (v.POST_TIMESTAMP, v.POST_NONCE, v.POST_ENCRYPT, v.POST_MSG_SIGNATURE),
        (int(v.POST_TIMESTAMP), v.POST_NONCE, v.POST_ENCRYPT, v.POST_MSG_SIGNATURE),
        (WP_TIMESTAMP, WP_NONCE, WP_ENCRYPT, WP_SIGNATURE),
    ],
    ids=["docs-get", "docs-post", "int-timestamp", "wechatpy"],
)
def test_msg_signature_published(core_impl, timestamp, nonce, encrypt, expected):
    token = WP_TOKEN if encrypt == WP_ENCRYPT else v.TOKEN
    assert core_impl.msg_signature(token, timestamp, nonce, encrypt) == expected


def test_docs_frames(core_impl):
    rnd, msg, corp = core_impl.decrypt_msg(v.ECHOSTR, DOCS_KEY)
    assert (len(rnd), msg, corp) == (16, b"1616140317555161061", v.CORP_ID)
    rnd, msg, corp = core_impl.decrypt_msg(v.POST_ENCRYPT.encode(), DOCS_KEY)
    assert (rnd, msg, corp) == (b"0960688932c47ef1", DOCS_INNER_XML, v.CORP_ID)


# --------------------------------------------------------------------------- decode_aes_key


def test_decode_aes_key_docs(core_impl):
    key = core_impl.decode_aes_key(v.ENCODING_AES_KEY)
    assert key == DOCS_KEY and type(key) is bytes and len(key) == 32


def test_decode_aes_key_ignores_trailing_bits(core_impl):
    # 43 characters carry 258 bits; the last two are not part of the key.
    base = v.ENCODING_AES_KEY[:-1]
    keys = {core_impl.decode_aes_key(base + c) for c in "ABCD"}
    assert keys == {DOCS_KEY}
    assert core_impl.decode_aes_key(base + "E") != DOCS_KEY


def test_decode_aes_key_full_alphabet(core_impl):
    for encoding_aes_key in ("A" * 43, "/" * 43, "+" * 43, "abcXYZ0189+/" * 3 + "abcdefg"):
        expected = base64.b64decode(encoding_aes_key + "=")
        assert core_impl.decode_aes_key(encoding_aes_key) == expected


@pytest.mark.parametrize(
    "encoding_aes_key",
    [
        "",
        v.ENCODING_AES_KEY[:-1],
        v.ENCODING_AES_KEY + "A",
        v.ENCODING_AES_KEY[:-1] + "=",
        v.ENCODING_AES_KEY[:-1] + "-",
        v.ENCODING_AES_KEY[:-1] + "_",
        v.ENCODING_AES_KEY[:-1] + " ",
        v.ENCODING_AES_KEY[:-1] + "\n",
        v.ENCODING_AES_KEY[:-1] + "é",
        v.ENCODING_AES_KEY[:-1] + "\x00",
        v.ENCODING_AES_KEY[:-1] + "\udc80",
        " " + v.ENCODING_AES_KEY[:-1],
    ],
    ids=repr,
)
def test_decode_aes_key_rejects(core_impl, encoding_aes_key):
    with raises_callback_error(InvalidAESKeyError, _spec.MSG_AES_KEY_TEXT):
        core_impl.decode_aes_key(encoding_aes_key)


@pytest.mark.parametrize("encoding_aes_key", [v.ENCODING_AES_KEY.encode(), None, 43])
def test_decode_aes_key_type(core_impl, encoding_aes_key):
    with pytest.raises(TypeError):
        core_impl.decode_aes_key(encoding_aes_key)


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "parts",
    [
        ("token", "1409659813", "nonce", "encrypt"),
        ("", "", "", ""),
        ("令牌", "1409659813", "随机数", "密文"),
        ("😀", "0", "a" * 3000, "b" * 5000),  # over 2048 bytes: the GIL-free digest path
        ("same", "same", "same", "same"),
        ("a", "ab", "abc", "b"),
    ],
    ids=["ascii", "empty", "cjk", "long", "equal", "prefixes"],
)
def test_msg_signature_reference(core_impl, parts):
    expected = sha1_hex(*parts)
    assert core_impl.msg_signature(*parts) == expected
    assert core_impl.msg_signature(*(p.encode() for p in parts)) == expected
    assert re.fullmatch(r"[0-9a-f]{40}", expected)
    assert core_impl.signature(*parts[:3]) == sha1_hex(*parts[:3])


def test_signature_int_timestamp(core_impl):
    assert core_impl.signature("tok", 1409659813, "n") == sha1_hex("tok", "1409659813", "n")
    assert core_impl.msg_signature("tok", 0, "n", "e") == sha1_hex("tok", "0", "n", "e")
    assert core_impl.msg_signature("tok", -5, "n", "e") == sha1_hex("tok", "-5", "n", "e")


@pytest.mark.parametrize("position", range(4))
def test_msg_signature_unencodable_str(core_impl, position):
    parts = ["t", "1", "n", "e"]
    parts[position] = "bad\udc80"
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_ENCODING):
        core_impl.msg_signature(*parts)
    if position < 3:
        with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_ENCODING):
            core_impl.signature(*parts[:3])


@pytest.mark.parametrize("bad", [None, 1.5, bytearray(b"x"), ["x"]], ids=repr)
@pytest.mark.parametrize("position", range(4))
def test_msg_signature_types(core_impl, bad, position):
    parts: list[object] = ["t", "1", "n", "e"]
    parts[position] = bad
    with pytest.raises(TypeError):
        core_impl.msg_signature(*parts)


# --------------------------------------------------------------------------- PKCS#7


@pytest.mark.parametrize("block_size", [1, 2, 16, 32, 33, 255])
def test_pkcs7_pad_every_length(core_impl, block_size):
    for n in range(2 * block_size + 2):
        data = bytes(range(256))[:n] if n <= 256 else b"x" * n
        padded = core_impl.pkcs7_pad(data, block_size)
        pad = block_size - n % block_size
        assert padded == data + bytes([pad]) * pad
        assert core_impl.pkcs7_unpad(padded, block_size) == data


def test_pkcs7_default_block_is_32(core_impl):
    assert core_impl.pkcs7_pad(b"") == b"\x20" * 32
    assert core_impl.pkcs7_pad(b"a" * 31) == b"a" * 31 + b"\x01"
    assert core_impl.pkcs7_pad(b"a" * 32) == b"a" * 32 + b"\x20" * 32
    assert core_impl.pkcs7_pad(b"a" * 17) == b"a" * 17 + b"\x0f" * 15


@pytest.mark.parametrize("pad", range(1, 33))
def test_pkcs7_unpad_each_pad_value(core_impl, pad):
    body = b"m" * (64 - pad)
    assert core_impl.pkcs7_unpad(body + bytes([pad]) * pad) == body
    assert core_impl.pkcs7_unpad(bytes([pad]) * pad) == b""


@pytest.mark.parametrize(
    ("data", "block_size"),
    [
        (b"", 32),
        (b"a" * 31 + b"\x00", 32),
        (b"a" * 31 + b"\x21", 32),
        (b"\x21" * 64, 32),
        (b"a" * 31 + b"\xff", 32),
        (b"\x04\x04\x04", 32),  # longer than the data
        (b"a" * 29 + b"\x01\x03\x03", 32),  # pad bytes differ
        (b"a" * 28 + b"\x04\x03\x04\x04", 32),
        (b"a" * 15 + b"\x11", 16),
        (b"a\x02", 1),
    ],
    ids=[
        "empty",
        "pad0",
        "pad33",
        "all33",
        "pad255",
        "overlong",
        "mixed",
        "mixed-inner",
        "over-block16",
        "over-block1",
    ],
)
def test_pkcs7_unpad_rejects(core_impl, data, block_size):
    with raises_callback_error(DecryptError, _spec.MSG_PAD):
        core_impl.pkcs7_unpad(data, block_size)


@pytest.mark.parametrize("block_size", [0, -1, 256, 1000, 32.0, "32", None], ids=repr)
def test_pkcs7_block_size_range(core_impl, block_size):
    with pytest.raises(ValueError, match="block_size must be an int from 1 to 255"):
        core_impl.pkcs7_pad(b"data", block_size)
    with pytest.raises(ValueError, match="block_size must be an int from 1 to 255"):
        core_impl.pkcs7_unpad(b"data" + b"\x1c" * 28, block_size)


@pytest.mark.parametrize("data", ["text", bytearray(b"x"), memoryview(b"x"), None], ids=repr)
def test_pkcs7_types(core_impl, data):
    with pytest.raises(TypeError):
        core_impl.pkcs7_pad(data)
    with pytest.raises(TypeError):
        core_impl.pkcs7_unpad(data)


# --------------------------------------------------------------------------- frames

RANDOM16 = bytes(range(16))


@pytest.mark.parametrize(
    ("msg", "corp_id"),
    [
        (b"", "c"),
        (b"hello", "wx5823bf96d3bd56c7"),
        ("你好".encode(), "企业"),
        (b"\x00" * 300, b"corp"),
    ],
    ids=["empty-msg", "ascii", "cjk", "bytes-corp"],
)
def test_pack_unpack_frame(core_impl, msg, corp_id):
    frame = core_impl.pack_frame(RANDOM16, msg, corp_id)
    corp_b = corp_id.encode() if isinstance(corp_id, str) else corp_id
    assert frame == RANDOM16 + len(msg).to_bytes(4, "big") + msg + corp_b
    assert core_impl.unpack_frame(frame) == (RANDOM16, msg, corp_b.decode())
    parts = core_impl.unpack_frame(frame)
    assert type(parts) is tuple and [type(p) for p in parts] == [bytes, bytes, str]


@pytest.mark.parametrize("random", [b"", b"x" * 15, b"x" * 17, b"x" * 32])
def test_pack_frame_random_length(core_impl, random):
    with pytest.raises(ValueError, match="random must be 16 bytes"):
        core_impl.pack_frame(random, b"msg", "corp")


@pytest.mark.parametrize(
    ("random", "msg", "corp_id"),
    [("x" * 16, b"m", "c"), (RANDOM16, "m", "c"), (RANDOM16, b"m", None), (RANDOM16, b"m", 1)],
    ids=["str-random", "str-msg", "none-corp", "int-corp"],
)
def test_pack_frame_types(core_impl, random, msg, corp_id):
    with pytest.raises(TypeError):
        core_impl.pack_frame(random, msg, corp_id)


def frame(msg: bytes, corp: bytes, length: int | None = None) -> bytes:
    n = len(msg) if length is None else length
    return RANDOM16 + n.to_bytes(4, "big") + msg + corp


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        (b"", _spec.MSG_FRAME_SHORT),
        (b"x" * 19, _spec.MSG_FRAME_SHORT),
        (frame(b"", b""), _spec.MSG_CORP_EMPTY),
        (frame(b"abc", b""), _spec.MSG_CORP_EMPTY),
        (frame(b"abc", b"c", length=5), _spec.MSG_FRAME_LENGTH),
        (frame(b"abc", b"", length=4), _spec.MSG_FRAME_LENGTH),
        (frame(b"abc", b"corp", length=0xFFFFFFFF), _spec.MSG_FRAME_LENGTH),
        (frame(b"abc", b"corp", length=0x80000000), _spec.MSG_FRAME_LENGTH),
        (frame(b"abc", b"\xff"), _spec.MSG_CORP_UTF8),
        (frame(b"abc", b"corp\xe4\xbd"), _spec.MSG_CORP_UTF8),
        (frame(b"abc", b"\xed\xa0\x80"), _spec.MSG_CORP_UTF8),  # encoded surrogate
    ],
    ids=[
        "empty",
        "19-bytes",
        "20-bytes",
        "no-corp",
        "overrun",
        "overrun-by-1",
        "len-ffffffff",
        "len-2^31",
        "corp-ff",
        "corp-truncated-utf8",
        "corp-surrogate",
    ],
)
def test_unpack_frame_rejects(core_impl, plain, message):
    with raises_callback_error(DecryptError, message):
        core_impl.unpack_frame(plain)


def test_unpack_frame_edges(core_impl):
    assert core_impl.unpack_frame(frame(b"", b"c")) == (RANDOM16, b"", "c")
    assert core_impl.unpack_frame(frame(b"ab", b"c\x00")) == (RANDOM16, b"ab", "c\x00")
    assert core_impl.unpack_frame(frame(b"x" * 1000, b"wx")) == (RANDOM16, b"x" * 1000, "wx")


@pytest.mark.parametrize("plain", ["x" * 30, bytearray(30), None], ids=repr)
def test_unpack_frame_types(core_impl, plain):
    with pytest.raises(TypeError):
        core_impl.unpack_frame(plain)


# --------------------------------------------------------------------------- AES


def reference_encrypt(msg: bytes, corp: bytes, key: bytes, random: bytes) -> str:
    plain = random + len(msg).to_bytes(4, "big") + msg + corp
    pad = 32 - len(plain) % 32
    return aes_cbc_encrypt(plain + bytes([pad]) * pad, key)


def test_encrypt_wechatpy_known_answer(core_impl):
    key = core_impl.decode_aes_key(WP_ENCODING_AES_KEY)
    assert core_impl.encrypt_msg(WP_REPLY, WP_CORP_ID, key, random=WP_RANDOM) == WP_ENCRYPT
    assert core_impl.encrypt_msg(WP_REPLY.encode(), WP_CORP_ID, key, WP_RANDOM) == WP_ENCRYPT
    assert core_impl.decrypt_msg(WP_ENCRYPT, key) == (WP_RANDOM, WP_REPLY.encode(), WP_CORP_ID)
    assert core_impl.msg_signature(WP_TOKEN, WP_TIMESTAMP, WP_NONCE, WP_ENCRYPT) == WP_SIGNATURE


def test_wechatpy_url_vector(core_impl):
    crypto = core_impl.MsgCrypto(WP_TOKEN, WP_ENCODING_AES_KEY, WP_CORP_ID)
    assert crypto.verify_url(*WP_ECHO) == b"5927782489442352469"


@pytest.mark.parametrize(
    "msg",
    [
        b"",
        b"hello",
        b"x" * 11,
        b"x" * 12,
        b"y" * 2048,
        "企业微信 😀 <>&'\"]]>".encode(),
        bytes(range(256)) * 40,
    ],
    ids=["empty", "hello", "one-block", "two-blocks", "2k", "unicode", "binary-10k"],
)
def test_encrypt_matches_reference(core_impl, msg):
    random = bytes(range(100, 116))
    expected = reference_encrypt(msg, v.CORP_ID.encode(), DOCS_KEY, random)
    got = core_impl.encrypt_msg(msg, v.CORP_ID, DOCS_KEY, random=random)
    assert got == expected and type(got) is str
    assert len(base64.b64decode(got)) % 32 == 0
    assert core_impl.decrypt_msg(got, DOCS_KEY) == (random, msg, v.CORP_ID)


def test_encrypt_fresh_random(core_impl):
    outs = {core_impl.encrypt_msg(b"same", v.CORP_ID, DOCS_KEY) for _ in range(20)}
    assert len(outs) == 20
    randoms = {core_impl.decrypt_msg(out, DOCS_KEY)[0] for out in outs}
    assert len(randoms) == 20 and all(len(r) == 16 for r in randoms)


def test_encrypt_str_msg_is_utf8(core_impl):
    out = core_impl.encrypt_msg("你好", "corp", DOCS_KEY, RANDOM16)
    assert out == core_impl.encrypt_msg("你好".encode(), "corp", DOCS_KEY, RANDOM16)


@pytest.mark.parametrize("aes_key", [b"", b"k" * 16, b"k" * 31, b"k" * 33, b"k" * 64])
def test_raw_key_length(core_impl, aes_key):
    with raises_callback_error(InvalidAESKeyError, _spec.MSG_AES_KEY_RAW):
        core_impl.encrypt_msg(b"m", "c", aes_key)
    with raises_callback_error(InvalidAESKeyError, _spec.MSG_AES_KEY_RAW):
        core_impl.decrypt_msg(v.ECHOSTR, aes_key)


@pytest.mark.parametrize("aes_key", ["k" * 32, v.ENCODING_AES_KEY, None, bytearray(32)], ids=repr)
def test_raw_key_type(core_impl, aes_key):
    with pytest.raises(TypeError):
        core_impl.encrypt_msg(b"m", "c", aes_key)
    with pytest.raises(TypeError):
        core_impl.decrypt_msg(v.ECHOSTR, aes_key)


@pytest.mark.parametrize("random", [b"", b"r" * 15, b"r" * 17])
def test_encrypt_random_length(core_impl, random):
    with pytest.raises(ValueError, match="random must be 16 bytes"):
        core_impl.encrypt_msg(b"m", "c", DOCS_KEY, random)


@pytest.mark.parametrize(
    ("msg", "random"),
    [(b"m", "r" * 16), (None, RANDOM16), (123, None), (bytearray(b"m"), RANDOM16)],
    ids=["str-random", "none-msg", "int-msg", "bytearray-msg"],
)
def test_encrypt_types(core_impl, msg, random):
    with pytest.raises(TypeError):
        core_impl.encrypt_msg(msg, "c", DOCS_KEY, random)


@pytest.mark.parametrize("encrypt", [None, 1, bytearray(b"AAAA")], ids=repr)
def test_decrypt_types(core_impl, encrypt):
    with pytest.raises(TypeError):
        core_impl.decrypt_msg(encrypt, DOCS_KEY)


@pytest.mark.parametrize(
    ("encrypt", "cls", "message"),
    [
        ("", DecryptError, _spec.MSG_CT_LENGTH),
        ("AAAA", DecryptError, _spec.MSG_CT_LENGTH),
        (base64.b64encode(b"\0" * 48).decode(), DecryptError, _spec.MSG_CT_LENGTH),
        (base64.b64encode(b"\0" * 31).decode(), DecryptError, _spec.MSG_CT_LENGTH),
        (v.ECHOSTR[:-4], DecryptError, _spec.MSG_CT_LENGTH),
        (v.ECHOSTR[:-1], Base64Error, _spec.MSG_B64_PAD),
        (v.ECHOSTR[:-2], Base64Error, _spec.MSG_B64_PAD),
        (v.ECHOSTR + "=", Base64Error, _spec.MSG_B64_PAD),
        (v.ECHOSTR.rstrip("="), Base64Error, _spec.MSG_B64_PAD),
        ("A=AA", Base64Error, _spec.MSG_B64_PAD),
        ("AA=A", Base64Error, _spec.MSG_B64_PAD),
        ("====", Base64Error, _spec.MSG_B64_PAD),
        ("A===", Base64Error, _spec.MSG_B64_PAD),
        (v.ECHOSTR[:10] + " " + v.ECHOSTR[10:], Base64Error, _spec.MSG_B64_CHAR),
        (v.ECHOSTR + "\n", Base64Error, _spec.MSG_B64_CHAR),
        (v.ECHOSTR.replace("+", "-"), Base64Error, _spec.MSG_B64_CHAR),
        (v.ECHOSTR.replace("/", "_"), Base64Error, _spec.MSG_B64_CHAR),
        ("AAA\x00", Base64Error, _spec.MSG_B64_CHAR),
        ("AAAé", Base64Error, _spec.MSG_B64_CHAR),
        ("AA=\n", Base64Error, _spec.MSG_B64_CHAR),
        (b"AAA\xff", Base64Error, _spec.MSG_B64_CHAR),
    ],
    ids=[
        "empty",
        "3-bytes",
        "48-bytes",
        "31-bytes",
        "truncated-quad",
        "truncated-1",
        "truncated-2",
        "extra-pad",
        "unpadded",
        "pad-inside",
        "pad-then-digit",
        "all-pad",
        "3-pads",
        "space",
        "newline",
        "urlsafe-minus",
        "urlsafe-underscore",
        "nul",
        "non-ascii",
        "char-beats-pad",
        "bytes-0xff",
    ],
)
def test_decrypt_rejects_encoding(core_impl, encrypt, cls, message):
    with raises_callback_error(cls, message):
        core_impl.decrypt_msg(encrypt, DOCS_KEY)


def test_decrypt_rejects_bad_padding_and_frames(core_impl):
    crafted = {
        _spec.MSG_PAD: [b"a" * 31 + b"\x00", b"a" * 31 + b"\x21", b"a" * 62 + b"\x01\x02"],
        _spec.MSG_FRAME_SHORT: [b"a" * 19 + b"\x0d" * 13, b"\x20" * 32],
        _spec.MSG_FRAME_LENGTH: [RANDOM16 + b"\xff\xff\xff\xff" + b"c" * 11 + b"\x01"],
        _spec.MSG_CORP_EMPTY: [RANDOM16 + b"\x00\x00\x00\x0bhello world" + b"\x01"],
        _spec.MSG_CORP_UTF8: [RANDOM16 + b"\x00\x00\x00\x00" + b"\xff" * 11 + b"\x01"],
    }
    for message, plains in crafted.items():
        for plain in plains:
            assert len(plain) % 32 == 0
            with raises_callback_error(DecryptError, message):
                core_impl.decrypt_msg(aes_cbc_encrypt(plain, DOCS_KEY), DOCS_KEY)


def test_decrypt_wrong_key_is_a_decrypt_error(core_impl):
    other = core_impl.decode_aes_key(WP_ENCODING_AES_KEY)
    with pytest.raises(DecryptError) as info:
        core_impl.decrypt_msg(v.POST_ENCRYPT, other)
    assert info.value.code == -40007
    assert str(info.value) in {
        _spec.MSG_PAD,
        _spec.MSG_FRAME_SHORT,
        _spec.MSG_FRAME_LENGTH,
        _spec.MSG_CORP_EMPTY,
        _spec.MSG_CORP_UTF8,
    }


# --------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (v.POST_BODY, Envelope(v.CORP_ID, 218, v.POST_ENCRYPT)),
        (v.POST_BODY.decode(), Envelope(v.CORP_ID, 218, v.POST_ENCRYPT)),
        (b"<xml><Encrypt>abc</Encrypt></xml>", Envelope("", 0, "abc")),
        (
            b"<xml><ToUserName>t</ToUserName><Encrypt><![CDATA[e]]></Encrypt></xml>",
            Envelope("t", 0, "e"),
        ),
        (b"<xml><AgentID> 7\n</AgentID><Encrypt/></xml>", Envelope("", 7, "")),
        (b"<xml><AgentID></AgentID><Encrypt></Encrypt></xml>", Envelope("", 0, "")),
        (
            b"<xml><AgentID><![CDATA[ 1000002 ]]></AgentID><Encrypt>x</Encrypt></xml>",
            Envelope("", 1000002, "x"),
        ),
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n <Encrypt>a&amp;b</Encrypt>\n</xml>\n',
            Envelope("", 0, "a&b"),
        ),
        (b"<xml><Encrypt>one</Encrypt><Encrypt>two</Encrypt></xml>", Envelope("", 0, "one")),
        (b"<root><Encrypt>e</Encrypt><Extra><A>1</A></Extra></root>", Envelope("", 0, "e")),
        (b"\xef\xbb\xbf<xml><Encrypt>bom</Encrypt></xml>", Envelope("", 0, "bom")),
    ],
    ids=[
        "docs",
        "docs-str",
        "no-agent",
        "cdata",
        "agent-ws",
        "empty-agent",
        "cdata-agent",
        "declaration",
        "repeated",
        "other-root",
        "bom",
    ],
)
def test_parse_envelope(core_impl, body, expected):
    env = core_impl.parse_envelope(body)
    assert env == expected
    assert type(env) is Envelope
    assert [type(x) for x in env] == [str, int, str]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", _spec.MSG_XML_MALFORMED),
        (b"not xml", _spec.MSG_XML_MALFORMED),
        (b"<xml><Encrypt>abc</Encrypt>", _spec.MSG_XML_MALFORMED),
        (b"<xml><ToUserName>x</ToUserName></xml>", _spec.MSG_XML_NO_ENCRYPT),
        (b"<xml/>", _spec.MSG_XML_NO_ENCRYPT),
        (b"<xml><Wrap><Encrypt>nested</Encrypt></Wrap></xml>", _spec.MSG_XML_NO_ENCRYPT),
        (
            b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
            _spec.MSG_XML_DOCTYPE,
        ),
        (b"<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>", _spec.MSG_XML_DOCTYPE),
        (
            b"<xml><AgentID>abc</AgentID><Encrypt>x</Encrypt></xml>",
            _spec.MSG_XML_NUMBER.format("AgentID"),
        ),
        (
            b"<xml><AgentID>1.5</AgentID><Encrypt>x</Encrypt></xml>",
            _spec.MSG_XML_NUMBER.format("AgentID"),
        ),
    ],
    ids=[
        "empty",
        "text",
        "unclosed",
        "no-encrypt",
        "empty-root",
        "nested-encrypt",
        "entity-decl",
        "doctype",
        "agent-text",
        "agent-float",
    ],
)
def test_parse_envelope_rejects(core_impl, body, message):
    with raises_callback_error(XMLParseError, message):
        core_impl.parse_envelope(body)


@pytest.mark.parametrize("body", [None, 1, bytearray(b"<xml/>")], ids=repr)
def test_parse_types(core_impl, body):
    with pytest.raises(TypeError):
        core_impl.parse_envelope(body)
    with pytest.raises(TypeError):
        core_impl.parse_message(body)


# --------------------------------------------------------------------------- messages

EMPTY = {
    name: {0: "", 1: 0, 2: 0.0, 3: ScanCodeInfo(), 4: SendPicsInfo(0, []), 5: SendLocationInfo()}[
        kind
    ]
    for name, _, kind in FIELDS
}


HEAD = dict(to_user_name="toUser", from_user_name="FromUser", msg_type="event", agent_id=1)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            TEXT_MSG,
            dict(
                to_user_name="toUser",
                from_user_name="fromUser",
                create_time=1348831860,
                msg_type="text",
                content="this is a test",
                msg_id=1234567890123456,
                agent_id=1,
            ),
        ),
        (
            SCANCODE_EVENT,
            dict(
                HEAD,
                event="scancode_push",
                event_key="6",
                create_time=1408090502,
                scan_code_info=ScanCodeInfo("qrcode", "1"),
            ),
        ),
        (
            PICS_EVENT,
            dict(
                HEAD,
                event="pic_photo_or_album",
                event_key="6",
                create_time=1408090651,
                send_pics_info=SendPicsInfo(
                    2, ["1b5f7c23b5bf75682a53e7b6d163e185", "2c6e8d34c6cf86793b64f8c7e274f296"]
                ),
            ),
        ),
        (
            ONE_PIC_EVENT,
            dict(
                HEAD,
                event="pic_photo_or_album",
                event_key="6",
                create_time=1408090651,
                send_pics_info=SendPicsInfo(1, ["1b5f7c23b5bf75682a53e7b6d163e185"]),
            ),
        ),
        (
            LOCATION_SELECT_EVENT,
            dict(
                HEAD,
                event="location_select",
                event_key="6",
                create_time=1408091189,
                send_location_info=SendLocationInfo(
                    23.0, 113.5, 15, " 广州市海珠区客村艺苑路 106号", ""
                ),
            ),
        ),
        (
            CHANGE_CONTACT_EVENT,
            dict(
                to_user_name="toUser",
                from_user_name="sys",
                msg_type="event",
                event="change_contact",
                change_type="update_user",
                user_id="zhangsan",
                create_time=1403610513,
            ),
        ),
        (
            LOCATION_EVENT,
            dict(
                HEAD,
                event="LOCATION",
                latitude=23.104105,
                longitude=113.320107,
                precision=65.0,
                create_time=123456789,
            ),
        ),
        (
            TEMPLATE_CARD_EVENT,
            dict(
                HEAD,
                event="template_card_event",
                event_key="key111",
                task_id="taskid111",
                response_code="ResponseCode",
                create_time=123456789,
            ),
        ),
        (
            LOCATION_MSG,
            dict(
                to_user_name="toUser",
                from_user_name="fromUser",
                create_time=1351776360,
                msg_type="location",
                location_x=23.134521,
                location_y=-113.358803,
                scale=20,
                label="位置信息",
                msg_id=1234567890123456,
                agent_id=1,
            ),
        ),
        (
            LINK_MSG,
            dict(
                to_user_name="toUser",
                from_user_name="fromUser",
                create_time=1348831860,
                msg_type="link",
                title="this is a title!",
                description="this is a description!",
                url="URL",
                pic_url="this is a url",
                msg_id=1234567890123456,
                agent_id=1,
            ),
        ),
        (MEDIA_MSGS[0], dict(msg_type="image", pic_url="http://p/1.jpg", media_id="m1")),
        (MEDIA_MSGS[1], dict(msg_type="voice", media_id="m2", format="amr")),
        (MEDIA_MSGS[2], dict(msg_type="video", media_id="m3", thumb_media_id="t3")),
        (
            MEDIA_MSGS[3],
            dict(
                msg_type="event",
                event="change_external_contact",
                change_type="add_external_contact",
                user_id="u",
                external_user_id="woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA",
            ),
        ),
    ],
    ids=[
        "text",
        "scancode",
        "pics",
        "one-pic",
        "location-select",
        "change-contact",
        "LOCATION",
        "template-card",
        "location-msg",
        "link",
        "image",
        "voice",
        "video",
        "external-contact",
    ],
)
def test_parse_message_fields(core_impl, xml, expected):
    for doc in (xml, xml.encode()):
        msg = core_impl.parse_message(doc)
        assert type(msg) is MixedMessage
        for name, _, _ in FIELDS:
            want = expected.get(name, EMPTY[name])
            got = getattr(msg, name)
            assert got == want, name
            assert type(got) is type(want), name


def test_raw_nested_and_repeated(core_impl):
    raw = core_impl.parse_message(CHANGE_CONTACT_EVENT).raw
    assert (
        raw["Name"] == "张三" and raw["MainDepartment"] == "1" and raw["NewUserID"] == "zhangsan001"
    )
    assert raw["ExtAttr"] == {
        "Item": [
            {"Name": "爱好", "Type": "0", "Text": {"Value": "旅游"}},
            {
                "Name": "卡号",
                "Type": "1",
                "Web": {"Title": "企业微信", "Url": "https://work.weixin.qq.com"},
            },
        ]
    }
    raw = core_impl.parse_message(TEMPLATE_CARD_EVENT).raw
    assert raw["SelectedItems"] == {
        "SelectedItem": [
            {"QuestionKey": "Q1", "OptionIds": {"OptionId": ["O1", "O2"]}},
            {"QuestionKey": "Q2", "OptionIds": {"OptionId": "O3"}},
        ]
    }
    raw = core_impl.parse_message(PICS_EVENT).raw
    assert raw["SendPicsInfo"]["PicList"]["item"] == [
        {"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"},
        {"PicMd5Sum": "2c6e8d34c6cf86793b64f8c7e274f296"},
    ]


def test_raw_whole_document(core_impl):
    raw = core_impl.parse_message(DOCS_INNER_XML).raw
    assert raw == {
        "ToUserName": "wx5823bf96d3bd56c7",
        "FromUserName": "mycreate",
        "CreateTime": "1409659813",
        "MsgType": "text",
        "Content": "hello",
        "MsgId": "4561255354251345929",
        "AgentID": "218",
    }
    assert list(raw) == [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
        "MsgId",
        "AgentID",
    ]
    assert core_impl.parse_message(b"<xml/>").raw == {}
    assert core_impl.parse_message(b"<xml><A/><B></B><C><D/></C></xml>").raw == {
        "A": "",
        "B": "",
        "C": {"D": ""},
    }


def test_repeated_top_level_fields(core_impl):
    msg = core_impl.parse_message(
        b"<xml><Content>first</Content><MsgType>text</MsgType><Content>second</Content>"
        b"<Content>third</Content><CreateTime>5</CreateTime><CreateTime>x</CreateTime></xml>"
    )
    assert msg.raw["Content"] == ["first", "second", "third"]
    assert msg.raw["CreateTime"] == ["5", "x"]
    assert (msg.content, msg.create_time) == ("first", 5)


def test_elements_with_children_count_as_absent(core_impl):
    msg = core_impl.parse_message(
        b"<xml><Content><B>bold</B></Content><CreateTime><X>1</X></CreateTime>"
        b"<ScanCodeInfo>flat</ScanCodeInfo><SendPicsInfo>flat</SendPicsInfo></xml>"
    )
    assert (msg.content, msg.create_time) == ("", 0)
    assert msg.scan_code_info == ScanCodeInfo() and msg.send_pics_info == SendPicsInfo(0, [])
    assert msg.raw["Content"] == {"B": "bold"}


def test_nested_fields_do_not_leak_to_top_level(core_impl):
    msg = core_impl.parse_message(CHANGE_CONTACT_EVENT)
    assert msg.title == "" and msg.url == ""  # only inside ExtAttr/Item/Web
    msg = core_impl.parse_message(LOCATION_SELECT_EVENT)
    assert (msg.location_x, msg.scale, msg.label) == (0.0, 0, "")


@pytest.mark.parametrize(
    ("content_xml", "expected"),
    [
        ("&lt;&gt;&amp;&quot;&apos;", "<>&\"'"),
        ("&#20320;&#x597D;&#x597d;&#65;", "你好好A"),
        ("&#x1F600;", "😀"),
        ("<![CDATA[&lt;b&gt; <xml> & ]]>", "&lt;b&gt; <xml> & "),
        ("a<![CDATA[b]]>c<![CDATA[]]>d", "abcd"),
        ("<![CDATA[]]]]><![CDATA[>]]>", "]]>"),
        ("  spaced \t ", "  spaced \t "),
        ("line1\r\nline2\rline3", "line1\nline2\nline3"),
        ("<![CDATA[x\r\ny]]>", "x\ny"),
        ("&#13;", "\r"),
        ("tab&#9;nl&#10;", "tab\tnl\n"),
        ("<!-- comment -->visible<?pi data?>", "visible"),
        ("企业微信😀", "企业微信😀"),
        ("]>", "]>"),
    ],
    ids=[
        "entities",
        "char-refs",
        "astral-ref",
        "cdata-verbatim",
        "mixed-cdata",
        "split-cdata-end",
        "whitespace-kept",
        "crlf-normalised",
        "cdata-crlf",
        "cr-ref",
        "tab-nl-refs",
        "comment-pi",
        "unicode",
        "bracket-gt",
    ],
)
def test_text_decoding(core_impl, content_xml, expected):
    msg = core_impl.parse_message(f"<xml><Content>{content_xml}</Content></xml>".encode())
    assert msg.content == expected
    assert msg.raw == {"Content": expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        (" 42 ", 42),
        ("\n\t 7\r\n", 7),
        ("+5", 5),
        ("-5", -5),
        ("007", 7),
        ("", 0),
        (" ", 0),
        ("<![CDATA[ 9 ]]>", 9),
        ("99999999999999999999", 99999999999999999999),
        ("9223372036854775807", 9223372036854775807),
        ("-9223372036854775808", -9223372036854775808),
    ],
    ids=repr,
)
def test_int_fields(core_impl, text, expected):
    msg = core_impl.parse_message(
        f"<xml><CreateTime>{text}</CreateTime><MsgId>{text}</MsgId></xml>".encode()
    )
    assert msg.create_time == expected and type(msg.create_time) is int
    assert msg.msg_id == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("23.5", 23.5),
        (" -113.25\n", -113.25),
        ("1", 1.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("+.5", 0.5),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("65.000000", 65.0),
        ("", 0.0),
        ("1e999", float("inf")),
    ],
    ids=repr,
)
def test_float_fields(core_impl, text, expected):
    msg = core_impl.parse_message(
        f"<xml><Latitude>{text}</Latitude><Location_X>{text}</Location_X></xml>".encode()
    )
    assert msg.latitude == expected and type(msg.latitude) is float
    assert msg.location_x == expected


@pytest.mark.parametrize(
    ("xml", "tag"),
    [
        ("<xml><CreateTime>abc</CreateTime></xml>", "CreateTime"),
        ("<xml><CreateTime>1.5</CreateTime></xml>", "CreateTime"),
        ("<xml><CreateTime>1 2</CreateTime></xml>", "CreateTime"),
        ("<xml><CreateTime>+</CreateTime></xml>", "CreateTime"),
        ("<xml><CreateTime>０</CreateTime></xml>", "CreateTime"),  # fullwidth digit
        ("<xml><CreateTime>\u00a01</CreateTime></xml>", "CreateTime"),  # NBSP is not XML space
        ("<xml><CreateTime>1_000</CreateTime></xml>", "CreateTime"),
        ("<xml><CreateTime>0x10</CreateTime></xml>", "CreateTime"),
        ("<xml><AgentID>x</AgentID></xml>", "AgentID"),
        ("<xml><MsgId>1e3</MsgId></xml>", "MsgId"),
        ("<xml><Scale>-</Scale></xml>", "Scale"),
        ("<xml><Latitude>abc</Latitude></xml>", "Latitude"),
        ("<xml><Longitude>nan</Longitude></xml>", "Longitude"),
        ("<xml><Precision>inf</Precision></xml>", "Precision"),
        ("<xml><Location_X>1e</Location_X></xml>", "Location_X"),
        ("<xml><Location_Y>.</Location_Y></xml>", "Location_Y"),
        ("<xml><Latitude>1,5</Latitude></xml>", "Latitude"),
        ("<xml><SendPicsInfo><Count>two</Count></SendPicsInfo></xml>", "Count"),
        ("<xml><SendLocationInfo><Scale>big</Scale></SendLocationInfo></xml>", "Scale"),
        (
            "<xml><SendLocationInfo><Location_X>x</Location_X></SendLocationInfo></xml>",
            "Location_X",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) and not x.startswith("<") else None,
)
def test_numeric_fields_reject(core_impl, xml, tag):
    with raises_callback_error(XMLParseError, _spec.MSG_XML_NUMBER.format(tag)):
        core_impl.parse_message(xml.encode())


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"", _spec.MSG_XML_MALFORMED),
        (b"   ", _spec.MSG_XML_MALFORMED),
        (b"hello", _spec.MSG_XML_MALFORMED),
        (b"<xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml></XML>", _spec.MSG_XML_MALFORMED),
        (b"<xml><a></b></xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml/><xml/>", _spec.MSG_XML_MALFORMED),
        (b"<xml/>trailing", _spec.MSG_XML_MALFORMED),
        (b"text<xml/>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&unknown;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>a & b</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>a < b</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#0;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#xD800;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#x110000;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#X41;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#x;</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&#65</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>&lt</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>\x00</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>\x01</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>\xff</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml>\xe4\xbd</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml><![CDATA[open</xml>", _spec.MSG_XML_MALFORMED),
        (b"<xml><!-- open </xml>", _spec.MSG_XML_MALFORMED),
        (b'<xml a="1" a="2"/>', _spec.MSG_XML_MALFORMED),
        (b"<xml a=1/>", _spec.MSG_XML_MALFORMED),
        ("<xml><名>x</名></xml>".encode(), _spec.MSG_XML_MALFORMED),
        (b"<1xml/>", _spec.MSG_XML_MALFORMED),
        (b"<!DOCTYPE xml><xml/>", _spec.MSG_XML_DOCTYPE),
        (
            b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE xml SYSTEM "http://x/y.dtd"><xml/>',
            _spec.MSG_XML_DOCTYPE,
        ),
        (
            b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml>&lol2;</xml>',
            _spec.MSG_XML_DOCTYPE,
        ),
        (
            b'<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]><xml>&ext;</xml>',
            _spec.MSG_XML_DOCTYPE,
        ),
    ],
    ids=[
        "empty",
        "blank",
        "text",
        "unclosed",
        "case-mismatch",
        "crossed",
        "two-roots",
        "trailing-text",
        "leading-text",
        "undefined-entity",
        "bare-amp",
        "bare-lt",
        "ref-0",
        "ref-surrogate",
        "ref-too-big",
        "ref-upper-x",
        "ref-empty",
        "ref-unterminated",
        "entity-unterminated",
        "nul",
        "control-char",
        "bad-utf8",
        "truncated-utf8",
        "open-cdata",
        "open-comment",
        "dup-attr",
        "unquoted-attr",
        "non-ascii-name",
        "digit-name",
        "doctype",
        "doctype-after-prolog",
        "billion-laughs",
        "xxe",
    ],
)
def test_parse_message_rejects(core_impl, xml, message):
    with raises_callback_error(XMLParseError, message):
        core_impl.parse_message(xml)


def test_unencodable_str_document(core_impl):
    with raises_callback_error(XMLParseError, _spec.MSG_XML_MALFORMED):
        core_impl.parse_message("<xml><Content>\udc80</Content></xml>")
    with raises_callback_error(XMLParseError, _spec.MSG_XML_MALFORMED):
        core_impl.parse_envelope("<xml><Encrypt>\ud800</Encrypt></xml>")


def test_nesting_limit(core_impl):
    limit = _spec.MAX_XML_DEPTH
    deepest = "<a>" * limit + "</a>" * limit
    msg = core_impl.parse_message(deepest.encode())
    node = msg.raw
    for _ in range(limit - 2):
        node = node["a"]
    assert node == {"a": ""}
    too_deep = "<a>" * (limit + 1) + "</a>" * (limit + 1)
    with raises_callback_error(XMLParseError, _spec.MSG_XML_DEPTH):
        core_impl.parse_message(too_deep.encode())


def test_prolog_attributes_and_bom(core_impl):
    doc = (
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n<!-- hi -->\n<?pi x?>\n'
        b'<xml lang="zh"><Content attr=\'v\' other="&amp;">x</Content>'
        b"<MsgType >text</MsgType ></xml>\n<!-- end -->\n"
    )
    msg = core_impl.parse_message(doc)
    assert msg.raw == {"Content": "x", "MsgType": "text"}


def test_to_dict(core_impl):
    msg = core_impl.parse_message(PICS_EVENT)
    d = msg.to_dict()
    assert list(d) == [name for name, _, _ in FIELDS]
    assert d["send_pics_info"] == {
        "count": 2,
        "pic_list": ["1b5f7c23b5bf75682a53e7b6d163e185", "2c6e8d34c6cf86793b64f8c7e274f296"],
    }
    assert d["scan_code_info"] == {"scan_type": "", "scan_result": ""}
    assert d["send_location_info"] == {
        "location_x": 0.0,
        "location_y": 0.0,
        "scale": 0,
        "label": "",
        "poiname": "",
    }
    assert d["event"] == "pic_photo_or_album" and d["create_time"] == 1408090651
    assert all(type(x) in (str, int, float, dict) for x in d.values())
    d["send_pics_info"]["pic_list"].append("mutated")
    assert len(msg.send_pics_info.pic_list) == 2
    loc = core_impl.parse_message(LOCATION_SELECT_EVENT).to_dict()["send_location_info"]
    assert loc == {
        "location_x": 23.0,
        "location_y": 113.5,
        "scale": 15,
        "label": " 广州市海珠区客村艺苑路 106号",
        "poiname": "",
    }


def test_empty_message_fields(core_impl):
    msg = core_impl.parse_message(b"<xml></xml>")
    assert msg.to_dict() == {
        name: value._asdict() if isinstance(value, tuple) else value
        for name, value in EMPTY.items()
    }
    other = core_impl.parse_message(b"<xml/>")
    assert other.send_pics_info.pic_list is not msg.send_pics_info.pic_list


# --------------------------------------------------------------------------- MsgCrypto


ENVELOPE = re.compile(
    rb"<xml><Encrypt><!\[CDATA\[(?P<encrypt>[A-Za-z0-9+/=]+)\]\]></Encrypt>"
    rb"<MsgSignature><!\[CDATA\[(?P<sig>[0-9a-f]{40})\]\]></MsgSignature>"
    rb"<TimeStamp>(?P<ts>[0-9]+)</TimeStamp><Nonce><!\[CDATA\[(?P<nonce>[^\]]+)\]\]></Nonce></xml>"
)


@pytest.mark.parametrize(
    "reply",
    [
        b"<xml><Content>hi</Content></xml>",
        "<xml><Content>你好 😀</Content></xml>",
        b"",
        b"x" * 20000,
    ],
    ids=["bytes", "str", "empty", "20k"],
)
def test_encrypt_envelope_round_trip(core_impl, docs_crypto, reply):
    envelope = docs_crypto.encrypt(reply, "nonce-1", 1409659813)
    assert type(envelope) is bytes
    m = ENVELOPE.fullmatch(envelope)
    assert m is not None
    assert (m["ts"], m["nonce"]) == (b"1409659813", b"nonce-1")
    assert m["sig"].decode() == sha1_hex(v.TOKEN, "1409659813", "nonce-1", m["encrypt"].decode())
    reply_b = reply.encode() if isinstance(reply, str) else reply
    _, msg, corp = core_impl.decrypt_msg(m["encrypt"], DOCS_KEY)
    assert (msg, corp) == (reply_b, v.CORP_ID)
    # The envelope is itself a POST body that MsgCrypto opens again.
    body = envelope.replace(b"<xml>", b"<xml><ToUserName>" + v.CORP_ID.encode() + b"</ToUserName>")
    assert docs_crypto.decrypt(body, m["sig"].decode(), "1409659813", "nonce-1") == reply_b
    assert core_impl.parse_envelope(envelope).encrypt == m["encrypt"].decode()


def test_encrypt_timestamps(docs_crypto):
    assert ENVELOPE.fullmatch(docs_crypto.encrypt(b"r", "n", "0042"))["ts"] == b"0042"
    assert ENVELOPE.fullmatch(docs_crypto.encrypt(b"r", "n", 0))["ts"] == b"0"
    before = int(time.time())
    ts = int(ENVELOPE.fullmatch(docs_crypto.encrypt(b"r", "n"))["ts"])
    assert before <= ts <= int(time.time())
    assert ENVELOPE.fullmatch(docs_crypto.encrypt(b"r", "n", None)) is not None


def test_encrypt_fresh_random_per_reply(docs_crypto):
    envelopes = {docs_crypto.encrypt(b"same", "n", 1) for _ in range(10)}
    assert len(envelopes) == 10


@pytest.mark.parametrize("timestamp", ["", "12a", "-1", "1.5", " 1", "１２", 1.5], ids=repr)
def test_encrypt_bad_timestamp(docs_crypto, timestamp):
    with pytest.raises(ValueError):
        docs_crypto.encrypt(b"r", "n", timestamp)


@pytest.mark.parametrize(
    "nonce", ["", "a]]>b", "]]>", "non\u00e9", "tab\t", "nl\n", "\x7f"], ids=repr
)
def test_encrypt_bad_nonce(docs_crypto, nonce):
    with pytest.raises(ValueError):
        docs_crypto.encrypt(b"r", nonce, 1)


def test_encrypt_nonce_type(docs_crypto):
    with pytest.raises(TypeError):
        docs_crypto.encrypt(b"r", 123, 1)
    with pytest.raises(TypeError):
        docs_crypto.encrypt(b"r", b"nonce", 1)


@pytest.mark.parametrize("nonce", ["]]", "]>", "a]]", "]", " ", "~!@#$%^&*()<>"])
def test_encrypt_nonce_edges(core_impl, docs_crypto, nonce):
    envelope = core_impl.parse_message(docs_crypto.encrypt(b"r", nonce, 1))
    assert envelope.raw["Nonce"] == nonce


def flip(sig: str, index: int = 0) -> str:
    c = sig[index]
    return sig[:index] + ("1" if c != "1" else "2") + sig[index + 1 :]


@pytest.mark.parametrize(
    "bad_signature",
    [
        flip(v.ECHO_MSG_SIGNATURE),
        flip(v.ECHO_MSG_SIGNATURE, 39),
        v.ECHO_MSG_SIGNATURE[:39],
        v.ECHO_MSG_SIGNATURE + "0",
        v.ECHO_MSG_SIGNATURE[:-1] + "\x00",
        "",
        "z" * 40,
        "g" + v.ECHO_MSG_SIGNATURE[1:],
        v.ECHO_MSG_SIGNATURE.upper(),
        " " + v.ECHO_MSG_SIGNATURE[1:],
        "é" + v.ECHO_MSG_SIGNATURE[1:],
        "\udc80" + v.ECHO_MSG_SIGNATURE[1:],
        v.ECHO_MSG_SIGNATURE * 2,
        flip(v.ECHO_MSG_SIGNATURE).encode(),
    ],
    ids=[
        "first-char",
        "last-char",
        "short",
        "long",
        "nul",
        "empty",
        "non-hex",
        "one-non-hex",
        "uppercase",
        "space",
        "non-ascii",
        "surrogate",
        "doubled",
        "bytes",
    ],
)
def test_signature_rejected(docs_crypto, bad_signature):
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        docs_crypto.verify_url(bad_signature, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
    body_sig = (
        bad_signature.replace(v.ECHO_MSG_SIGNATURE, v.POST_MSG_SIGNATURE)
        if isinstance(bad_signature, str)
        else bad_signature
    )
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        docs_crypto.decrypt(v.POST_BODY, body_sig, v.POST_TIMESTAMP, v.POST_NONCE)


def test_signature_bytes_accepted(docs_crypto):
    sig = v.ECHO_MSG_SIGNATURE.encode()
    assert (
        docs_crypto.verify_url(sig, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
        == b"1616140317555161061"
    )


@pytest.mark.parametrize("signature", [None, 40, bytearray(40)], ids=repr)
def test_signature_type(docs_crypto, signature):
    with pytest.raises(TypeError):
        docs_crypto.verify_url(signature, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)


@pytest.mark.parametrize(
    ("field", "value"),
    [("timestamp", "1409659590"), ("nonce", "263014781"), ("echostr", v.ECHOSTR[:-4] + "AA==")],
)
def test_signature_covers_every_part(docs_crypto, field, value):
    args = {
        "msg_signature": v.ECHO_MSG_SIGNATURE,
        "timestamp": v.ECHO_TIMESTAMP,
        "nonce": v.ECHO_NONCE,
        "echostr": v.ECHOSTR,
        field: value,
    }
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        docs_crypto.verify_url(**args)


def test_other_token_rejected(core_impl):
    crypto = core_impl.MsgCrypto("other", v.ENCODING_AES_KEY, v.CORP_ID)
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        crypto.verify_url(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)


def test_signature_checked_before_decrypting(core_impl, docs_crypto):
    garbage = "!!not base64!!"
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_MISMATCH):
        docs_crypto.verify_url(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, garbage)
    sig = core_impl.msg_signature(v.TOKEN, v.ECHO_TIMESTAMP, v.ECHO_NONCE, garbage)
    with raises_callback_error(Base64Error, _spec.MSG_B64_CHAR):
        docs_crypto.verify_url(sig, v.ECHO_TIMESTAMP, v.ECHO_NONCE, garbage)


def test_corp_id_mismatch(core_impl):
    for corp in (
        "wx5823bf96d3bd56c8",
        "wx5823bf96d3bd56c",
        "wx5823bf96d3bd56c77",
        "WX5823BF96D3BD56C7",
    ):  # an empty corp_id is refused at construction (test_core_hardening.py)
        crypto = core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, corp)
        assert crypto.corp_id == corp
        with raises_callback_error(CorpIdMismatchError, _spec.MSG_CORP_MISMATCH):
            crypto.verify_url(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
        with raises_callback_error(CorpIdMismatchError, _spec.MSG_CORP_MISMATCH):
            crypto.decrypt(v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)


def test_frame_errors_win_over_corp_mismatch(core_impl, docs_crypto):
    plain = RANDOM16 + b"\x00\x00\x00\x05hello" + b"\x07" * 7
    encrypt = aes_cbc_encrypt(plain, DOCS_KEY)
    sig = core_impl.msg_signature(v.TOKEN, "1", "n", encrypt)
    with raises_callback_error(DecryptError, _spec.MSG_CORP_EMPTY):
        docs_crypto.verify_url(sig, "1", "n", encrypt)


def test_msg_crypto_constructor(core_impl):
    with raises_callback_error(InvalidAESKeyError, _spec.MSG_AES_KEY_TEXT):
        core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY[:-1], v.CORP_ID)
    for args in (
        (b"tok", v.ENCODING_AES_KEY, v.CORP_ID),
        (v.TOKEN, v.ENCODING_AES_KEY, b"corp"),
        (None, v.ENCODING_AES_KEY, v.CORP_ID),
        (v.TOKEN, DOCS_KEY, v.CORP_ID),
    ):
        with pytest.raises(TypeError):
            core_impl.MsgCrypto(*args)
    with raises_callback_error(SignatureError, _spec.MSG_SIGNATURE_ENCODING):
        core_impl.MsgCrypto("tok\udc80", v.ENCODING_AES_KEY, v.CORP_ID)
    with pytest.raises(ValueError):
        core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, "corp\udc80")


def test_msg_crypto_keyword_arguments(core_impl):
    crypto = core_impl.MsgCrypto(
        token=v.TOKEN, encoding_aes_key=v.ENCODING_AES_KEY, corp_id=v.CORP_ID
    )
    echo = crypto.verify_url(
        msg_signature=v.ECHO_MSG_SIGNATURE,
        timestamp=v.ECHO_TIMESTAMP,
        nonce=v.ECHO_NONCE,
        echostr=v.ECHOSTR,
    )
    assert echo == b"1616140317555161061"
    xml = crypto.decrypt(
        body=v.POST_BODY,
        msg_signature=v.POST_MSG_SIGNATURE,
        timestamp=v.POST_TIMESTAMP,
        nonce=v.POST_NONCE,
    )
    assert xml == DOCS_INNER_XML
    assert ENVELOPE.fullmatch(crypto.encrypt(reply=b"r", nonce="n", timestamp=1)) is not None


def test_msg_crypto_repr_hides_secrets(core_impl, docs_crypto):
    text = repr(docs_crypto)
    assert text == f"MsgCrypto(corp_id={v.CORP_ID!r})"
    assert v.TOKEN not in text and v.ENCODING_AES_KEY not in text
    assert not hasattr(docs_crypto, "__dict__")


def test_decrypt_parses_the_envelope_first(docs_crypto):
    with raises_callback_error(XMLParseError, _spec.MSG_XML_MALFORMED):
        docs_crypto.decrypt(b"garbage", v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)
    with raises_callback_error(XMLParseError, _spec.MSG_XML_NO_ENCRYPT):
        docs_crypto.decrypt(b"<xml/>", v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)
