"""The core never crashes the interpreter: fixed settings, uninitialised objects, forks made
from C, 4-byte length fields with the top bit set, replies past one AES call's 2 GiB."""

from __future__ import annotations

import ctypes
import importlib
import os
import threading
from typing import Any

import pytest

from wxcorp_fast import _spec
from wxcorp_fast.errors import DecryptError, InvalidAESKeyError
from wxcorp_fast.testing import vectors as v

from _samples import aes_cbc_encrypt, raises_callback_error

KEY = bytes(range(32))


def codec(core_impl: Any) -> Any:
    return core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)


def test_settings_are_fixed_at_construction(core_impl: Any) -> None:
    crypto = codec(core_impl)
    with pytest.raises(TypeError, match="already initialised"):
        crypto.__init__("other-token", v.ENCODING_AES_KEY, "other-corp")
    envelope = crypto.encrypt(b"<xml/>", "n1", 1)
    assert crypto.corp_id == v.CORP_ID
    assert b"<Encrypt>" in envelope


def test_reinit_while_another_thread_works_never_crashes(core_impl: Any) -> None:
    crypto = codec(core_impl)
    big = b"<xml><Content>" + b"x" * 8192 + b"</Content></xml>"  # the GIL-free paths
    stop = threading.Event()
    refused: list[int] = []

    def reinit() -> None:
        while not stop.is_set():
            try:
                crypto.__init__("x", v.ENCODING_AES_KEY, "y")
            except TypeError:
                refused.append(1)

    thread = threading.Thread(target=reinit)
    thread.start()
    try:
        for i in range(300):
            envelope = crypto.encrypt(big, f"n{i}", 1409659813)
            raw = core_impl.parse_message(envelope).raw
            assert (
                crypto.decrypt(envelope, raw["MsgSignature"], raw["TimeStamp"], raw["Nonce"]) == big
            )
    finally:
        stop.set()
        thread.join()
    assert refused


def test_an_uninitialised_object_cannot_be_made(core_impl: Any) -> None:
    cls = core_impl.MsgCrypto
    with pytest.raises(TypeError):
        cls.__new__(cls)


@pytest.mark.compiled
def test_compiled_objects_are_never_half_built() -> None:
    core = importlib.import_module("wxcorp_fast._core_c")
    with pytest.raises(TypeError):
        object.__new__(core.MsgCrypto)
    for short in (b"", b"abc", bytes(31)):
        with pytest.raises(InvalidAESKeyError):
            core._Key(short)


def _draw(core: Any) -> bytes:
    """One frame random as encrypt_msg draws it (recovered by decrypting)."""
    return core.decrypt_msg(core.encrypt_msg(b"x", "corp", KEY), KEY)[0]


def test_a_fork_made_from_c_shares_no_random(core_impl: Any) -> None:
    core = core_impl.imported_module
    _draw(core)  # the parent has drawn: a pool, if any, is part used
    libc = ctypes.CDLL(None, use_errno=True)
    read_end, write_end = os.pipe()
    pid = libc.fork()  # no Python fork hook runs (as in uWSGI without py-call-osafterfork)
    if pid == 0:  # the child
        try:
            os.write(write_end, _draw(core))
        finally:
            os._exit(0)
    assert pid > 0, ctypes.get_errno()
    os.close(write_end)
    parent = _draw(core)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert len(child) == 16 and len(parent) == 16
    assert child != parent


@pytest.mark.parametrize("length", [0x80000000, 0xFFFFFFFF, 0x7FFFFFFF])
def test_length_fields_with_the_top_bit_set(core_impl: Any, length: int) -> None:
    frame = bytes(16) + length.to_bytes(4, "big") + b"<xml/>" + v.CORP_ID.encode()
    with raises_callback_error(DecryptError, _spec.MSG_FRAME_LENGTH):
        core_impl.unpack_frame(frame)
    padded = core_impl.pkcs7_pad(frame)
    encrypt = aes_cbc_encrypt(padded, core_impl.decode_aes_key(v.ENCODING_AES_KEY))
    with raises_callback_error(DecryptError, _spec.MSG_FRAME_LENGTH):
        core_impl.decrypt_msg(encrypt, core_impl.decode_aes_key(v.ENCODING_AES_KEY))
    crypto = codec(core_impl)
    for pad in (0, 3000):  # the GIL-held path and the GIL-free one
        body = f"<xml><ToUserName>{v.CORP_ID}</ToUserName><Encrypt>{encrypt}</Encrypt>"
        body += "<AgentID>218</AgentID>" + " " * pad + "</xml>"
        sig = core_impl.msg_signature(v.TOKEN, "1", "n", encrypt)
        with raises_callback_error(DecryptError, _spec.MSG_FRAME_LENGTH):
            crypto.decrypt(body, sig, "1", "n")


@pytest.fixture(scope="module")
def two_gib() -> bytes:
    return bytes(2**31 - 20)  # calloc'd: zero pages cost no memory until written


def test_a_reply_past_2_gib_is_an_overflow_error(core_impl: Any, two_gib: bytes) -> None:
    with pytest.raises(OverflowError, match=_spec.MSG_TOO_LONG):
        core_impl.encrypt_msg(two_gib, v.CORP_ID, KEY)
    with pytest.raises(OverflowError, match=_spec.MSG_TOO_LONG):
        codec(core_impl).encrypt(two_gib, "nonce", 1)


@pytest.mark.parametrize(
    ("token", "corp_id", "message"),
    [("", v.CORP_ID, _spec.MSG_EMPTY_TOKEN), (v.TOKEN, "", _spec.MSG_EMPTY_CORP_ID)],
)
def test_empty_settings_are_named(core_impl: Any, token: str, corp_id: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        core_impl.MsgCrypto(token, v.ENCODING_AES_KEY, corp_id)
    assert str(caught.value) == message
