"""8 threads share one ``MsgCrypto``: 20,000 mixed operations, every result checked.

Sizes run from 300 bytes to 16 KB, so the compiled core's GIL-free path (inputs of 2048
bytes and more) overlaps with GIL-held calls on the same key object. Inputs and answers
are prepared up front (deterministically), the threads start together on a barrier, and
a failure in any thread fails the test with its operation.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from wxcorp_fast.testing import vectors as v

from _samples import SAMPLE_MESSAGES

THREADS = 8
OPERATIONS = 20_000
SIZES = (300, 1000, 2047, 2048, 4096, 16384)
NONCE = "thread-nonce"


def inner_xml(size: int, seed: int) -> bytes:
    """A text message of exactly ``size`` bytes, its content unique to ``seed``."""
    head = f"<xml><MsgType>text</MsgType><MsgId>{seed}</MsgId><Content><![CDATA[".encode()
    tail = b"]]></Content></xml>"
    filler = ("企业微信" * size).encode()[: size - len(head) - len(tail)]
    filler = filler.decode("utf-8", "ignore").encode()
    filler += b"x" * (size - len(head) - len(tail) - len(filler))
    return head + filler + tail


@contextmanager
def fast_switching() -> Iterator[None]:
    """Switch threads often, so that operations interleave finely."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def build_operations(core, crypto) -> list[tuple[str, Callable[[], object], object]]:
    """Return (label, call, expected result) for every operation, shuffled by a fixed seed."""
    rng = random.Random(20240601)
    key = core.decode_aes_key(v.ENCODING_AES_KEY)
    ops: list[tuple[str, Callable[[], object], object]] = []
    samples = [d.encode() for d in SAMPLE_MESSAGES.values()]
    for i in range(OPERATIONS):
        size = rng.choice(SIZES)
        kind = ("decrypt", "verify_url", "encrypt", "parse_message")[i % 4]
        xml = inner_xml(size, i)
        if kind == "decrypt":
            encrypt = core.encrypt_msg(xml, v.CORP_ID, key, rng.randbytes(16))
            body = f"<xml><ToUserName>{v.CORP_ID}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
            body = body.encode()
            sig = core.msg_signature(v.TOKEN, i, NONCE, encrypt)
            ops.append(
                (
                    f"decrypt#{i}/{size}",
                    lambda b=body, s=sig, t=i: crypto.decrypt(b, s, t, NONCE),
                    xml,
                )
            )
        elif kind == "verify_url":
            echo = str(rng.getrandbits(64)).encode() * (size // 20)
            echostr = core.encrypt_msg(echo, v.CORP_ID, key, rng.randbytes(16))
            sig = core.msg_signature(v.TOKEN, i, NONCE, echostr)
            ops.append(
                (
                    f"verify_url#{i}/{size}",
                    lambda e=echostr, s=sig, t=i: crypto.verify_url(s, t, NONCE, e),
                    echo,
                )
            )
        elif kind == "encrypt":
            # The envelope's random is fresh, so the check opens it again in the thread.
            def encrypt_and_open(x=xml, t=i):
                envelope = crypto.encrypt(x, NONCE, t)
                fields = core.parse_message(envelope).raw
                return crypto.decrypt(envelope, fields["MsgSignature"], t, NONCE)

            ops.append((f"encrypt#{i}/{size}", encrypt_and_open, xml))
        else:
            doc = xml if i % 8 == 3 else rng.choice(samples)
            ops.append((f"parse#{i}", lambda d=doc: core.parse_message(d), core.parse_message(doc)))
    return ops


def run_threads(ops, threads: int = THREADS) -> list[str]:
    barrier = threading.Barrier(threads)
    failures: list[str] = []
    done = [0] * threads

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for label, call, expected in ops[index::threads]:
                got = call()
                if got != expected:
                    failures.append(f"{label}: wrong result")
                done[index] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below with its operation
            failures.append(f"thread {index}: {type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=worker, args=(n,), name=f"wx-{n}") for n in range(threads)]
    with fast_switching():
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    assert sum(done) == len(ops) or failures
    return failures


def test_threads_share_one_msg_crypto(core_impl):
    crypto = core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    ops = build_operations(core_impl, crypto)
    assert len(ops) == OPERATIONS
    assert run_threads(ops) == []


def test_threads_share_keys_across_instances(core_impl):
    """Many MsgCrypto objects over two keys (the module key cache is shared)."""
    keys = (v.ENCODING_AES_KEY, "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR")
    cryptos = [core_impl.MsgCrypto(v.TOKEN, keys[i % 2], v.CORP_ID) for i in range(16)]
    ops = []
    for i in range(2000):
        sender, receiver = cryptos[i % 16], cryptos[(i + 2) % 16]  # same key, other object
        xml = inner_xml(SIZES[i % len(SIZES)], i)

        def round_trip(c=sender, r=receiver, x=xml, t=i):
            envelope = c.encrypt(x, NONCE, t)
            sig = core_impl.parse_message(envelope).raw["MsgSignature"]
            return r.decrypt(envelope, sig, t, NONCE)

        ops.append((f"round-trip#{i}", round_trip, xml))
    assert run_threads(ops) == []


@pytest.mark.parametrize("size", [300, 16384])
def test_threads_errors_stay_per_call(core_impl, size):
    """Failing and succeeding calls interleave; each gets its own answer."""
    crypto = core_impl.MsgCrypto(v.TOKEN, v.ENCODING_AES_KEY, v.CORP_ID)
    key = core_impl.decode_aes_key(v.ENCODING_AES_KEY)
    ops = []
    for i in range(2000):
        xml = inner_xml(size, i)
        encrypt = core_impl.encrypt_msg(xml, v.CORP_ID, key, i.to_bytes(16, "big"))
        if i % 3 == 2:  # tampered last block, correctly signed: fails in decryption
            encrypt = encrypt[:-8] + "AAAAAAA="
        sig = core_impl.msg_signature(v.TOKEN, i, NONCE, encrypt) if i % 3 != 1 else "0" * 40

        def call(e=encrypt, s=sig, t=i):
            try:
                return crypto.verify_url(s, t, NONCE, e)
            except ValueError as exc:
                return (type(exc).__name__, str(exc))

        expected = call()  # the same call, made alone
        assert expected == xml if i % 3 == 0 else expected[0] in ("SignatureError", "DecryptError")
        ops.append((f"mixed#{i}", call, expected))
    assert run_threads(ops) == []
