"""The stream-refresh fast path of the cores: ``_parse_aibot_refresh`` against the full parse,
``AIBotCrypto._open_json`` against the query checks, ``decrypt_json`` and
``_parse_aibot_refresh`` one by one, ``AIBotCrypto._encrypt_stream`` against ``encrypt_json``
of ``render_stream``, both twins.

``_parse_aibot_refresh(data)`` is ``msg.stream_id if msg.msgtype == "stream" else msg`` of
``parse_aibot_message(data)``, errors included (the compiled twin never builds a refresh's
message); ``_encrypt_stream`` is ``encrypt_json(render_stream(...))`` written in one pass.
"""

from __future__ import annotations

import enum
import importlib
import json
from typing import Any

import pytest
from _aibot_samples import AIBOT_MESSAGES, dumps, seal
from hypothesis import example, given
from hypothesis import strategies as st
from test_aibot_json import HOSTILE, _canon, json_documents, mutated

from wxcorp_fast import _core_py, _spec
from wxcorp_fast.aibot.replies import render_stream
from wxcorp_fast.callback.checks import signed_params
from wxcorp_fast.errors import SignatureError
from wxcorp_fast.testing import vectors as v

from _samples import outcome

TWINS = [pytest.param("wxcorp_fast._core_c", marks=pytest.mark.compiled), "wxcorp_fast._core_py"]


@pytest.fixture(scope="module", params=TWINS, ids=["compiled", "python"])
def twin(request: pytest.FixtureRequest) -> Any:
    return importlib.import_module(request.param)


def _expected(data: Any) -> tuple[Any, ...]:
    """What the fast path must give: the full parse's outcome, a refresh as its stream id."""
    result = outcome(_core_py.parse_aibot_message, data)
    if result[0] != "ok":
        return result
    msg = _core_py.parse_aibot_message(data)
    return ("ok", ("str", msg.stream_id)) if msg.msgtype == "stream" else ("ok", _canon(msg))


def _fast(twin: Any, data: Any) -> tuple[Any, ...]:
    result = outcome(twin._parse_aibot_refresh, data)
    return ("ok", _canon(twin._parse_aibot_refresh(data))) if result[0] == "ok" else result


REFRESH = AIBOT_MESSAGES["stream"]
REFRESHES = {
    "sample": dumps(REFRESH),
    "id escaped": b'{"msgtype":"stream","stream":{"id":"a\\u00e9\\"b\\ud83d\\ude00"}}',
    "msgtype escaped": b'{"msgtype":"str\\u0065am","stream":{"id":"x"}}',
    "no stream": b'{"msgtype":"stream"}',
    "id null": b'{"msgtype":"stream","stream":{"id":null}}',
    "stream null": b'{"msgtype":"stream","stream":null}',
    "id empty": b'{"msgtype":"stream","stream":{"id":""}}',
    "id a number": b'{"msgtype":"stream","stream":{"id":1}}',
    "stream a list": b'{"msgtype":"stream","stream":[]}',
    "msgtype a number": b'{"msgtype":5,"stream":{"id":"x"}}',
    "msgtype streams": b'{"msgtype":"streams","stream":{"id":"x"}}',
    "msgtype stre": b'{"msgtype":"stre","stream":{"id":"x"}}',
    "msgtype Stream": b'{"msgtype":"Stream","stream":{"id":"x"}}',
    "create_time wrong": b'{"msgtype":"stream","create_time":"1","stream":{"id":"x"}}',
    "create_time huge": b'{"msgtype":"stream","create_time":1234567890123456789,"stream":{}}',
    "items present": b'{"msgtype":"stream","mixed":{"msg_item":[]},"stream":{"id":"x"}}',
    "items wrong": b'{"msgtype":"stream","mixed":{"msg_item":5},"stream":{"id":"x"}}',
    "duplicate msgtype": b'{"msgtype":"stream","msgtype":"stream","stream":{"id":"x"}}',
    "duplicate id": b'{"msgtype":"stream","stream":{"id":"x","id":"y"}}',
    "trailing garbage": b'{"msgtype":"stream","stream":{"id":"x"}} x',
    "bad UTF-8 after": b'{"msgtype":"stream","stream":{"id":"x"},"z":"\xff"}',
    "lone surrogate after": b'{"msgtype":"stream","stream":{"id":"x"},"z":"\\ud800"}',
    "too deep after": b'{"msgtype":"stream","stream":{"id":"x"},"z":'
    + b"[" * 64
    + b"]" * 64
    + b"}",
    "long number after": b'{"msgtype":"stream","stream":{"id":"x"},"z":' + b"1" * 641 + b"}",
    "str": '{"msgtype":"stream","stream":{"id":"\u4e2d"}}',
    "str lone surrogate": '{"msgtype":"stream","stream":{"id":"\ud800"}}',
    "not text": 5,
}


