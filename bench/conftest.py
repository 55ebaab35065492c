"""Benchmark fixtures: the two twins and wechatpy 1.8.18 on the same messages.

Every benchmark takes ``impl`` (compiled / python / wechatpy) so that one run of
``pytest bench --benchmark-group-by=group`` puts the three side by side; ``report.py``
turns that run into the ratio table of README.md.
"""

from __future__ import annotations

import importlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from wxcorp_fast.testing import vectors as v

# the project's test machinery, shared with tests/ by import
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _twins import compiled_disabled, pytest_addoption  # noqa: E402,F401 - --no-compiled

SIZES = (300, 2048, 16384)
#: The texts of the core table: ASCII, pure CJK, and chat that mixes them (30% CJK).
ALPHABETS = ("ascii", "cjk", "mix30")
#: Every text: ``mixNN`` is NN% CJK characters scattered among ASCII words, digits and
#: punctuation (see ``mixed_text``).
TEXTS = ("ascii", "mix10", "mix30", "mix70", "cjk")
NONCE = "1372623149"
TIMESTAMP = "1409659813"


def text_message(size: int, alphabet: str) -> bytes:
    """A text message whose inner XML is exactly ``size`` bytes of UTF-8."""
    head = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        "<FromUserName><![CDATA[mycreate]]></FromUserName><CreateTime>1409659813</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
    )
    tail = "]]></Content><MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>"
    room = size - len((head + tail).encode())
    if alphabet.startswith("mix"):
        content = mixed_text(room, int(alphabet[3:]) / 100, seed=size).encode()[:room]
    else:
        unit = "企业微信消息" if alphabet == "cjk" else "hello, world "
        content = (unit * (room // len(unit.encode()) + 1)).encode()[:room]
    while True:  # cut on a character boundary, then pad with ASCII to the exact size
        try:
            text = content.decode()
            break
        except UnicodeDecodeError:
            content = content[:-1]
    text += "x" * (room - len(text.encode()))
    xml = (head + text + tail).encode()
    assert len(xml) == size
    return xml


_CJK_PUNCTUATION = "，。！？、：；“”（）"  # full-width and CJK punctuation, 3 bytes each
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_PUNCTUATION = ",.!?:;()-/@#%+='\""


def mixed_text(size: int, cjk_ratio: float, seed: int = 0) -> str:
    """Chat-like text of at least ``size`` characters, ``cjk_ratio`` of them CJK.

    As real chat mixes scripts: runs of 1-4 CJK characters (CJK Unified Ideographs, one
    in ten a full-width punctuation mark) between ASCII words, numbers and punctuation,
    often without a space between the scripts. Deterministic for a given seed.
    """
    rng = random.Random(seed)
    parts: list[str] = []
    cjk = total = 0
    while total < size:
        if cjk < cjk_ratio * (total + 1):
            run = rng.randint(1, 4)
            parts += [
                rng.choice(_CJK_PUNCTUATION)
                if rng.random() < 0.1
                else chr(rng.randint(0x4E00, 0x9FA5))
                for _ in range(run)
            ]
            cjk += run
            total += run
            continue
        pick = rng.random()
        if pick < 0.6:
            word = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 9)))
        elif pick < 0.8:
            word = str(rng.randint(0, 10 ** rng.randint(1, 6)))
        else:
            word = rng.choice(_ASCII_PUNCTUATION)
        if rng.random() < 0.5:
            word += " "
        parts.append(word)
        total += len(word)
    return "".join(parts)


@dataclass(frozen=True)
class Sample:
    """One signed callback and the reply to it."""

    text: str  # one of TEXTS
    xml: bytes
    body: bytes
    msg_signature: str
    echostr: str
    echo_signature: str


def make_sample(size: int, alphabet: str) -> Sample:
    from wxcorp_fast import _core_py

    xml = text_message(size, alphabet)
    crypto = _core_py.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    envelope = crypto.encrypt(xml, NONCE, TIMESTAMP)
    encrypt = _core_py.parse_envelope(envelope).encrypt
    body = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    ).encode()
    return Sample(
        text=alphabet,
        xml=xml,
        body=body,
        msg_signature=_core_py.msg_signature(v.TOKEN, TIMESTAMP, NONCE, encrypt),
        echostr=v.ECHOSTR,
        echo_signature=v.ECHO_MSG_SIGNATURE,
    )


@dataclass(frozen=True)
class Impl:
    """The three operations, bound to one implementation."""

    name: str
    decrypt_parse: Callable[[Sample], Any]
    encrypt_reply: Callable[[bytes], Any]
    verify_url: Callable[[Sample], Any]


def _ours(module_name: str) -> Impl:
    core = importlib.import_module(module_name)
    crypto = core.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    decrypt, parse, encrypt = crypto.decrypt, core.parse_message, crypto.encrypt
    verify = crypto.verify_url

    return Impl(
        name=module_name,
        decrypt_parse=lambda s: parse(decrypt(s.body, s.msg_signature, TIMESTAMP, NONCE)),
        encrypt_reply=lambda xml: encrypt(xml, NONCE, TIMESTAMP),
        verify_url=lambda s: verify(s.echo_signature, v.ECHO_TIMESTAMP, v.ECHO_NONCE, s.echostr),
    )


def _wechatpy() -> Impl:
    from wechatpy.enterprise import parse_message
    from wechatpy.enterprise.crypto import WeChatCrypto

    crypto = WeChatCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    return Impl(
        name="wechatpy",
        decrypt_parse=lambda s: parse_message(
            crypto.decrypt_message(s.body, s.msg_signature, TIMESTAMP, NONCE)
        ),
        encrypt_reply=lambda xml: crypto.encrypt_message(xml, NONCE, TIMESTAMP),
        verify_url=lambda s: crypto.check_signature(
            s.echo_signature, v.ECHO_TIMESTAMP, v.ECHO_NONCE, s.echostr
        ),
    )


IMPLS: dict[str, Callable[[], Impl]] = {
    "compiled": lambda: _ours("wxcorp_fast._core_c"),
    "python": lambda: _ours("wxcorp_fast._core_py"),
    "wechatpy": _wechatpy,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the compiled benchmarks in pure mode or with --no-compiled."""
    if not compiled_disabled(config):
        return
    kept = [
        item
        for item in items
        if "[compiled" not in item.nodeid and item.get_closest_marker("compiled") is None
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


@pytest.fixture(scope="session", params=list(IMPLS))
def impl(request: pytest.FixtureRequest) -> Impl:
    return IMPLS[request.param]()


@pytest.fixture(
    scope="session",
    params=[(n, a) for n in SIZES for a in ALPHABETS],
    ids=lambda p: f"{p[0]}B-{p[1]}",
)
def sample(request: pytest.FixtureRequest) -> Sample:
    return make_sample(*request.param)


def now() -> float:
    return time.perf_counter()
