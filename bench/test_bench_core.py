"""Per-message cost of the callback hot path: twins against wechatpy, in one run."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import IMPLS, Impl, Sample, make_sample


def test_decrypt_parse(benchmark: Any, impl: Impl, sample: Sample) -> None:
    """Verify + decrypt + parse into a message object, from the POST body."""
    benchmark.group = f"decrypt+parse {len(sample.xml)}B {_alphabet(sample)}"
    msg = benchmark(impl.decrypt_parse, sample)
    assert msg.content.startswith(("hello", "企业"))


def test_encrypt_reply(benchmark: Any, impl: Impl, sample: Sample) -> None:
    """Encrypt a reply into its signed envelope."""
    benchmark.group = f"encrypt {len(sample.xml)}B {_alphabet(sample)}"
    envelope = benchmark(impl.encrypt_reply, sample.xml)
    assert "Encrypt" in (envelope.decode() if isinstance(envelope, bytes) else envelope)


def test_verify_url(benchmark: Any, impl: Impl) -> None:
    """The GET echostr check of the official example."""
    benchmark.group = "verify_url"
    sample = make_sample(300, "ascii")
    echo = benchmark(impl.verify_url, sample)
    assert echo in (b"1616140317555161061", "1616140317555161061")


BATCH = 2000


@pytest.mark.compiled
@pytest.mark.parametrize("threads", [1, 2])
def test_threads_16k(benchmark: Any, threads: int) -> None:
    """2000 decrypt+parse of 16 KB messages on the compiled core, split over N threads."""
    impl = IMPLS["compiled"]()
    sample = make_sample(16384, "ascii")
    benchmark.group = "threads 16KB x2000 (compiled)"

    def run() -> None:
        def work(count: int) -> None:
            for _ in range(count):
                impl.decrypt_parse(sample)

        pool = [threading.Thread(target=work, args=(BATCH // threads,)) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    benchmark.pedantic(run, rounds=40, iterations=1, warmup_rounds=1)


def _alphabet(sample: Sample) -> str:
    return "ascii" if sample.xml.isascii() else "cjk"