@pytest.mark.parametrize("name", list(REFRESHES))
def test_refresh_documents(twin, name):
    data = REFRESHES[name]
    assert _fast(twin, data) == _expected(data)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents(twin, name):
    data, message = HOSTILE[name]
    assert _fast(twin, data) == _expected(data)
    assert (_expected(data)[0] == "ok") == (message == _spec.MSG_JSON_NO_ENCRYPT)


@pytest.mark.parametrize("name", list(AIBOT_MESSAGES))
def test_every_sample(twin, name):
    data = dumps(AIBOT_MESSAGES[name])
    result = _fast(twin, data)
    assert result == _expected(data)
    assert (result[1][0] == "str") == (name == "stream")


@given(json_documents() | mutated() | st.binary(max_size=64))
@example(dumps(REFRESH))
def test_differential(twin, data):
    assert _fast(twin, data) == _expected(data)


@given(
    st.dictionaries(st.sampled_from(["msgid", "aibotid", "create_time", "x"]), st.integers()),
    st.text(max_size=40),
    st.sampled_from(["stream", "text", "str\\u0065am", "stream "]),
)
def test_differential_refreshes(twin, extra, stream_id, msgtype):
    doc = json.dumps({**extra, "stream": {"id": stream_id}}).encode()
    data = b'{"msgtype":"' + msgtype.encode() + b'",' + doc[1:]
    assert _fast(twin, data) == _expected(data)


# --------------------------------------------------------------------------- _open_json


def _one_by_one(twin: Any, body: Any, sig: Any, ts: Any, nonce: Any) -> tuple[Any, ...]:
    """What ``_open_json`` must give: ``signed_params``, ``decrypt_json``, then the parse
    (``None`` where it raises)."""
    query = {k: x for k, x in (("msg_signature", sig), ("timestamp", ts), ("nonce", nonce))}
    checked = outcome(signed_params, query)
    if checked[0] != "ok":
        return checked
    opened = outcome(
        twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY).decrypt_json, body, sig, ts, nonce
    )
    if opened[0] != "ok":
        return opened
    data = twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY).decrypt_json(body, sig, ts, nonce)
    parsed = outcome(twin._parse_aibot_refresh, data)
    fast = _canon(twin._parse_aibot_refresh(data)) if parsed[0] == "ok" else None
    return ("ok", (int(ts), data, fast))


def _open(twin: Any, body: Any, sig: Any, ts: Any, nonce: Any) -> tuple[Any, ...]:
    crypto = twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    result = outcome(crypto._open_json, body, sig, ts, nonce)
    if result[0] != "ok":
        return result
    ts_int, data, parsed = crypto._open_json(body, sig, ts, nonce)
    assert type(ts_int) is int and type(data) is bytes
    return ("ok", (ts_int, data, None if parsed is None else _canon(parsed)))


def _sealable(data: object) -> bool:
    """Bytes, or str with a UTF-8 form: what can be encrypted into a body."""
    return isinstance(data, bytes) or (
        isinstance(data, str) and outcome(str.encode, data)[0] == "ok"
    )


@pytest.mark.parametrize(
    "name",
    [n for n, d in REFRESHES.items() if _sealable(d)] + [f"sample {n}" for n in AIBOT_MESSAGES],
)
def test_open_json_is_the_steps_one_by_one(twin, name):
    data = dumps(AIBOT_MESSAGES[name[7:]]) if name.startswith("sample ") else REFRESHES[name]
    if isinstance(data, str):
        data = data.encode()
    body, sig, ts, nonce = seal(data)
    expected = _one_by_one(twin, body, sig, ts, nonce)
    assert _open(twin, body, sig, ts, nonce) == expected
    parsed = expected[1][2]
    if _expected(data)[0] == "error":
        assert parsed is None  # said by _parse_aibot_refresh, after the replay check
    else:
        assert parsed is not None


TIMESTAMPS = [
    "1700000000",
    "0",
    "0001700000000",
    "9" * 18,
    "9" * 19,
    "1" + "0" * 19,
    "9" * 20,
    "18446744073709551615",
    "18446744073709551616",
    "9" * 21,
    "",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1.0",
    "1e3",
    "0x1",
    "\uff11",
    "\u0661",
    "1\u00b2",
    "１２",
    "٣",
    "12a",
    "\x00",
]


@pytest.mark.parametrize("ts", TIMESTAMPS)
def test_open_json_query_checks(twin, ts):
    """The timestamp's checks and value are signed_params's, before the body is opened."""
    body, sig, _, nonce = seal(
        dumps(REFRESH), timestamp=ts if ts.isdigit() and ts.isascii() else "1"
    )
    assert _open(twin, body, sig, ts, nonce) == _one_by_one(twin, body, sig, ts, nonce)
    assert _open(twin, b"not json", sig, ts, nonce) == _one_by_one(
        twin, b"not json", sig, ts, nonce
    )


