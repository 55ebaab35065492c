"""The compiled AI-bot code does not leak: RSS stays flat over many calls, error paths too.

Same method as ``test_leaks.py`` (its helpers): a warm-up, then the growth of the resident
set over the calls must stay under 2 MB. Covers the key stack and unescaped-key buffer of the
JSON scanner (many and escaped keys), the GIL-free body path and its heap buffers, the
lazily parsed ``raw``, and every JSON error.
"""

from __future__ import annotations

import importlib
import json

import pytest
from _aibot_samples import AIBOT_MESSAGES, dumps, seal
from test_leaks import LIMIT, growth, raising

from wxcorp_fast.testing import vectors as v

pytestmark = pytest.mark.compiled


@pytest.fixture(scope="module")
def core():
    return importlib.import_module("wxcorp_fast._core_c")


@pytest.mark.parametrize("size", [300, 20000])
def test_round_trip_does_not_leak(core, size):
    crypto = core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    msg = dict(AIBOT_MESSAGES["text"], text={"content": "x" * size})
    body, sig, ts, nonce = seal(dumps(msg))
    escaped = body.replace(b"/", b"\\/")

    def round_trip() -> None:
        data = crypto.decrypt_json(escaped, sig, ts, nonce)
        parsed = core.parse_aibot_message(data)
        assert parsed.raw["msgtype"] == "text" and parsed.content
        reply = crypto.encrypt_json(data, nonce, ts)
        assert reply.startswith(b'{"encrypt":"')

    assert growth(round_trip, 30_000 if size > 1000 else 100_000, warmup=5_000) < LIMIT


def test_many_and_escaped_keys_do_not_leak(core):
    doc = b"{" + b",".join(b'"k\\u00%02x%d":[{"a":1}]' % (i % 256, i) for i in range(200)) + b"}"
    complex_doc = dumps(AIBOT_MESSAGES["template_card_event"])
    assert growth(lambda: core.parse_aibot_message(doc), 20_000, warmup=2_000) < LIMIT
    assert growth(lambda: core.parse_aibot_message(complex_doc), 50_000) < LIMIT


BIG_BAD = json.dumps({"encrypt": "A" * 4000}).encode()
ERRORS = {
    "malformed": b'{"a":1,}',
    "depth": b'{"a":' + b"[" * 100,
    "duplicate": b"{" + b",".join(b'"k%d":1' % i for i in range(40)) + b',"k3":1}',
    "escaped-duplicate": b'{"a\\n":1,"a\\u000a":1}',
    "number": b'{"a":' + b"1" * 700 + b"}",
    "not-object": b"[]",
    "wrong-type": b'{"msgid":1}',
    "no-encrypt": b'{"x":"y"}',
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_error_paths_do_not_leak(core, name):
    crypto = core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    data = ERRORS[name]

    def both() -> None:
        raising(lambda: core.parse_aibot_message(data), ValueError)()
        raising(lambda: crypto.decrypt_json(data, "0" * 40, "1", "n"), ValueError)()

    if name in ("no-encrypt", "wrong-type"):  # parse accepts one, the envelope the other
        both = raising(lambda: crypto.decrypt_json(data, "0" * 40, "1", "n"), ValueError)
    assert growth(both, 50_000, warmup=5_000) < LIMIT


def test_large_bad_signature_does_not_leak(core):
    """The GIL-free pass fails, then the step-by-step checks raise."""
    crypto = core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY)
    call = raising(lambda: crypto.decrypt_json(BIG_BAD, "0" * 40, "1", "n"), ValueError)
    assert growth(call, 50_000, warmup=5_000) < LIMIT
