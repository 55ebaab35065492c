"""Differential tests against wechatpy 1.8.18 (docs/reference.md section 7, issue 2 point 4).

- wechatpy's encryptions open with our core and ours with wechatpy; signatures agree.
- ``wxcorp_fast.compat.wechatpy.WeChatCrypto`` gives wechatpy's exact outputs (same str,
  byte for byte) for the same inputs, with the frame's random pinned on both sides:
  wechatpy's through ``BasePrpCrypto.get_random_string`` (monkeypatched here only), ours
  through the ``get_random_bytes`` hook of a subclass.
- Failures raise wechatpy's exception classes, or ours when wechatpy is absent.

The drop-in runs on each twin: the ``drop_in`` fixture points it at ``core_impl``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import _get_signature
from wechatpy.crypto.base import BasePrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WechatpyPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WechatpyCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException, WeChatException
from wechatpy.replies import TextReply

import wxcorp_fast
from wxcorp_fast import _spec, errors
from wxcorp_fast.compat import wechatpy as compat
from wxcorp_fast.testing import vectors as v

from _samples import aes_cbc_encrypt

RANDOM = "aBcDeFgH12345678"  # wechatpy draws 16 alphanumerics; any 16 bytes work for us
KEY = compat.WeChatCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID).key
CREDENTIALS = (v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
FIXED_NOW = 1_700_000_000.75
HYPOTHESIS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

xml_text = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, exclude_categories=("Cs",), exclude_characters="\ufffe\uffff"
    ),
    max_size=300,
) | st.sampled_from(["", "企业微信 😀", "<xml><Content><![CDATA[a]]></Content></xml>", "x" * 5000])
nonces = st.text(alphabet="0123456789abcdefABCDEF-_", min_size=1, max_size=20)


class PinnedCrypto(compat.WeChatCrypto):
    """The drop-in with wechatpy's pinned random."""

    def get_random_bytes(self) -> bytes:
        return RANDOM.encode()


@pytest.fixture
def pinned_wechatpy(monkeypatch):
    """wechatpy with its random prefix pinned (the test-only monkeypatch)."""
    monkeypatch.setattr(BasePrpCrypto, "get_random_string", lambda self: RANDOM)
    return WechatpyCrypto(*CREDENTIALS)


@pytest.fixture
def drop_in(core_impl, monkeypatch):
    """The drop-in class, running on the twin under test."""
    monkeypatch.setattr(compat, "core", core_impl.imported_module)
    return PinnedCrypto


@pytest.fixture
def frozen_time(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: FIXED_NOW)
    return str(int(FIXED_NOW))


def wechatpy_envelope_fields(envelope: str) -> dict[str, str]:
    import xmltodict

    return dict(xmltodict.parse(envelope)["xml"])


# --------------------------------------------------------------------------- interop with the core


