"""Hypothesis round trips on both twins, and compiled-vs-pure differential tests.

Round trips run on each twin through ``core_impl``. Differential tests (marked
``compiled``, as they need both twins) feed the same input to ``_core_c`` and ``_core_py`` and
demand the same value (types included) or the same error: class, code and message.
Seeded corpora pin the classic malformed inputs; hypothesis adds random XML
fragments and byte mutations of real messages.
"""

from __future__ import annotations

import base64
import copy
import importlib
import inspect
import pickle
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxcorp_fast.testing import vectors as v

from _samples import SAMPLE_MESSAGES, aes_cbc_encrypt, outcome

KEY = base64.b64decode(v.ENCODING_AES_KEY + "=")
B64_ALPHABET = string.ascii_letters + string.digits + "+/"


@pytest.fixture(scope="session")
def twins():
    """Return ``(compiled, pure)``; an unimportable compiled core errors the test."""
    return importlib.import_module("wxcorp_fast._core_c"), importlib.import_module(
        "wxcorp_fast._core_py"
    )


def same(twins, name, *args, **kwargs):
    """Assert both twins give the same outcome for ``name(*args)``; return it."""
    compiled, pure = (getattr(m, name) for m in twins)
    expected = outcome(pure, *args, **kwargs)
    got = outcome(compiled, *args, **kwargs)
    assert got == expected, f"{name}: compiled={got!r} python={expected!r}"
    return expected


def same_method(twins, method, args, ctor=(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)):
    """Assert ``MsgCrypto(*ctor).<method>(*args)`` behaves alike on both twins."""
    compiled, pure = (getattr(m.MsgCrypto(*ctor), method) for m in twins)
    expected = outcome(pure, *args)
    assert outcome(compiled, *args) == expected
    return expected


# --------------------------------------------------------------------------- strategies

XML_CHARS = st.characters(
    min_codepoint=0x20, exclude_categories=("Cs",), exclude_characters="\ufffe\uffff"
)
SPECIALS = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "'",
        '"',
        "]",
        "]]>",
        "\t",
        "\n",
        "\r",
        "\r\n",
        " ",
        "企业微信",
        "😀",
        "👨‍👩‍👧",
        "&amp;",
        "<![CDATA[",
        "\u2028",
        "\x85",
        "\u00a0",
    ]
)
small_text = st.lists(st.one_of(XML_CHARS, SPECIALS), max_size=100).map("".join)
# Up to 16,384 characters, i.e. up to 64 KB of UTF-8.
large_text = st.builds(
    lambda unit, n: (unit * n)[:16384], small_text.filter(bool), st.integers(1, 16384)
)
texts = st.one_of(small_text, large_text)
randoms = st.binary(min_size=16, max_size=16)
nonces = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
).filter(lambda s: "]]>" not in s)
timestamps = st.one_of(st.integers(0, 2**40), st.integers(0, 2**40).map(str))


def as_cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def as_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def normalised(text: str) -> str:
    """What an XML parser reports for literal ``text`` (line ends become ``\\n``)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------ round trips (each twin)


@given(text=texts, random=randoms)
def test_encrypt_decrypt_round_trip(core_impl, text, random):
    msg = text.encode()
    encrypt = core_impl.encrypt_msg(text, v.CORP_ID, KEY, random)
    assert len(base64.b64decode(encrypt)) % 32 == 0
    assert core_impl.decrypt_msg(encrypt, KEY) == (random, msg, v.CORP_ID)
    assert core_impl.decrypt_msg(encrypt.encode(), KEY) == (random, msg, v.CORP_ID)


@given(msg=st.binary(max_size=70000), corp=st.text(min_size=1, max_size=40))
def test_frame_round_trip(core_impl, msg, corp):
    frame = core_impl.pack_frame(b"r" * 16, msg, corp)
    assert core_impl.unpack_frame(frame) == (b"r" * 16, msg, corp)
    padded = core_impl.pkcs7_pad(frame)
    assert len(padded) % 32 == 0 and core_impl.pkcs7_unpad(padded) == frame


@given(reply=texts, nonce=nonces, timestamp=timestamps)
def test_msg_crypto_round_trip(core_impl, reply, nonce, timestamp):
    crypto = core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    envelope = crypto.encrypt(reply, nonce, timestamp)
    fields = core_impl.parse_message(envelope).raw
    assert fields["Nonce"] == nonce and fields["TimeStamp"] == str(timestamp)
    assert fields["MsgSignature"] == core_impl.msg_signature(
        v.TOKEN, timestamp, nonce, fields["Encrypt"]
    )
    assert crypto.decrypt(envelope, fields["MsgSignature"], timestamp, nonce) == reply.encode()


@given(text=texts, cdata=st.booleans())
def test_message_text_round_trip(core_impl, text, cdata):
    body = as_cdata(text) if cdata else as_escaped(text)
    title = as_escaped(text)
    xml = f"<xml><MsgType>text</MsgType><Content>{body}</Content><Title>{title}</Title></xml>"
    for doc in (xml, xml.encode()):
        msg = core_impl.parse_message(doc)
        assert msg.content == normalised(text) == msg.title
        assert msg.raw == {
            "MsgType": "text",
            "Content": normalised(text),
            "Title": normalised(text),
        }


@given(text=small_text, agent=st.integers(0, 2**63 - 1))
def test_envelope_round_trip(core_impl, text, agent):
    body = (
        f"<xml><ToUserName>{as_cdata(text)}</ToUserName><AgentID>{agent}</AgentID>"
        f"<Encrypt>{as_escaped(text)}</Encrypt></xml>"
    )
    assert core_impl.parse_envelope(body.encode()) == (normalised(text), agent, normalised(text))


# ------------------------------------------------------------------ signatures and docstrings


def _public_callables(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            yield name, obj  # the constructor
            for attr in ("verify_url", "decrypt", "encrypt", "decrypt_json", "encrypt_json"):
                if hasattr(obj, attr):
                    yield f"{name}.{attr}", getattr(obj, attr)
        else:
            yield name, obj


def _shape(obj):
    """Parameter names, kinds and defaults (annotations live in _core_c.pyi)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


