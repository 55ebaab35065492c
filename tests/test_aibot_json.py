"""The strict JSON scanners: compiled against pure (hypothesis) and a hostile battery.

Every input goes through both twins' ``AIBotCrypto.decrypt_json`` (the envelope: JSON,
signature, frame) and ``parse_aibot_message`` (the inner message); both must give the same
value, or the same ``(type, code, message)``. Only the contract's errors are captured: any
other exception fails the test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _aibot_samples import AIBOT_MESSAGES, dumps, seal
from hypothesis import example, given
from hypothesis import strategies as st

from wxcorp_fast import _core_py, _spec
from wxcorp_fast.errors import JSONParseError
from wxcorp_fast.messages import AIBOT_FIELDS, AIBotMessage
from wxcorp_fast.testing import vectors as v

from _samples import canonical, outcome

TS, NONCE = "1700000000", "1372623149"
SECRETS = (v.TOKEN, v.ENCODING_AES_KEY)


def _canon(value: Any) -> Any:
    if isinstance(value, AIBotMessage):
        typed = [(name, canonical(getattr(value, name))) for name, _, _ in AIBOT_FIELDS]
        return ("AIBotMessage", typed, canonical(value.raw))
    return canonical(value)


def twins_outcome(name: str, *args: Any) -> tuple[Any, ...]:
    """The outcome of ``name`` on both twins, asserted equal."""
    import importlib

    results = []
    for module in ("wxcorp_fast._core_c", "wxcorp_fast._core_py"):
        core = importlib.import_module(module)
        if name in ("parse_aibot_message", "_json_string"):
            fn = getattr(core, name)
        else:
            fn = getattr(core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY), name)
        result = outcome(fn, *args)
        results.append(("ok", _canon(fn(*args))) if result[0] == "ok" else result)
    assert results[0] == results[1], f"compiled={results[0]!r} python={results[1]!r}"
    return results[1]


def pure_outcome(name: str, *args: Any) -> tuple[Any, ...]:
    if name in ("parse_aibot_message", "_json_string"):
        fn = getattr(_core_py, name)
    else:
        fn = getattr(_core_py.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY), name)
    return outcome(fn, *args)


@pytest.fixture(
    scope="module", params=[pytest.param("compiled", marks=pytest.mark.compiled), "python"]
)
def check(request):
    """Compare both twins (``compiled``) or run the pure twin alone (``python``)."""
    return twins_outcome if request.param == "compiled" else pure_outcome


def envelope_of(text: bytes) -> tuple[bytes, str, str, str]:
    """A body whose encrypt member is signed, for JSON text around it."""
    return text, "0" * 40, TS, NONCE


# --------------------------------------------------------------------------- hostile battery

MB = 1024 * 1024
HOSTILE: dict[str, tuple[bytes, str]] = {
    "empty": (b"", _spec.MSG_JSON_MALFORMED),
    "whitespace": (b" \n\t\r ", _spec.MSG_JSON_MALFORMED),
    "array": (b'[{"encrypt":"x"}]', _spec.MSG_JSON_NOT_OBJECT),
    "string": (b'"encrypt"', _spec.MSG_JSON_NOT_OBJECT),
    "number": (b"1", _spec.MSG_JSON_NOT_OBJECT),
    "null": (b"null", _spec.MSG_JSON_NOT_OBJECT),
    "BOM": (b'\xef\xbb\xbf{"a":1}', _spec.MSG_JSON_NOT_OBJECT),
    "two objects": (b'{"a":1}{"b":2}', _spec.MSG_JSON_MALFORMED),
    "trailing garbage": (b'{"a":1} x', _spec.MSG_JSON_MALFORMED),
    "trailing comma": (b'{"a":1,}', _spec.MSG_JSON_MALFORMED),
    "array trailing comma": (b'{"a":[1,]}', _spec.MSG_JSON_MALFORMED),
    "unterminated": (b'{"a":"x', _spec.MSG_JSON_MALFORMED),
    "unclosed": (b'{"a":1', _spec.MSG_JSON_MALFORMED),
    "single quotes": (b"{'a':1}", _spec.MSG_JSON_MALFORMED),
    "bare key": (b"{a:1}", _spec.MSG_JSON_MALFORMED),
    "comment": (b'{"a":1 /* c */}', _spec.MSG_JSON_MALFORMED),
    "NaN": (b'{"a":NaN}', _spec.MSG_JSON_MALFORMED),
    "Infinity": (b'{"a":-Infinity}', _spec.MSG_JSON_MALFORMED),
    "leading zero": (b'{"a":012}', _spec.MSG_JSON_MALFORMED),
    "plus": (b'{"a":+1}', _spec.MSG_JSON_MALFORMED),
    "bare dot": (b'{"a":1.}', _spec.MSG_JSON_MALFORMED),
    "bare exponent": (b'{"a":1e}', _spec.MSG_JSON_MALFORMED),
    "hex": (b'{"a":0x10}', _spec.MSG_JSON_MALFORMED),
    "True": (b'{"a":True}', _spec.MSG_JSON_MALFORMED),
    "truncated literal": (b'{"a":tru}', _spec.MSG_JSON_MALFORMED),
    "raw NUL": (b'{"a":"x\x00y"}', _spec.MSG_JSON_MALFORMED),
    "raw newline": (b'{"a":"x\ny"}', _spec.MSG_JSON_MALFORMED),
    "NUL outside": (b'{"a":1}\x00', _spec.MSG_JSON_MALFORMED),
    "bad escape": (b'{"a":"\\x41"}', _spec.MSG_JSON_MALFORMED),
    "short unicode escape": (b'{"a":"\\u12"}', _spec.MSG_JSON_MALFORMED),
    "lone high surrogate": (b'{"a":"\\ud800"}', _spec.MSG_JSON_MALFORMED),
    "lone low surrogate": (b'{"a":"\\udc00"}', _spec.MSG_JSON_MALFORMED),
    "high then non-low": (b'{"a":"\\ud800\\u0041"}', _spec.MSG_JSON_MALFORMED),
    "high then text": (b'{"a":"\\ud800x"}', _spec.MSG_JSON_MALFORMED),
    "reversed pair": (b'{"a":"\\udc00\\ud800"}', _spec.MSG_JSON_MALFORMED),
    "surrogate key": (b'{"\\udfff":1}', _spec.MSG_JSON_MALFORMED),
    "invalid UTF-8": (b'{"a":"\xff"}', _spec.MSG_JSON_MALFORMED),
    "truncated UTF-8": (b'{"a":"\xe4\xbd"}', _spec.MSG_JSON_MALFORMED),
    "overlong UTF-8": (b'{"a":"\xc0\xaf"}', _spec.MSG_JSON_MALFORMED),
    "UTF-8 surrogate": (b'{"a":"\xed\xa0\x80"}', _spec.MSG_JSON_MALFORMED),
    "above U+10FFFF": (b'{"a":"\xf4\x90\x80\x80"}', _spec.MSG_JSON_MALFORMED),
    "non-ASCII outside strings": (b'{"a":\xe4\xbd\xa0}', _spec.MSG_JSON_MALFORMED),
    "UTF-16": ('{"a":1}'.encode("utf-16"), _spec.MSG_JSON_NOT_OBJECT),
    "duplicate": (b'{"a":1,"a":2}', _spec.MSG_JSON_DUPLICATE),
    "duplicate by escape": (b'{"a":1,"\\u0061":2}', _spec.MSG_JSON_DUPLICATE),
    "duplicate nested": (b'{"x":{"b":[{"c":1,"c":1}]}}', _spec.MSG_JSON_DUPLICATE),
    "duplicate among many": (
        b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(5000)) + b',"k77":0}',
        _spec.MSG_JSON_DUPLICATE,
    ),
    "duplicate before malformed": (b'{"a":1,"a":2} x', _spec.MSG_JSON_DUPLICATE),
    "malformed before duplicate": (b'{"a":01,"a":2}', _spec.MSG_JSON_MALFORMED),
    "depth 64": (b'{"a":' + b"[" * 63 + b"]" * 63 + b',"encrypt":5}', _spec.MSG_JSON_NO_ENCRYPT),
    "depth 65": (b'{"a":' + b"[" * 64 + b"]" * 64 + b"}", _spec.MSG_JSON_DEPTH),
    "depth 100000": (b'{"a":' + b"[" * 100000, _spec.MSG_JSON_DEPTH),
    "deep objects": (b'{"a":' * 100000, _spec.MSG_JSON_DEPTH),
    "malformed before too deep": (b'{"a":x' + b"[" * 100, _spec.MSG_JSON_MALFORMED),
    "number of 640 bytes": (b'{"a":' + b"9" * 640 + b"}", _spec.MSG_JSON_NO_ENCRYPT),
    "number of 641 bytes": (b'{"a":' + b"9" * 641 + b"}", _spec.MSG_JSON_NUMBER),
    "huge number": (b'{"a":-' + b"9" * MB + b"}", _spec.MSG_JSON_NUMBER),
    "huge exponent": (b'{"a":1e99999999999999999999}', _spec.MSG_JSON_NO_ENCRYPT),
    "long number then garbage": (b'{"a":' + b"1" * 700 + b".x}", _spec.MSG_JSON_NUMBER),
    "1 MB string": (b'{"a":"' + b"x" * MB + b'"}', _spec.MSG_JSON_NO_ENCRYPT),
    "1 MB of escapes": (b'{"a":"' + b"\\n" * (MB // 2) + b'"}', _spec.MSG_JSON_NO_ENCRYPT),
    "1 MB unterminated": (b'{"a":"' + b"x" * MB, _spec.MSG_JSON_MALFORMED),
    "1 MB of keys": (b"{" + b'"":1,' * (MB // 5) + b'"x":1}', _spec.MSG_JSON_DUPLICATE),
    "encrypt not a string": (b'{"encrypt":null}', _spec.MSG_JSON_NO_ENCRYPT),
    "encrypt nested only": (b'{"x":{"encrypt":"abc"}}', _spec.MSG_JSON_NO_ENCRYPT),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_envelope(check, name):
    text, message = HOSTILE[name]
    result = check("decrypt_json", *envelope_of(text))
    assert result == ("error", JSONParseError, -40002, message)
    assert not any(secret in result[3] for secret in SECRETS)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_message(check, name):
    text, message = HOSTILE[name]
    result = check("parse_aibot_message", text)
    if message == _spec.MSG_JSON_NO_ENCRYPT:  # well-formed: a message with no typed field
        assert result[0] == "ok"
    else:
        assert result == ("error", JSONParseError, -40002, message)


def test_str_with_lone_surrogate(check):
    assert check("parse_aibot_message", '{"a":"\ud800"}') == (
        "error",
        JSONParseError,
        -40002,
        _spec.MSG_JSON_MALFORMED,
    )
    assert check("decrypt_json", '{"encrypt":"\udfff"}', "0" * 40, TS, NONCE)[3] == (
        _spec.MSG_JSON_MALFORMED
    )


def test_escapes_in_values_and_keys_decode(check):
    doc = (
        b'{"msgid":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u4f60\\ud83d\\ude00\\u0000",'
        b'"\\u0074ext":{"content":"\\u0041"}}'
    )
    result = check("parse_aibot_message", doc)
    assert result[0] == "ok"
    msg = _core_py.parse_aibot_message(doc)
    assert msg.msgid == 'a"b\\c/d\b\f\n\r\té你😀\x00' and msg.content == "A"


# --------------------------------------------------------------------------- differential

JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            JSON_TEXT | st.sampled_from(["text", "content", "msgid", "event"]), children, max_size=4
        )
    ),
    max_leaves=20,
)


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    """A JSON object, perhaps a real message, serialized in one of several ways."""
    base = draw(
        st.sampled_from(list(AIBOT_MESSAGES.values()))
        | st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=5)
    )
    doc = dict(base)
    for key, value in draw(
        st.dictionaries(
            st.sampled_from(["msgid", "text", "create_time", "from", "mixed", "event", "x"]),
            JSON_VALUES,
            max_size=2,
        )
    ).items():
        doc[key] = value
    style = draw(st.sampled_from(["compact", "ascii", "indent"]))
    if style == "compact":
        return dumps(doc)
    if style == "ascii":
        return json.dumps(doc).encode()
    return json.dumps(doc, indent=draw(st.integers(0, 3)), ensure_ascii=False).encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A JSON document with a few bytes changed, inserted or removed."""
    data = bytearray(draw(json_documents()))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        byte = draw(
            st.sampled_from(list(b'{}[]",:\\ u0-e.\x00\xff\xc3\xa9') + [draw(st.integers(0, 255))])
        )
        if op == "set":
            data[i] = byte
        elif op == "insert":
            data.insert(i, byte)
        else:
            del data[i]
    return bytes(data)