@pytest.mark.parametrize(
    "sig, ts, nonce",
    [
        (None, "1", "n"),
        ("s", None, "n"),
        ("s", "1", None),
        ("", "1", "n"),
        ("s", "", "n"),
        ("s", "1", ""),
        (None, "x", None),
        ("", "x", "n"),
    ],
)
def test_open_json_missing_parameters(twin, sig, ts, nonce):
    """A missing or empty parameter is said before a bad timestamp or body."""
    result = _open(twin, b"not json", sig, ts, nonce)
    assert result == ("error", SignatureError, -40001, _spec.MSG_MISSING_PARAMS)
    assert result == _one_by_one(twin, b"not json", sig, ts, nonce)


@pytest.mark.parametrize("ts", [1700000000, b"1700000000", 1.5, ["1"]])
def test_open_json_timestamp_not_str(twin, ts):
    """The query's values are str: any other timestamp is not one (signed_params would fail
    on it in its own ways)."""
    body, sig, _, nonce = seal(dumps(REFRESH))
    assert _open(twin, body, sig, ts, nonce) == (
        "error",
        SignatureError,
        -40001,
        _spec.MSG_TIMESTAMP,
    )


@given(
    st.text(alphabet="0123456789١a ", max_size=24) | st.integers(0, 10**22).map(str),
    st.binary(max_size=48) | json_documents(),
)
def test_open_json_differential(twin, ts, inner):
    """Random timestamps and messages: the same as the steps one by one, and the compiled
    twin the same as the pure one."""
    body, sig, _, nonce = seal(inner, timestamp=ts or "1")
    result = _open(twin, body, sig, ts, nonce)
    assert result == _one_by_one(twin, body, sig, ts, nonce)
    assert result == _open(_core_py, body, sig, ts, nonce)


# --------------------------------------------------------------------------- _encrypt_stream


class Stamp(enum.IntEnum):
    A = 1409659813


def _opened(twin: Any, crypto: Any, envelope: bytes) -> tuple[bytes, dict[str, Any]]:
    """The inner JSON of a reply envelope (checked), and the envelope's other members."""
    doc = json.loads(envelope)
    body = json.dumps({"encrypt": doc.pop("encrypt")}).encode()
    sig = doc.pop("msgsignature")
    return crypto.decrypt_json(body, sig, str(doc["timestamp"]), doc["nonce"]), doc


TEXTS = st.text(max_size=60) | st.text(st.sampled_from('"\\\x00\x1f\x7faé中😀\u2028'), max_size=30)
STAMPS = (
    st.none()
    | st.integers(-5, 10**20)
    | st.sampled_from([0, 10**18 - 1, 10**18, 2**63, 2**64, True, Stamp.A, 1.0])
    | st.sampled_from(["0", "00", "01", "7", "1409659813", "9" * 18, "9" * 19, "9" * 40, ""])
    | st.sampled_from(["1a", " 1", "\u0661", "١٢", "1\x00"])
)
NONCES = st.sampled_from(["1372623149", 'a"b\\c', "\\", '"', " ", "~", "", "é", "a\nb", 5])


@given(
    TEXTS | st.sampled_from([None, b"x", 5]),
    TEXTS | st.sampled_from([None, b"x"]),
    st.sampled_from([True, False, 0, 1, "", "x", None, []]),
    NONCES,
    STAMPS,
    st.sampled_from(["", "wwcorp"]),
)
@example("s" * 32, "x" * 300, False, "1372623149", 1409659813, "")
@example("s", "中" * 20000, True, "n", "1", "")
def test_encrypt_stream_is_encrypt_json_of_render_stream(
    twin, stream_id, content, finish, nonce, timestamp, receive_id
):
    crypto = twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, receive_id)

    def reference() -> bytes:
        inner = b"".join(
            (
                b'{"msgtype":"stream","stream":{"id":',
                _core_py._json_string(stream_id),
                b',"finish":true,"content":' if finish else b',"finish":false,"content":',
                _core_py._json_string(content),
                b"}}",
            )
        )
        out: bytes = _core_py.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, receive_id).encrypt_json(
            inner, nonce, timestamp
        )
        return out

    expected = outcome(reference)
    got = outcome(crypto._encrypt_stream, stream_id, content, finish, nonce, timestamp)
    assert got[0] == expected[0]
    if got[0] == "error":
        assert got == expected
        return
    out = crypto._encrypt_stream(stream_id, content, finish, nonce, timestamp)
    inner, rest = _opened(twin, crypto, out)
    ref_inner, ref_rest = _opened(twin, crypto, reference())
    assert inner == ref_inner
    if isinstance(stream_id, str) and isinstance(content, str):
        assert inner == render_stream(stream_id, content, bool(finish))
    if timestamp is None:  # now, read twice
        assert abs(rest.pop("timestamp") - ref_rest.pop("timestamp")) <= 1
    assert rest == ref_rest
    assert len(out) == len(reference())


