"""The compiled core does not leak: RSS stays flat over hundreds of thousands of calls.

200,000 decrypt+parse and 200,000 encrypt calls, then loops over the error paths (bad
signature, bad base64, bad padding, bad frame, malformed XML, bad numbers), each after a
warm-up, must grow the resident set by less than 2 MB. Marked ``compiled``: the pure twin
only calls into Python and ``cryptography``; valgrind covers the compiled one in depth
(``scripts/memcheck.sh``).
"""

from __future__ import annotations

import base64
import gc
import importlib
import os
import resource
from collections.abc import Callable

import pytest

from wxcorp_fast.testing import vectors as v

from _samples import SAMPLE_MESSAGES, aes_cbc_encrypt

pytestmark = pytest.mark.compiled

LIMIT = 2 * 1024 * 1024
KEY = base64.b64decode(v.ENCODING_AES_KEY + "=")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def core():
    return importlib.import_module("wxcorp_fast._core_c")


def rss() -> int:
    """Resident set size in bytes: /proc/self/statm, else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except FileNotFoundError:  # macOS: ru_maxrss in bytes (a peak, so growth still shows)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def growth(fn: Callable[[], object], calls: int, warmup: int = 20_000) -> int:
    """RSS growth over ``calls`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    gc.collect()
    before = rss()
    for _ in range(calls):
        fn()
    gc.collect()
    return rss() - before


def raising(fn: Callable[[], object], error: type[Exception]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except error:
            return
        raise AssertionError("expected an error")

    return call


@pytest.fixture(scope="module")
def callback(core):
    crypto = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    xml = SAMPLE_MESSAGES["pics"].encode()
    encrypt = core.encrypt_msg(xml, v.CORP_ID, KEY)
    body = (
        f"<xml><ToUserName>{v.CORP_ID}</ToUserName><Encrypt>{encrypt}</Encrypt>"
        "<AgentID>1</AgentID></xml>"
    ).encode()
    sig = core.msg_signature(v.TOKEN, "1", "n", encrypt)
    return crypto, body, sig, xml


def test_decrypt_and_parse_do_not_leak(core, callback):
    crypto, body, sig, xml = callback

    def decrypt_and_parse() -> None:
        msg = core.parse_message(crypto.decrypt(body, sig, "1", "n"))
        assert msg.send_pics_info.count == 2 and msg.raw["AgentID"] == "1"

    assert growth(decrypt_and_parse, 200_000) < LIMIT


def test_encrypt_does_not_leak(core, callback):
    crypto, _, _, xml = callback
    assert growth(lambda: crypto.encrypt(xml, "nonce", 1409659813), 200_000) < LIMIT


def test_large_messages_do_not_leak(core):
    """Heap buffers (over the 4 KB stack buffers) and the GIL-free path."""
    crypto = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    xml = b"<xml><Content>" + b"x" * 16000 + b"</Content></xml>"

    def round_trip() -> None:
        envelope = crypto.encrypt(xml, "n", 1)
        raw = core.parse_message(envelope).raw
        assert core.parse_message(crypto.decrypt(envelope, raw["MsgSignature"], 1, "n")).content

    assert growth(round_trip, 30_000, warmup=5_000) < LIMIT


# Correctly encrypted plaintexts with a bad PKCS#7 pad, an overrunning length, a non-UTF-8 corp_id.
BAD_PAD = aes_cbc_encrypt(b"R" * 16 + b"\x00\x00\x00\x01x" + v.CORP_ID.encode() + b"\x00" * 25, KEY)
BAD_FRAME = aes_cbc_encrypt(b"R" * 16 + b"\xff" * 4 + b"\x0c" * 12, KEY)
BAD_CORP_UTF8 = aes_cbc_encrypt(b"R" * 16 + b"\x00" * 4 + b"\xff" * 11 + b"\x01", KEY)

LARGE_BODY = b"<xml><Encrypt>" + base64.b64encode(bytes(3072)) + b"</Encrypt></xml>"

ERROR_PATHS = {
    "bad-signature": lambda c, m: m.verify_url("0" * 40, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR),
    "bad-base64": lambda c, m: c.decrypt_msg(v.ECHOSTR[:-1] + "*", KEY),
    "bad-length": lambda c, m: c.decrypt_msg(v.ECHOSTR[:-4], KEY),
    "bad-padding": lambda c, m: c.decrypt_msg(BAD_PAD, KEY),
    "bad-frame": lambda c, m: c.decrypt_msg(BAD_FRAME, KEY),
    "bad-corp-utf8": lambda c, m: c.decrypt_msg(BAD_CORP_UTF8, KEY),
    "corp-mismatch": lambda c, m: c.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, "other").verify_url(
        v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR
    ),
    "malformed-xml": lambda c, m: c.parse_message(SAMPLE_MESSAGES["change-contact"].encode()[:-3]),
    "malformed-deep-xml": lambda c, m: c.parse_message(b"<a>" * 60 + b"<b>text</c>"),
    "doctype": lambda c, m: c.parse_message(b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>'),
    "too-deep": lambda c, m: c.parse_message(b"<a>" * 70),
    "bad-number": lambda c, m: c.parse_message(
        b"<xml><Content>x</Content><CreateTime>12x</CreateTime></xml>"
    ),
    "bad-nested-number": lambda c, m: c.parse_message(
        b"<xml><SendLocationInfo><Label>l</Label><Scale>y</Scale></SendLocationInfo></xml>"
    ),
    "no-encrypt": lambda c, m: c.parse_envelope(b"<xml><ToUserName>x</ToUserName></xml>"),
    "post-bad-signature": lambda c, m: m.decrypt(
        v.POST_BODY, "0" * 40, v.POST_TIMESTAMP, v.POST_NONCE
    ),
    "post-large-bad-signature": lambda c, m: m.decrypt(  # the GIL-free pass, then the checks
        LARGE_BODY, "0" * 40, v.POST_TIMESTAMP, v.POST_NONCE
    ),
    "bad-aes-key": lambda c, m: c.decode_aes_key("x" * 42 + "!"),
    "unencodable-signature-part": lambda c, m: c.msg_signature("t", "1", "n", "\udc80"),
}


@pytest.mark.parametrize("name", list(ERROR_PATHS))
def test_error_paths_do_not_leak(core, name):
    crypto = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    fn = ERROR_PATHS[name]
    call = raising(lambda: fn(core, crypto), ValueError)  # every CallbackError is a ValueError
    assert growth(call, 100_000, warmup=10_000) < LIMIT


def test_open_callback_does_not_leak(core):
    """The one-call POST path, opened and refused at each of its checks, small and large."""
    ts, nonce = "1700000000", "nonce"

    def sealed(xml: bytes, corp: str = v.CORP_ID, to: str = v.CORP_ID) -> tuple[dict, bytes]:
        encrypt = core.encrypt_msg(xml, corp, KEY)
        query = {"msg_signature": core.msg_signature(v.TOKEN, ts, nonce, encrypt)}
        query.update(timestamp=ts, nonce=nonce)
        body = f"<xml><ToUserName>{to}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
        return query, body.encode()

    text = (
        f"<xml><ToUserName>{v.CORP_ID}</ToUserName><MsgType>text</MsgType>"
        "<Content>{}</Content><AgentID>0</AgentID></xml>"
    )
    cases = {
        "small": sealed(text.format("hi").encode()),
        "large": sealed(text.format("x" * 5000).encode()),
        "bad XML": sealed(b"<xml><ToUserName>"),
        "other frame corp": sealed(text.format("hi").encode(), corp="wwOther"),
    }
    bad_sig = dict(cases["small"][0], msg_signature="0" * 40)
    cases["bad signature"] = (bad_sig, cases["small"][1])
    for name, (query, body) in cases.items():

        def call(query: dict = query, body: bytes = body, ok: bool = name in ("small", "large")):
            opened = core._open_callback(query, body, v.TOKEN, KEY, "", 0)
            assert (opened is not None) == ok

        assert growth(call, 100_000, 10_000) < LIMIT, name


def test_text_reply_and_plain_query_do_not_leak(core):
    """The one-call writers, written and refused."""
    calls = {
        "text reply": lambda: core._text_reply("zhangsan", "wwcorp", 1409659813, "长" * 50),
        "text reply refused": lambda: core._text_reply("zhangsan", "ww\ud800", 1, "x"),
        "query": lambda: core._plain_query("msg_signature=abc&timestamp=1&nonce=2&x"),
        "query refused": lambda: core._plain_query("a=%20"),
    }
    for name, call in calls.items():
        assert growth(call, 200_000) < LIMIT, name
