"""Over-HTTP echo bots, wxcorp_fast against wechatpy (bench/http_bench.py).

The real figures come from ``python bench/http_bench.py`` (see bench/README.md). Here each
pair runs once, briefly, so ``pytest bench --benchmark-disable`` (CI) proves the servers
start, both echo bots answer a verified reply, and wrk runs without a failed request against
them and the do-nothing app.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import http_bench


@pytest.mark.parametrize("pair", list(http_bench.PAIRS))
def test_http_pair_smoke(benchmark: Any, pair: str) -> None:
    """Start the apps of a pair, verify the echo bots, run wrk on each for a second."""
    sides = benchmark.pedantic(
        http_bench.measure_pair,
        args=(http_bench.PAIRS[pair], 1, 1.0, 4),
        rounds=1,
        iterations=1,
    )
    for side in sides:
        assert side.rps > 0 and 0 < side.cpu_us < 1e6
    assert f"| {pair}: " in http_bench.table({pair: sides})


@pytest.mark.parametrize("pair", list(http_bench.PAIRS))
def test_crypto_floor_smoke(benchmark: Any, pair: str) -> None:
    """``--floor crypto``: the crypto-only app takes the fourth place and answers wrk."""
    floor = http_bench.FLOORS["crypto"][pair]
    with floor.start(()) as server:
        reply = http_bench.simulator().post(server.url, "text", content=http_bench.TEXT)
        assert reply.status == 200 and reply.body.startswith(b"<xml><Encrypt><![CDATA[")
        rps, cpu_us = benchmark.pedantic(
            http_bench.run_once, args=(server, 1.0, 4), rounds=1, iterations=1
        )
    assert rps > 0 and 0 < cpu_us < 1e6


def test_group_cpu_seconds_counts_the_group() -> None:
    """The CPU time a process spent counts in its process group's total."""
    spin = (
        "import sys, time\n"
        "end = time.process_time() + 0.4\n"
        "while time.process_time() < end: pass\n"
        "print('spun', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", spin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"spun\n"
        assert 0.35 <= http_bench.group_cpu_seconds(proc.pid) < 5
    finally:
        proc.communicate(b"", timeout=10)
