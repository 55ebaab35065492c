"""The core never crashes the interpreter: fixed settings, uninitialised objects, forks made
from C, 4-byte length fields with the top bit set, replies past one AES call's 2 GiB."""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import threading
import warnings
from typing import Any, Callable

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


def _draw_stream(core: Any) -> bytes:
    """One frame random as AIBotCrypto._encrypt_stream draws it."""
    crypto = core.AIBotCrypto(v.TOKEN, v.ENCODING_AES_KEY, "corp")
    body = json.loads(crypto._encrypt_stream("id", "x", False, "n", 1))
    return core.decrypt_msg(body["encrypt"], core.decode_aes_key(v.ENCODING_AES_KEY))[0]


def _fork_from_c() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.fork()  # no Python fork hook runs (as in uWSGI without py-call-osafterfork)
    assert pid >= 0, ctypes.get_errno()
    return pid


def _fork_from_python() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        return os.fork()


@pytest.mark.parametrize("fork", [_fork_from_c, _fork_from_python], ids=["libc.fork", "os.fork"])
@pytest.mark.parametrize("draw", [_draw, _draw_stream], ids=["encrypt_msg", "encrypt_stream"])
def test_a_forked_child_shares_no_random(
    core_impl: Any, fork: Callable[[], int], draw: Callable[[Any], bytes]
) -> None:
    core = core_impl.imported_module
    draw(core)  # the parent has drawn: a pool, if any, is part used
    children: list[bytes] = []
    for _ in range(2):  # two children of one parent, each after the parent's last draw
        read_end, write_end = os.pipe()
        pid = fork()
        if pid == 0:  # the child
            try:
                os.write(write_end, draw(core) + draw(core))
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            children.append(pipe.read())
        os.waitpid(pid, 0)
    parent = draw(core) + draw(core)
    assert [len(child) for child in children] == [32, 32]
    draws = [d[i : i + 16] for d in (parent, *children) for i in (0, 16)]
    assert len(set(draws)) == len(draws)


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
