"""Per-message cost of the callback hot path: twins against wechatpy, in one run."""

from __future__ import annotations

import importlib
import threading
from typing import Any

import pytest
from conftest import IMPLS, TEXTS, Impl, Sample, make_sample, text_message


def test_decrypt_parse(benchmark: Any, impl: Impl, sample: Sample) -> None:
    """Verify + decrypt + parse into a message object, from the POST body."""
    benchmark.group = f"decrypt+parse {len(sample.xml)}B {sample.text}"
    msg = benchmark(impl.decrypt_parse, sample)
    assert len(msg.content) >= 10


def test_encrypt_reply(benchmark: Any, impl: Impl, sample: Sample) -> None:
    """Encrypt a reply into its signed envelope."""
    benchmark.group = f"encrypt {len(sample.xml)}B {sample.text}"
    envelope = benchmark(impl.encrypt_reply, sample.xml)
    assert "Encrypt" in (envelope.decode() if isinstance(envelope, bytes) else envelope)


def test_verify_url(benchmark: Any, impl: Impl) -> None:
    """The GET echostr check of the official example."""
    benchmark.group = "verify_url"
    sample = make_sample(300, "ascii")
    echo = benchmark(impl.verify_url, sample)
    assert echo in (b"1616140317555161061", "1616140317555161061")


PARSERS = {
    "compiled": lambda: importlib.import_module("wxcorp_fast._core_c").parse_message,
    "python": lambda: importlib.import_module("wxcorp_fast._core_py").parse_message,
    # the baseline: CPython's UTF-8 decoder over the whole document, no XML work at all
    "decode": lambda: bytes.decode,
}


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("how", list(PARSERS))
def test_parse_vs_decode(benchmark: Any, how: str, text: str) -> None:
    """parse_message of a 16 KB message next to bytes.decode() of the same document."""
    xml = text_message(16384, text)
    benchmark.group = f"parse_message 16384B {text}"
    result = benchmark(PARSERS[how](), xml)
    assert len(result.content if how != "decode" else result) > 1000


BATCH = 2000


@pytest.mark.compiled
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("text", ["ascii", "mix30"])
def test_threads_16k(benchmark: Any, text: str, threads: int) -> None:
    """2000 decrypt+parse of 16 KB messages on the compiled core, split over N threads."""
    impl = IMPLS["compiled"]()
    sample = make_sample(16384, text)
    benchmark.group = f"threads 16KB {text} x2000 (compiled)"

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