def test_docs_vectors_through_wechatpy():
    wp = WechatpyCrypto(*CREDENTIALS)
    assert (
        wp.check_signature(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
        == "1616140317555161061"
    )
    inner = wp.decrypt_message(v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)
    assert "<Content><![CDATA[hello]]></Content>" in inner


@HYPOTHESIS
@given(reply=xml_text, nonce=nonces, timestamp=st.integers(0, 2**33).map(str))
def test_wechatpy_encryptions_open_with_ours(core_impl, reply, nonce, timestamp):
    envelope = WechatpyCrypto(*CREDENTIALS).encrypt_message(reply, nonce, timestamp)
    fields = wechatpy_envelope_fields(envelope)
    crypto = core_impl.MsgCrypto(*CREDENTIALS)
    assert crypto.decrypt(envelope, fields["MsgSignature"], timestamp, nonce) == reply.encode()
    assert (
        crypto.decrypt(envelope.encode(), fields["MsgSignature"], int(timestamp), nonce)
        == reply.encode()
    )
    _, msg, corp = core_impl.decrypt_msg(fields["Encrypt"], KEY)
    assert (msg, corp) == (reply.encode(), v.CORP_ID)


@HYPOTHESIS
@given(reply=xml_text, nonce=nonces, timestamp=st.integers(0, 2**33))
def test_our_encryptions_open_with_wechatpy(core_impl, reply, nonce, timestamp):
    envelope = core_impl.MsgCrypto(*CREDENTIALS).encrypt(reply, nonce, timestamp)
    fields = wechatpy_envelope_fields(envelope.decode())
    wp = WechatpyCrypto(*CREDENTIALS)
    assert wp.decrypt_message(envelope, fields["MsgSignature"], str(timestamp), nonce) == reply
    # the GET check too: an echostr made by our core
    echostr = core_impl.encrypt_msg(reply or "echo", v.CORP_ID, KEY)
    sig = core_impl.msg_signature(v.TOKEN, timestamp, nonce, echostr)
    assert wp.check_signature(sig, str(timestamp), nonce, echostr) == (reply or "echo")


@HYPOTHESIS
@given(reply=xml_text)
def test_same_ciphertext_with_same_random(core_impl, pinned_wechatpy, reply):
    theirs = WechatpyPrpCrypto(KEY).encrypt(reply, v.CORP_ID).decode()
    ours = core_impl.encrypt_msg(reply, v.CORP_ID, KEY, RANDOM.encode())
    assert ours == theirs


@given(
    token=st.text(max_size=30),
    timestamp=st.integers(1, 2**40) | st.text(min_size=1, max_size=12),
    nonce=st.text(min_size=1, max_size=20),
    encrypt=st.text(min_size=1, max_size=200),
)
def test_signatures_equal(core_impl, token, timestamp, nonce, encrypt):
    assert core_impl.msg_signature(token, timestamp, nonce, encrypt) == _get_signature(
        token, timestamp, nonce, encrypt
    )


# --------------------------------------------------------------------------- the drop-in


def test_drop_in_api_shape():
    crypto = compat.WeChatCrypto(*CREDENTIALS)
    theirs = WechatpyCrypto(*CREDENTIALS)
    assert (crypto.key, crypto.token, crypto.corp_id) == (theirs.key, theirs.token, theirs.corp_id)
    assert v.TOKEN not in repr(crypto) and v.ENCODING_AES_KEY not in repr(crypto)
    assert (
        len(crypto.get_random_bytes()) == 16
        and crypto.get_random_bytes() != crypto.get_random_bytes()
    )


def test_drop_in_docs_vectors(drop_in):
    crypto = drop_in(*CREDENTIALS)
    echo = crypto.check_signature(v.ECHO_MSG_SIGNATURE, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
    assert echo == "1616140317555161061" and type(echo) is str
    inner = crypto.decrypt_message(
        v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE
    )
    expected = WechatpyCrypto(*CREDENTIALS).decrypt_message(
        v.POST_BODY, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE
    )
    assert inner == expected and type(inner) is str


@HYPOTHESIS
@given(
    reply=xml_text | xml_text.map(str.encode),
    nonce=nonces,
    timestamp=st.integers(1, 2**33) | st.integers(1, 2**33).map(str),
)
def test_drop_in_encrypt_message_is_wechatpys(drop_in, pinned_wechatpy, reply, nonce, timestamp):
    ours = drop_in(*CREDENTIALS).encrypt_message(reply, nonce, timestamp)
    theirs = pinned_wechatpy.encrypt_message(reply, nonce, timestamp)
    assert ours == theirs and type(ours) is str


@pytest.mark.parametrize("timestamp", [None, 0, ""], ids=repr)
def test_drop_in_timestamp_or_now(drop_in, pinned_wechatpy, frozen_time, timestamp):
    ours = drop_in(*CREDENTIALS).encrypt_message("<xml/>", "nonce", timestamp)
    assert ours == pinned_wechatpy.encrypt_message("<xml/>", "nonce", timestamp)
    assert f"<TimeStamp>{frozen_time}</TimeStamp>" in ours


def test_drop_in_envelope_layout(drop_in):
    envelope = drop_in(*CREDENTIALS).encrypt_message("<xml/>", "n0nce", "1409659813")
    lines = envelope.split("\n")
    assert lines[0] == "<xml>" and lines[-1] == "</xml>" and len(lines) == 6
    assert (
        lines[3] == "<TimeStamp>1409659813</TimeStamp>"
        and lines[4] == "<Nonce><![CDATA[n0nce]]></Nonce>"
    )


@pytest.mark.parametrize(
    "msg",
    [None, 12345, b"\xe4\xbd\xa0\xe5\xa5\xbd", "", b""],
    ids=repr,
)
def test_drop_in_converts_like_wechatpy(drop_in, pinned_wechatpy, msg):
    ours = drop_in(*CREDENTIALS).encrypt_message(msg, 123, 456)
    assert ours == pinned_wechatpy.encrypt_message(msg, 123, 456)


def test_drop_in_renders_wechatpy_replies(drop_in, pinned_wechatpy):
    reply = TextReply(content="你好 <&>", source="corp", target="user", time=1409659813)
    ours = drop_in(*CREDENTIALS).encrypt_message(reply, "nonce", "1409659813")
    assert ours == pinned_wechatpy.encrypt_message(reply, "nonce", "1409659813")
    fields = wechatpy_envelope_fields(ours)
    opened = WechatpyCrypto(*CREDENTIALS).decrypt_message(
        ours, fields["MsgSignature"], "1409659813", "nonce"
    )
    assert opened == reply.render()


@HYPOTHESIS
@given(
    reply=xml_text,
    nonce=nonces,
    timestamp=st.integers(1, 2**33).map(str),
    as_dict=st.booleans(),
    as_bytes=st.booleans(),
)
def test_drop_in_decrypt_message_is_wechatpys(drop_in, reply, nonce, timestamp, as_dict, as_bytes):
    envelope = WechatpyCrypto(*CREDENTIALS).encrypt_message(reply, nonce, timestamp)
    fields = wechatpy_envelope_fields(envelope)
    message = fields if as_dict else (envelope.encode() if as_bytes else envelope)
    ours = drop_in(*CREDENTIALS).decrypt_message(message, fields["MsgSignature"], timestamp, nonce)
    theirs = WechatpyCrypto(*CREDENTIALS).decrypt_message(
        message, fields["MsgSignature"], timestamp, nonce
    )
    assert ours == theirs == reply and type(ours) is str


def test_drop_in_decrypts_whitespace_around_encrypt_as_wechatpy(drop_in):
    body = v.POST_BODY.replace(b"<Encrypt><![CDATA[", b"<Encrypt>\n  <![CDATA[").replace(
        b"]]></Encrypt>", b"]]>\n</Encrypt>"
    )
    args = (body, v.POST_MSG_SIGNATURE, v.POST_TIMESTAMP, v.POST_NONCE)
    assert drop_in(*CREDENTIALS).decrypt_message(*args) == WechatpyCrypto(
        *CREDENTIALS
    ).decrypt_message(*args)


@given(echo=xml_text.filter(bool), nonce=nonces, timestamp=st.integers(1, 2**33).map(str))
def test_drop_in_check_signature_is_wechatpys(core_impl, echo, nonce, timestamp):
    echostr = core_impl.encrypt_msg(echo, v.CORP_ID, KEY)
    sig = core_impl.msg_signature(v.TOKEN, timestamp, nonce, echostr)
    ours = compat.WeChatCrypto(*CREDENTIALS).check_signature(sig, timestamp, nonce, echostr)
    assert (
        ours == WechatpyCrypto(*CREDENTIALS).check_signature(sig, timestamp, nonce, echostr) == echo
    )


# --------------------------------------------------------------------------- errors


def wrong_corp_echostr() -> str:
    plain = b"R" * 16 + b"\x00\x00\x00\x02ok" + b"wxOtherCorp" + b"\x1f" * 31
    return aes_cbc_encrypt(plain, KEY)


def test_wrong_signature_raises_wechatpys_class(drop_in):
    for crypto in (drop_in(*CREDENTIALS), WechatpyCrypto(*CREDENTIALS)):
        with pytest.raises(InvalidSignatureException) as info:
            crypto.check_signature("0" * 40, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
        assert (info.value.errcode, info.value.errmsg) == (-40001, "Invalid signature")
        with pytest.raises(InvalidSignatureException):
            crypto.decrypt_message(
                v.POST_BODY, v.POST_MSG_SIGNATURE.upper(), v.POST_TIMESTAMP, v.POST_NONCE
            )
        with pytest.raises(
            InvalidSignatureException
        ):  # wechatpy compares str with !=: bytes never match
            crypto.check_signature(
                v.ECHO_MSG_SIGNATURE.encode(), v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR
            )


def test_wrong_corp_id_raises_wechatpys_class(drop_in):
    echostr = wrong_corp_echostr()
    sig = _get_signature(v.TOKEN, "1", "n", echostr)
    for crypto in (drop_in(*CREDENTIALS), WechatpyCrypto(*CREDENTIALS)):
        with pytest.raises(InvalidCorpIdException) as info:
            crypto.check_signature(sig, "1", "n", echostr)
        assert (info.value.errcode, info.value.errmsg) == (-40005, "Invalid corp_id")


@pytest.mark.parametrize(
    ("echostr", "code", "message"),
    [
        ("not base64!", -40010, _spec.MSG_B64_CHAR),
        (v.ECHOSTR[:-1], -40010, _spec.MSG_B64_PAD),
        ("AAAA", -40007, _spec.MSG_CT_LENGTH),
        (aes_cbc_encrypt(b"x" * 31 + b"\x00", KEY), -40007, _spec.MSG_PAD),
        (
            aes_cbc_encrypt(b"R" * 16 + b"\xff" * 4 + b"\x0c" * 12, KEY),
            -40007,
            _spec.MSG_FRAME_LENGTH,
        ),
    ],
    ids=["bad-char", "bad-padding", "short", "bad-pkcs7", "bad-frame"],
)
def test_other_failures_raise_wechat_exception(drop_in, echostr, code, message):
    sig = _get_signature(v.TOKEN, "1", "n", echostr)
    with pytest.raises(WeChatException) as info:
        drop_in(*CREDENTIALS).check_signature(sig, "1", "n", echostr)
    assert type(info.value) is WeChatException
    assert (info.value.errcode, info.value.errmsg) == (code, message)
    assert isinstance(info.value.__cause__, errors.CallbackError)


def test_non_utf8_message_raises_wechat_exception(drop_in):
    plain = b"R" * 16 + b"\x00\x00\x00\x02\xff\xfe" + v.CORP_ID.encode() + b"\x18" * 24
    echostr = aes_cbc_encrypt(plain, KEY)
    with pytest.raises(WeChatException) as info:
        drop_in(*CREDENTIALS).check_signature(
            _get_signature(v.TOKEN, "1", "n", echostr), "1", "n", echostr
        )
    assert info.value.errcode == -40007


def test_bad_body_and_key_raise_wechat_exception(drop_in):
    with pytest.raises(WeChatException) as info:
        drop_in(*CREDENTIALS).decrypt_message("<xml><Encrypt>x</Encrypt>", "0" * 40, "1", "n")
    assert (info.value.errcode, info.value.errmsg) == (-40002, _spec.MSG_XML_MALFORMED)
    with pytest.raises(WeChatException) as info:
        drop_in(v.TOKEN, "too-short", v.CORP_ID)
    assert (info.value.errcode, info.value.errmsg) == (-40004, _spec.MSG_AES_KEY_TEXT)


def test_our_errors_without_wechatpy(monkeypatch, drop_in):
    monkeypatch.setattr(compat, "WECHATPY_AVAILABLE", False)
    compat._wechatpy_errors.cache_clear()
    try:
        crypto = drop_in(*CREDENTIALS)
        with pytest.raises(errors.SignatureError):
            crypto.check_signature("0" * 40, v.ECHO_TIMESTAMP, v.ECHO_NONCE, v.ECHOSTR)
        echostr = wrong_corp_echostr()
        with pytest.raises(errors.CorpIdMismatchError):
            crypto.check_signature(_get_signature(v.TOKEN, "1", "n", echostr), "1", "n", echostr)
        with pytest.raises(errors.Base64Error):
            crypto.check_signature(_get_signature(v.TOKEN, "1", "n", "!"), "1", "n", "!")
    finally:
        compat._wechatpy_errors.cache_clear()


def test_import_without_wechatpy_installed():
    """With wechatpy unimportable, the module loads and raises our own errors."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'wechatpy' or name.startswith('wechatpy.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from wxcorp_fast.compat import wechatpy as compat\n"
        "from wxcorp_fast.errors import SignatureError\n"
        "assert compat.WECHATPY_AVAILABLE is False\n"
        "c = compat.WeChatCrypto(\n"
        "    'QDG6eK', 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C', 'wx5823bf96d3bd56c7')\n"
        "try:\n"
        "    c.check_signature('0' * 40, '1', 'n', 'AAAA')\n"
        "except SignatureError:\n"
        "    print('ours')\n"
        "assert 'wechatpy' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(wxcorp_fast.__file__).resolve().parent.parent))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ours"


def test_drop_in_uses_the_selected_core():
    assert compat.core is wxcorp_fast._core.core