@pytest.mark.parametrize("fill", ["a", "\x01", '"', "a\n", "ab\\cdefghij", "中"])
def test_encrypt_stream_either_side_of_the_one_pass_limit(twin, fill):
    """The compiled twin quotes a reply whose longest literals fit a 4096-byte frame in one
    pass (around 660 bytes of id and content), a longer one measured first: contents of
    every length across that limit and several AES blocks, from no escape to all \\u00xx."""
    crypto = twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "wwcorp")
    for n in range(600, 700):
        for stream_id in ("s", "\x01" * 20):
            content = (fill * n)[:n]
            out = crypto._encrypt_stream(stream_id, content, 1, "n", 7)
            inner, rest = _opened(twin, crypto, out)
            assert inner == render_stream(stream_id, content, True)
            assert rest == {"timestamp": 7, "nonce": "n"}


@given(TEXTS, NONCES, STAMPS)
def test_encrypt_json_twins_agree(twin, text, nonce, timestamp):
    """encrypt_json's nonce and timestamp: the compiled writer's digits and escapes."""
    inner = _core_py._json_string(text)
    crypto = twin.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    pure = _core_py.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    got = outcome(crypto.encrypt_json, inner, nonce, timestamp)
    expected = outcome(pure.encrypt_json, inner, nonce, timestamp)
    assert got[0] == expected[0]
    if got[0] == "error":
        assert got == expected
        return
    opened, rest = _opened(twin, crypto, crypto.encrypt_json(inner, nonce, timestamp))
    ref_opened, ref_rest = _opened(twin, crypto, pure.encrypt_json(inner, nonce, timestamp))
    assert opened == ref_opened == inner
    if timestamp is None:
        assert abs(rest.pop("timestamp") - ref_rest.pop("timestamp")) <= 1
    assert rest == ref_rest


# --------------------------------------------------------------------------- AIBotServer


class ListStore:
    """A stream store answering with a list of three (only the first two are read)."""

    def __init__(self, content: object) -> None:
        self.content = content

    def create(self, stream_id: str, content: str, finished: bool) -> None:
        raise AssertionError("not created here")

    def publish(self, stream_id: str, content: str, finished: bool) -> bool:
        raise AssertionError("not published here")

    def get(self, stream_id: str) -> Any:
        return [self.content, 1, "ignored"]


@pytest.mark.parametrize("name", list(REFRESHES))
def test_server_answers_refreshes_as_the_full_parse_says(name):
    """Refreshes are answered from the store with render_stream's bytes; other documents go
    to the handler; rejected ones get the full parse's 400."""
    from wxcorp_fast.aibot import AIBotServer, MemoryStreamStore
    from wxcorp_fast.testing import AIBotSimulator

    data = REFRESHES[name]
    if not isinstance(data, (bytes, str)) or outcome(str.encode, data)[0] != "ok":
        return  # the simulator only posts what has a UTF-8 form
    raw = data.encode() if isinstance(data, str) else data
    store = MemoryStreamStore()
    expected = _expected(raw)
    if expected[0] == "ok" and expected[1][0] == "str" and expected[1][1]:
        store.create(expected[1][1], 'streamed 中 "so far"', False)
    handled: list[Any] = []
    app = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, handled.append, stream_store=store)
    result = AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY).post_json(app, raw)
    if expected[0] == "error":
        assert result.status == 400 and expected[1].__name__.encode() in result.body
    elif expected[1][0] == "str":
        sid = expected[1][1]
        state = store.get(sid) if sid else None
        assert result.reply == render_stream(sid, *(state or ("", True)))
        assert handled == []
    else:
        assert result.status == 200 and len(handled) == 1


def test_server_refresh_reads_two_items_of_the_store_answer():
    from wxcorp_fast.aibot import AIBotServer
    from wxcorp_fast.testing import AIBotSimulator

    sim = AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY)
    refresh = dumps(REFRESH)
    app = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, print, stream_store=ListStore("abc"))
    assert sim.post_json(app, refresh).reply == render_stream("STREAMID", "abc", True)
    app = AIBotServer(v.TOKEN, v.ENCODING_AES_KEY, print, stream_store=ListStore(b"abc"))
    with pytest.raises(TypeError, match="text must be str"):  # as render_stream refuses it
        sim.post_json(app, refresh)