CALLABLES = [name for name, _ in _public_callables(importlib.import_module("wxcorp_fast._core_py"))]


@pytest.mark.compiled
def test_same_public_names(twins):
    compiled, pure = twins
    assert compiled.__all__ == pure.__all__
    assert all(hasattr(compiled, name) for name in pure.__all__)


@pytest.mark.compiled
@pytest.mark.parametrize("name", CALLABLES)
def test_same_signature(twins, name):
    compiled, pure = (dict(_public_callables(m))[name] for m in twins)
    assert _shape(compiled) == _shape(pure)


@pytest.mark.compiled
@pytest.mark.parametrize("name", CALLABLES)
def test_same_docstring_summary(twins, name):
    compiled, pure = (dict(_public_callables(m))[name] for m in twins)
    lines = [ln for ln in (compiled.__doc__ or "").splitlines() if ln.strip()]
    if lines and "(" in lines[0] and lines[0].split("(")[0].split(".")[-1] == name.split(".")[-1]:
        lines = lines[1:]  # the signature line embedsignature prepends
    assert lines and pure.__doc__ and lines[0].strip() == pure.__doc__.strip().splitlines()[0]


@pytest.mark.compiled
@pytest.mark.parametrize(
    "operation", [pickle.dumps, copy.copy, copy.deepcopy], ids=lambda f: f.__name__
)
def test_msg_crypto_copying_alike(twins, operation):
    """Both twins pickle and copy a MsgCrypto alike: both succeed or both raise the same class."""
    results = []
    for m in twins:
        try:
            operation(m.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID))
        except Exception as exc:  # noqa: BLE001 - the class is what is compared
            results.append(type(exc))
        else:
            results.append("ok")
    assert results[0] == results[1]


# --------------------------------------------------------------------------- differential: scalars

needs_both = pytest.mark.compiled
anything = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=50),
    st.binary(max_size=50),
    st.sampled_from(["\udc80", bytearray(b"ba"), memoryview(b"mv")]),
)


@needs_both
@given(
    key=st.one_of(
        st.text(max_size=50),
        st.text(alphabet=B64_ALPHABET + "=-_ \n\x00é", min_size=43, max_size=43),
        anything,
    )
)
def test_decode_aes_key_differential(twins, key):
    same(twins, "decode_aes_key", key)


sig_parts = st.one_of(
    st.text(max_size=3000),
    st.binary(max_size=3000),
    st.integers(-10, 2**70),
    st.sampled_from(["\udc80", "a\ud800b", None, 1.5, bytearray(b"x")]),
)


@needs_both
@given(parts=st.tuples(sig_parts, sig_parts, sig_parts, sig_parts))
def test_signatures_differential(twins, parts):
    same(twins, "msg_signature", *parts)
    same(twins, "signature", *parts[:3])


@needs_both
@given(
    data=st.one_of(st.binary(max_size=600), anything),
    block_size=st.one_of(
        st.integers(-3, 300), st.sampled_from([2**64, -(2**64), 32.0, "32", None, True, False])
    ),
)
def test_pkcs7_differential(twins, data, block_size):
    same(twins, "pkcs7_pad", data, block_size)
    same(twins, "pkcs7_unpad", data, block_size)
    same(twins, "pkcs7_pad", data)
    same(twins, "pkcs7_unpad", data)


@needs_both
@given(data=st.binary(max_size=100), pad=st.integers(0, 255), count=st.integers(0, 40))
def test_pkcs7_unpad_crafted_differential(twins, data, pad, count):
    same(twins, "pkcs7_unpad", data + bytes([pad]) * count)


frames = st.one_of(
    st.binary(max_size=120),
    st.builds(
        lambda r, length, msg, corp: r + length.to_bytes(4, "big") + msg + corp,
        st.binary(min_size=16, max_size=16),
        st.one_of(
            st.integers(0, 80), st.integers(0, 2**32 - 1), st.sampled_from([0xFFFFFFFF, 0x80000000])
        ),
        st.binary(max_size=60),
        st.one_of(
            st.binary(max_size=30),
            st.text(max_size=10).map(lambda t: t.encode("utf-8", "surrogatepass")),
        ),
    ),
)


@needs_both
@given(plain=st.one_of(frames, anything))
def test_unpack_frame_differential(twins, plain):
    same(twins, "unpack_frame", plain)