@given(json_documents())
@example(b'{"text":{"content":"\\u00e9"},"create_time":123456789012345678}')
def test_differential_documents(check, data):
    result = check("parse_aibot_message", data)
    if result[0] == "ok":  # and the pure twin's raw is the standard library's reading
        assert _core_py.parse_aibot_message(data).raw == json.loads(data)
    check("decrypt_json", *envelope_of(data))


@given(mutated())
def test_differential_mutations(check, data):
    check("parse_aibot_message", data)
    check("decrypt_json", *envelope_of(data))


@given(st.binary(max_size=64))
def test_differential_bytes(check, data):
    check("parse_aibot_message", data)
    check("decrypt_json", *envelope_of(data))


@given(json_documents(), st.sampled_from(["", "wwcorp"]), st.integers(0, 3))
def test_differential_signed_bodies(check, msg, receive_id, defect):
    """Signed bodies (sometimes tampered) open to the same message on both twins."""
    body, sig, ts, nonce = seal(msg, receive_id)
    if defect == 1:
        sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    elif defect == 2:
        body = body.replace(b'"encrypt"', b'"encrypt":"x","e"', 1)
    elif defect == 3:
        body = body[:-2] + b'=="}'
    result = check("decrypt_json", body, sig, ts, nonce)
    if defect == 0:
        assert result[0] == ("ok" if receive_id == "" else "error")


@given(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
    | st.text(st.sampled_from('"\\\x00\x01\x1f\x7f\b\f\n\r\t aé中😀'), max_size=50)
)
def test_json_string_literals(check, text):
    """The reply writer's string literals: encode_basestring's, on both twins."""
    import json.encoder

    assert check("_json_string", text) == (
        "ok",
        ("bytes", json.encoder.encode_basestring(text).encode("utf-8")),
    )
    assert json.loads(_core_py._json_string(text)) == text