@needs_both
@given(
    random=st.one_of(st.binary(max_size=20), anything),
    msg=st.one_of(st.binary(max_size=100), anything),
    corp=st.one_of(st.text(max_size=20), st.binary(max_size=20), anything),
)
def test_pack_frame_differential(twins, random, msg, corp):
    same(twins, "pack_frame", random, msg, corp)


@needs_both
@given(
    msg=st.one_of(texts, st.binary(max_size=5000), anything),
    corp=st.one_of(st.text(max_size=30), anything),
    key=st.one_of(
        st.just(KEY), st.binary(min_size=32, max_size=32), st.binary(max_size=40), anything
    ),
    random=st.one_of(randoms, st.binary(max_size=20), anything),
)
def test_encrypt_msg_differential(twins, msg, corp, key, random):
    if random is None:  # fresh randomness: same acceptance, and each opens the other's
        results = [outcome(m.encrypt_msg, msg, corp, key) for m in twins]
        if results[1][0] == "error":
            assert results[0] == results[1]
            return
        assert results[0][0] == "ok"
        opened = [outcome(m.decrypt_msg, r[1][1], key) for m, r in zip(reversed(twins), results)]
        assert opened[0][0] == opened[1][0]
        if opened[1][0] == "ok":
            assert [o[1][1][1:] for o in opened] == [opened[1][1][1][1:]] * 2
        return
    result = same(twins, "encrypt_msg", msg, corp, key, random)
    if result[0] == "ok":  # an empty corp_id encrypts, but the frame then fails to open
        same(twins, "decrypt_msg", result[1][1], key)


# --------------------------------------------------------------------------- differential: decrypt


def crafted_ciphertexts():
    """Valid AES over chosen plaintexts: any frame, any padding, as WeChat would send."""
    body = st.one_of(frames, st.binary(max_size=200))
    padding = st.one_of(
        st.just(None),  # correct PKCS#7
        st.integers(0, 255).map(lambda b: ("byte", b)),
        st.tuples(st.integers(0, 255), st.integers(1, 40)).map(lambda t: ("run", *t)),
    )

    def build(plain, pad):
        if pad is None:
            n = 32 - len(plain) % 32
            plain += bytes([n]) * n
        elif pad[0] == "byte":
            plain += bytes([pad[1]])
        else:
            plain += bytes([pad[1]]) * pad[2]
        plain += b"\x00" * (-len(plain) % 32)  # AES needs whole blocks; the pad is what it is
        return plain if plain else b"\x00" * 32

    return st.builds(build, body, padding)


@needs_both
@given(plain=crafted_ciphertexts(), as_bytes=st.booleans())
def test_decrypt_crafted_plaintext_differential(twins, plain, as_bytes):
    encrypt = aes_cbc_encrypt(plain, KEY)
    same(twins, "decrypt_msg", encrypt.encode() if as_bytes else encrypt, KEY)
    signature = twins[1].msg_signature(v.TOKEN, "1", "n", encrypt)
    same_method(twins, "verify_url", (signature, "1", "n", encrypt))


@needs_both
@given(
    encrypt=st.one_of(
        st.text(alphabet=B64_ALPHABET + "=", max_size=200),
        st.text(max_size=100),
        st.binary(max_size=200),
        anything,
    ),
    key=st.one_of(st.just(KEY), st.binary(max_size=40)),
)
def test_decrypt_random_differential(twins, encrypt, key):
    same(twins, "decrypt_msg", encrypt, key)


@st.composite
def mutated(draw, base: bytes, alphabet: bytes = bytes(range(256))):
    """``base`` with a few random edits: replace, insert, delete, duplicate or truncate."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "truncate"]))
        i = draw(st.integers(0, len(data)))
        if op == "replace" and i < len(data):
            data[i] = draw(st.sampled_from(alphabet))
        elif op == "insert":
            data[i:i] = draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=4).map(bytes))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "duplicate":
            j = draw(st.integers(i, min(len(data), i + 40)))
            data[i:i] = data[i:j]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


B64_MUTATION_ALPHABET = (B64_ALPHABET + "= \n\t\r-_.*\x00").encode() + b"\xc3\xa9\xff"


@needs_both
@given(
    encrypt=st.one_of(
        mutated(v.POST_ENCRYPT.encode(), B64_MUTATION_ALPHABET),
        mutated(v.ECHOSTR.encode(), B64_MUTATION_ALPHABET),
    ),
    as_text=st.booleans(),
)
def test_decrypt_mutated_differential(twins, encrypt, as_text):
    if as_text:
        encrypt = encrypt.decode("latin-1")
    same(twins, "decrypt_msg", encrypt, KEY)
    signature = twins[1].msg_signature(v.TOKEN, "1", "n", encrypt)
    same_method(twins, "verify_url", (signature, "1", "n", encrypt))


# --------------------------------------------------------------------------- seeded corpora


def _frame(msg: bytes, corp: bytes, length: int | None = None, pad: bytes | None = None) -> str:
    plain = b"R" * 16 + (len(msg) if length is None else length).to_bytes(4, "big") + msg + corp
    if pad is None:
        n = 32 - len(plain) % 32
        pad = bytes([n]) * n
    return aes_cbc_encrypt(plain + pad, KEY)


CIPHERTEXT_CORPUS = {
    # bad base64
    "space": v.ECHOSTR[:8] + " " + v.ECHOSTR[8:],
    "newline-wrapped": v.ECHOSTR[:44] + "\n" + v.ECHOSTR[44:],
    "crlf-end": v.ECHOSTR + "\r\n",
    "tab": "\t" + v.ECHOSTR,
    "urlsafe": v.ECHOSTR.replace("+", "-").replace("/", "_"),
    "unpadded": v.ECHOSTR.rstrip("="),
    "overpadded": v.ECHOSTR + "==",
    "pad-in-middle": v.ECHOSTR[:20] + "=" + v.ECHOSTR[21:],
    "truncated-1": v.ECHOSTR[:-1],
    "truncated-3": v.ECHOSTR[:-3],
    "nul": v.ECHOSTR[:-2] + "\x00=",
    "non-ascii": v.ECHOSTR[:-2] + "é=",
    "garbage": "!!!!",
    "pad-only": "====",
    "empty": "",
    # ciphertext length
    "16-bytes": base64.b64encode(b"\x01" * 16).decode(),
    "31-bytes": base64.b64encode(b"\x01" * 31).decode(),
    "33-bytes": base64.b64encode(b"\x01" * 33).decode(),
    "48-bytes": base64.b64encode(b"\x01" * 48).decode(),
    "1-byte": "AQ==",
    # padding
    "pad-0": _frame(b"hello", b"corp", pad=b"\x00" * 3),
    "pad-33": _frame(b"hello", b"corp", pad=b"\x21" * 3),
    "pad-255": _frame(b"hello", b"corp", pad=b"\xff" * 3),
    "pad-mixed": _frame(b"hello", b"corp", pad=b"\x01\x03\x03"),
    "pad-32-of-32": aes_cbc_encrypt(b"\x20" * 32, KEY),
    # frames
    "overrun-by-1": _frame(b"hello", b"corp", length=10),
    "overrun-ffffffff": _frame(b"hello", b"corp", length=0xFFFFFFFF),
    "overrun-80000000": _frame(b"hello", b"corp", length=0x80000000),
    "frame-19": aes_cbc_encrypt(b"F" * 19 + b"\x0d" * 13, KEY),
    "frame-0": aes_cbc_encrypt(b"\x20" * 32, KEY),
    "frame-20-empty-corp": aes_cbc_encrypt(b"F" * 16 + b"\x00" * 4 + b"\x0c" * 12, KEY),
    "empty-corp": _frame(b"hello", b""),
    "corp-latin1": _frame(b"hello", "corpé".encode("latin-1")),
    "corp-surrogate": _frame(b"hello", b"\xed\xb2\x80"),
    "wrong-corp": _frame(b"hello", b"wx0000000000000000"),
    "corp-with-nul": _frame(b"hello", v.CORP_ID.encode() + b"\x00"),
    "good": _frame(b"hello", v.CORP_ID.encode()),
    "good-empty-msg": _frame(b"", v.CORP_ID.encode()),
}


@pytest.mark.compiled
@pytest.mark.parametrize("name", list(CIPHERTEXT_CORPUS))
def test_ciphertext_corpus(twins, name):
    encrypt = CIPHERTEXT_CORPUS[name]
    for value in (encrypt, encrypt.encode("utf-8", "surrogatepass")):
        same(twins, "decrypt_msg", value, KEY)
    signature = twins[1].msg_signature(v.TOKEN, "1409659589", "n", encrypt)
    same_method(twins, "verify_url", (signature, "1409659589", "n", encrypt))
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    same_method(twins, "decrypt", (body, signature, "1409659589", "n"))


XML_CORPUS = {
    "doctype": b"<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>",
    "doctype-internal": b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
    "doctype-after-decl": b'<?xml version="1.0"?><!DOCTYPE xml><xml/>',
    "doctype-after-comment": b"<!-- c --><!DOCTYPE xml><xml/>",
    "doctype-after-bad-decl": b'<?xml version="9"?><!DOCTYPE xml><xml/>',
    "doctype-after-junk": b"junk<!DOCTYPE xml><xml/>",
    "doctype-after-bom": b"\xef\xbb\xbf<!DOCTYPE xml><xml/>",
    "doctype-lowercase": b"<!doctype xml><xml/>",
    "doctype-in-body": b"<xml><!DOCTYPE xml></xml>",
    "doctype-after-root": b"<xml/><!DOCTYPE xml>",
    "doctype-unterminated": b"<!DOCTYPE xml",
    "doctype-after-unclosed-pi": b"<?pi <!DOCTYPE xml><xml/>",
    "doctype-after-unclosed-comment": b"<!-- <!DOCTYPE xml><xml/>",
    "entity-in-body": b'<xml><!ENTITY e "x"></xml>',
    "billion-laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>",
    "declaration-only": b'<?xml version="1.0"?>',
    "declaration-late": b'<xml/><?xml version="1.0"?>',
    "declaration-encoding-latin1": b'<?xml version="1.0" encoding="ISO-8859-1"?>'
    b"<xml><Content>\xe9</Content></xml>",
    "declaration-encoding-utf16": b'<?xml version="1.0" encoding="UTF-16"?><xml/>',
    "declaration-standalone": b'<?xml version="1.0" standalone="yes"?><xml/>',
    "xml-pi-target": b"<?xml-stylesheet href='a'?><xml/>",
    "pi-reserved": b"<xml><?xml x?></xml>",
    "pi-non-ascii": "<xml><?目标 x?></xml>".encode(),
    "attr-non-ascii": "<xml 属性='1'/>".encode(),
    "attr-lt": b"<xml a='<'/>",
    "attr-entity": b"<xml a='&unknown;'/>",
    "attr-charref-bad": b"<xml a='&#0;'/>",
    "namespace": b'<xml xmlns="urn:x" xmlns:a="urn:a"><a:Content>x</a:Content></xml>',
    "colon-name": b"<xml><a:b>x</a:b></xml>",
    "cdata-outside": b"<![CDATA[x]]><xml/>",
    "cdata-nested-end": b"<xml><Content><![CDATA[a]]>]]></Content></xml>",
    "text-gt-after-brackets": b"<xml><Content>a]]>b</Content></xml>",
    "comment-double-dash": b"<xml><!-- a -- b --></xml>",
    "comment-triple-dash-end": b"<xml><!-- a ---></xml>",
    "empty-comment": b"<xml><!----></xml>",
    "ws-before-decl": b' <?xml version="1.0"?><xml/>',
    "bom-twice": b"\xef\xbb\xbf\xef\xbb\xbf<xml/>",
    "utf16le-bom": b"\xff\xfe<\x00x\x00/\x00>\x00",
    "utf16be-bom": b"\xfe\xff\x00<\x00x\x00/\x00>",
    "utf16-no-bom": b"<\x00x\x00/\x00>\x00",
    "overlong-utf8": b"<xml><Content>\xc0\xbc</Content></xml>",
    "utf8-surrogate": b"<xml><Content>\xed\xa0\x80</Content></xml>",
    "utf8-above-max": b"<xml><Content>\xf4\x90\x80\x80</Content></xml>",
    "fffe": "<xml><Content>\ufffe</Content></xml>".encode(),
    "charref-fffe": b"<xml><Content>&#xFFFE;</Content></xml>",
    "charref-leading-zeros": b"<xml><Content>&#x000041;&#0000065;</Content></xml>",
    "charref-huge": b"<xml><Content>&#99999999999999999999;</Content></xml>",
    "charref-x-upper-hex": b"<xml><Content>&#xABCD;</Content></xml>",
    "c1-control": b"<xml><Content>\xc2\x85\xc2\x9f</Content></xml>",
    "del-char": b"<xml><Content>\x7f</Content></xml>",
    "vertical-tab": b"<xml><Content>\x0b</Content></xml>",
    "cr-in-attr": b"<xml a='x\r\ny'/>",
    "end-tag-attr": b"<xml></xml a='1'>",
    "end-tag-space": b"<xml></ xml>",
    "start-tag-space": b"< xml/>",
    "self-closing-space": b"<xml / >",
    "name-dot-dash": b"<xml><a.b-c_d>x</a.b-c_d></xml>",
    "name-start-dash": b"<xml><-a>x</-a></xml>",
    "name-start-underscore": b"<xml><_a>x</_a></xml>",
    "name-start-colon": b"<xml><:a>x</:a></xml>",
    "root-named-Encrypt": b"<Encrypt>x</Encrypt>",
    "deep-64": b"<a>" * 64 + b"</a>" * 64,
    "deep-65": b"<a>" * 65 + b"</a>" * 65,
    "deep-65-unclosed": b"<a>" * 65,
    "deep-65-malformed-later": b"<a>" * 65 + b"&bad;",
    "deep-64-then-empty": b"<a>" * 64 + b"<b/>" + b"</a>" * 64,
    "text-after-children": b"<xml><A>1</A>tail</xml>",
    "mixed-content": b"<xml><Content>a<b>x</b>c</Content></xml>",
    "agent-id-nonnumeric": b"<xml><AgentID>a1</AgentID><Encrypt>x</Encrypt></xml>",
    "agent-id-overflow": b"<xml><AgentID>" + b"9" * 23 + b"</AgentID><Encrypt>x</Encrypt></xml>",
    "agent-id-huge": b"<xml><AgentID>" + b"9" * 5000 + b"</AgentID><Encrypt>x</Encrypt></xml>",
    "agent-id-children": b"<xml><AgentID><X>1</X></AgentID><Encrypt>x</Encrypt></xml>",
    "encrypt-children": b"<xml><Encrypt><X>1</X></Encrypt></xml>",
    "encrypt-list": b"<xml><Encrypt><X/></Encrypt><Encrypt>y</Encrypt></xml>",
    "numbers-nonascii-space": "<xml><CreateTime>\u30001</CreateTime></xml>".encode(),
    "float-hex": b"<xml><Latitude>0x1p3</Latitude></xml>",
    "float-underscore": b"<xml><Latitude>1_0.5</Latitude></xml>",
    "float-infinity-word": b"<xml><Latitude>Infinity</Latitude></xml>",
    "float-many-digits": b"<xml><Latitude>" + b"1" * 400 + b".5e-300</Latitude></xml>",
    "int-many-digits": b"<xml><MsgId>" + b"1" * 5000 + b"</MsgId></xml>",
    "int-plus-minus": b"<xml><MsgId>+-1</MsgId></xml>",
    "pics-count-list": b"<xml><SendPicsInfo><Count>1</Count><Count>x</Count></SendPicsInfo></xml>",
    "pics-item-text": (
        b"<xml><SendPicsInfo><PicList><item>text</item><item><PicMd5Sum>a</PicMd5Sum>"
        b"</item></PicList></SendPicsInfo></xml>"
    ),
    "pics-list-repeated": (
        b"<xml><SendPicsInfo><PicList><item><PicMd5Sum>a</PicMd5Sum></item></PicList>"
        b"<PicList><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo></xml>"
    ),
    "pics-md5-repeated": (
        b"<xml><SendPicsInfo><PicList><item><PicMd5Sum>a</PicMd5Sum>"
        b"<PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo></xml>"
    ),
    "info-groups-repeated": (
        b"<xml><ScanCodeInfo><ScanType>a</ScanType></ScanCodeInfo><ScanCodeInfo>"
        b"<ScanType>b</ScanType></ScanCodeInfo></xml>"
    ),
    "info-group-text-then-group": (
        b"<xml><SendLocationInfo>t</SendLocationInfo><SendLocationInfo><Scale>3</Scale>"
        b"</SendLocationInfo></xml>"
    ),
    "location-bad-scale-second": (
        b"<xml><SendLocationInfo><Scale>1</Scale><Scale>x</Scale></SendLocationInfo></xml>"
    ),
    "field-order-errors": b"<xml><Latitude>x</Latitude><CreateTime>y</CreateTime></xml>",
    "field-order-errors-rev": b"<xml><CreateTime>y</CreateTime><Latitude>x</Latitude></xml>",
    "error-after-bad-number": b"<xml><CreateTime>y</CreateTime><a></b></xml>",
    "long-name": b"<xml><" + b"N" * 10000 + b">x</" + b"N" * 10000 + b"></xml>",
    "many-siblings": b"<xml>" + b"<item>x</item>" * 5000 + b"</xml>",
    "many-names": b"<xml>"
    + b"".join(b"<n%d>%d</n%d>" % (i, i, i) for i in range(2000))
    + b"</xml>",
}


@pytest.mark.compiled
@pytest.mark.parametrize("name", list(XML_CORPUS))
def test_xml_corpus(twins, name):
    doc = XML_CORPUS[name]
    same(twins, "parse_message", doc)
    same(twins, "parse_envelope", doc)
    try:
        text = doc.decode()
    except UnicodeDecodeError:
        return
    same(twins, "parse_message", text)


# --------------------------------------------------------------------------- differential: XML


NAMES = st.sampled_from(
    [
        "xml",
        "Content",
        "CreateTime",
        "AgentID",
        "Encrypt",
        "MsgId",
        "Latitude",
        "Scale",
        "ScanCodeInfo",
        "SendPicsInfo",
        "PicList",
        "item",
        "PicMd5Sum",
        "Count",
        "SendLocationInfo",
        "Location_X",
        "a",
        "A_b-c.d",
        "x:y",
        "_",
    ]
)
TEXT_TOKENS = st.one_of(
    small_text.map(as_escaped),
    st.sampled_from(
        [
            "&lt;",
            "&gt;",
            "&amp;",
            "&quot;",
            "&apos;",
            "&#20320;",
            "&#x1F600;",
            "&#0;",
            "&#xD800;",
            "&bogus;",
            "&",
            "<",
            "]]>",
            " 12 ",
            "-3",
            "1e5",
            "\r\n",
            "\r",
            "\t",
            "&#13;",
            "\x00",
            "\udc80",
            "<![CDATA[x]]>",
            "<![CDATA[<&>]]>",
            "<!-- c -->",
            "<?pi d?>",
            "<!DOCTYPE x>",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _element(children):
    return st.builds(
        lambda name, attrs, inner, close: f"<{name}{attrs}>{''.join(inner)}</{close or name}>",
        NAMES,
        st.sampled_from(["", ' a="1"', " b='x&amp;y'", ' a="1" a="2"', " c=nq", " é='1'"]),
        st.lists(children, max_size=5),
        st.one_of(st.just(""), st.just(""), st.just(""), NAMES),  # mostly the matching end tag
    )


xml_trees = st.recursive(TEXT_TOKENS, _element, max_leaves=30)
xml_documents = st.builds(
    lambda prolog, root, epilog: prolog + root + epilog,
    st.sampled_from(
        [
            "",
            '<?xml version="1.0" encoding="UTF-8"?>',
            "\ufeff",
            "<!-- c -->\n",
            "  ",
            "<!DOCTYPE x>",
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "v">]>',
        ]
    ),
    _element(xml_trees),
    st.sampled_from(["", "\n", "<!-- c -->", "junk", "<xml/>", "<?pi?>"]),
)


@needs_both
@given(doc=xml_documents, encoding=st.sampled_from(["str", "utf-8"]))
def test_random_xml_differential(twins, doc, encoding):
    data = doc if encoding == "str" else doc.encode("utf-8", "surrogatepass")
    same(twins, "parse_message", data)
    same(twins, "parse_envelope", data)


@needs_both
@given(data=st.binary(max_size=300))
def test_random_bytes_differential(twins, data):
    same(twins, "parse_message", data)
    same(twins, "parse_envelope", data)


XML_MUTATION_ALPHABET = (
    b"<>/!?[]-=&;#x\"' \t\r\n\x00\x7f\x80\xbf\xc3\xe4\xed\xef\xf0\xffACDTaxmlEncrypt0123456789.+"
)
REAL_DOCUMENTS = [d.encode() for d in SAMPLE_MESSAGES.values()] + [v.POST_BODY]


@needs_both
@given(data=st.data())
def test_mutated_messages_differential(twins, data):
    base = data.draw(st.sampled_from(REAL_DOCUMENTS), label="base")
    doc = data.draw(mutated(base, XML_MUTATION_ALPHABET), label="doc")
    same(twins, "parse_message", doc)
    same(twins, "parse_envelope", doc)


@needs_both
@given(data=st.data())
def test_mutated_callback_posts_differential(twins, data):
    """A whole POST: mutate the inner XML, encrypt it, sign it, decrypt and parse it."""
    inner = data.draw(mutated(data.draw(st.sampled_from(REAL_DOCUMENTS)), XML_MUTATION_ALPHABET))
    encrypt = aes_cbc_encrypt(
        twins[1].pkcs7_pad(twins[1].pack_frame(b"R" * 16, inner, v.CORP_ID)), KEY
    )
    body = data.draw(
        mutated(
            f"<xml><ToUserName>{v.CORP_ID}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode(),
            XML_MUTATION_ALPHABET,
        )
        | st.just(f"<xml><Encrypt>{encrypt}</Encrypt><AgentID>1</AgentID></xml>".encode())
    )
    signature = twins[1].msg_signature(v.TOKEN, "7", "n", encrypt)
    result = same_method(twins, "decrypt", (body, signature, "7", "n"))
    if result[0] == "ok":
        same(twins, "parse_message", result[1][1])


# ------------------------------------------------------------------ subclasses of the input types


class Str(str):
    pass


class Bytes(bytes):
    pass


class Int(int):
    pass


def subclassed(value):
    """The same value as an instance of a subclass of its type."""
    return {str: Str, bytes: Bytes, int: Int}.get(type(value), lambda x: x)(value)


SUBCLASS_CALLS = {
    "decode_aes_key": (v.ENCODING_AES_KEY,),
    "msg_signature": (v.TOKEN, 1409659589, v.ECHO_NONCE, v.ECHOSTR),
    "signature": (v.TOKEN, 1409659589, v.ECHO_NONCE),
    "pkcs7_pad": (b"abc", 16),
    "pkcs7_unpad": (b"abc" + b"\x0d" * 13, 16),
    "pack_frame": (b"r" * 16, b"m", "corp"),
    "unpack_frame": (b"r" * 16 + b"\0\0\0\x01mc",),
    "encrypt_msg": ("m", "c", KEY, b"r" * 16),
    "decrypt_msg": (v.ECHOSTR, KEY),
    "parse_envelope": (v.POST_BODY,),
    "parse_message": (SAMPLE_MESSAGES["pics"],),
    "MsgCrypto": (v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID),
    "MsgCrypto.verify_url": (v.ECHO_MSG_SIGNATURE, int(v.ECHO_TIMESTAMP), v.ECHO_NONCE, v.ECHOSTR),
    "MsgCrypto.decrypt": (v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE),
    "MsgCrypto.encrypt": ("<xml/>", "nonce", 1409659813),
}


@pytest.mark.compiled
@pytest.mark.parametrize(
    ("name", "position"),
    [(name, i) for name, args in SUBCLASS_CALLS.items() for i in range(len(args))],
)
def test_subclassed_arguments(twins, name, position):
    """A str, bytes or int subclass is accepted or refused alike, with the same result."""
    args = list(SUBCLASS_CALLS[name])
    args[position] = subclassed(args[position])
    if name == "MsgCrypto.encrypt":  # fresh randomness: compare acceptance and the opened reply
        results = [
            outcome(m.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID).encrypt, *args)
            for m in twins
        ]
        assert [r[0] for r in results] == ["ok", "ok"]
    elif name.startswith("MsgCrypto."):
        same_method(twins, name.split(".")[1], tuple(args))
    elif name == "MsgCrypto":
        results = [outcome(m.MsgCrypto, *args) for m in twins]
        assert results[0][0] == results[1][0], results
        if results[1][0] == "error":
            assert results[0] == results[1]
        else:
            assert [r[1][1].corp_id for r in results] == [v.CORP_ID] * 2
    else:
        same(twins, name, *args)


# ------------------------------------------------------------------ differential: MsgCrypto

ctor_args = st.tuples(
    st.one_of(st.just(v.TOKEN), st.text(max_size=10), anything),
    st.one_of(
        st.just(v.ENCODING_AES_KEY),
        st.text(alphabet=B64_ALPHABET, min_size=42, max_size=44),
        anything,
    ),
    st.one_of(st.just(v.CORP_ID), st.text(max_size=20), anything),
)


@needs_both
@given(ctor=ctor_args)
def test_msg_crypto_constructor_differential(twins, ctor):
    results = [outcome(m.MsgCrypto, *ctor) for m in twins]
    assert [r[0] for r in results] == [results[1][0]] * 2
    if results[1][0] == "error":
        assert results[0] == results[1]
    else:
        compiled, pure = (m.MsgCrypto(*ctor) for m in twins)
        assert compiled.corp_id == pure.corp_id and repr(compiled) == repr(pure)


@needs_both
@given(
    signature=st.one_of(
        st.just(v.ECHO_MSG_SIGNATURE), st.text(max_size=45), st.binary(max_size=45), anything
    ),
    timestamp=st.one_of(
        st.just(v.ECHO_TIMESTAMP), st.just(int(v.ECHO_TIMESTAMP)), st.text(max_size=12), anything
    ),
    nonce=st.one_of(st.just(v.ECHO_NONCE), st.text(max_size=12), anything),
    echostr=st.one_of(
        st.just(v.ECHOSTR),
        mutated(v.ECHOSTR.encode(), B64_MUTATION_ALPHABET).map(lambda b: b.decode("latin-1")),
        anything,
    ),
)
def test_verify_url_differential(twins, signature, timestamp, nonce, echostr):
    same_method(twins, "verify_url", (signature, timestamp, nonce, echostr))


@needs_both
@given(
    reply=st.one_of(texts, st.binary(max_size=3000), anything),
    nonce=st.one_of(nonces, st.text(max_size=10), anything),
    timestamp=st.one_of(timestamps, st.none(), st.text(max_size=8), anything),
)
def test_encrypt_differential(twins, reply, nonce, timestamp):
    """Same acceptance and errors; accepted replies open the same way in the other twin."""
    results = []
    for m in twins:
        res = outcome(
            m.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID).encrypt, reply, nonce, timestamp
        )
        results.append(res)
    if results[1][0] == "error":
        assert results[0] == results[1]
        return
    assert results[0][0] == "ok"
    envelopes = [r[1][1] for r in results]
    for m, envelope in zip(reversed(twins), envelopes):  # each twin opens the other's reply
        raw = m.parse_message(envelope).raw
        if timestamp is not None:
            assert raw["TimeStamp"] == str(timestamp)
        opened = m.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID).decrypt(
            envelope, raw["MsgSignature"], raw["TimeStamp"], nonce
        )
        assert opened == (reply.encode() if isinstance(reply, str) else reply)


# ------------------------------------------------ differential: MsgCrypto.decrypt, large bodies
# Bodies of 2048 bytes or more open in one GIL-free pass in the compiled twin, which hands
# any anomaly to the step-by-step checks: every kind of anomaly must still name the same error.

LARGE_INNER = (
    "<xml><Content><![CDATA[" + "企业微信 large body " * 150 + "]]></Content></xml>"
).encode()
OTHER_KEY = base64.b64encode(bytes(range(32))).decode()[:43]


def _large_body(encrypt: str, agent: str = "218", to_user: str = v.CORP_ID) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>{agent}</AgentID></xml>"
    ).encode()


@st.composite
def large_posts(draw):
    """(body, msg_signature, timestamp, nonce): a signed large POST, perhaps with one defect."""
    from wxcorp_fast import _core_py

    corp = draw(st.sampled_from([v.CORP_ID, v.CORP_ID, "wrongcorp"]))
    key = draw(st.sampled_from([v.ENCODING_AES_KEY, v.ENCODING_AES_KEY, OTHER_KEY]))
    random = draw(st.binary(min_size=16, max_size=16))
    encrypt = _core_py.encrypt_msg(LARGE_INNER, corp, _core_py.decode_aes_key(key), random)
    if draw(st.booleans()):
        edited = draw(mutated(encrypt.encode(), B64_MUTATION_ALPHABET)).decode("latin-1")
        encrypt = edited if len(edited) >= 2048 else encrypt[: len(encrypt) // 2]
    agent = draw(st.sampled_from(["218", " 218 ", "", "+7", "-0", "x1", "9" * 25, "1" * 19]))
    timestamp = draw(st.sampled_from([v.POST_TIMESTAMP, int(v.POST_TIMESTAMP), None, b"1"]))
    nonce = draw(st.sampled_from([v.POST_NONCE, v.POST_NONCE.encode(), 5]))
    signature = (
        _core_py.msg_signature(
            v.TOKEN,
            timestamp if timestamp is not None else "",
            nonce if nonce != 5 else "",
            encrypt,
        )
        if isinstance(timestamp, (str, int, bytes)) and nonce != 5
        else "0" * 40
    )
    signature = draw(
        st.sampled_from(
            [
                signature,
                signature,
                signature.encode(),
                signature[:-1] + "x",
                signature.upper(),
                "签" * 40,
                None,
            ]
        )
    )
    body = _large_body(encrypt, agent)
    body = draw(
        st.sampled_from(
            [
                body,
                body,
                body.decode("latin-1"),
                b"<!DOCTYPE x>" + body,
                body.replace(b"<Encrypt>", b"<Other>"),
            ]
        )
    )
    return body, signature, timestamp, nonce


@needs_both
@given(post=large_posts())
def test_decrypt_large_body_differential(twins, post):
    assert len(post[0]) >= 2048
    same_method(twins, "decrypt", post)


@needs_both
def test_decrypt_large_body_opens(twins):
    from wxcorp_fast import _core_py

    encrypt = _core_py.encrypt_msg(LARGE_INNER, v.CORP_ID, KEY)
    signature = _core_py.msg_signature(v.TOKEN, v.POST_TIMESTAMP, v.POST_NONCE, encrypt)
    for body in (_large_body(encrypt), _large_body(encrypt).decode()):
        result = same_method(twins, "decrypt", (body, signature, v.POST_TIMESTAMP, v.POST_NONCE))
        assert result == ("ok", ("bytes", LARGE_INNER))
