"""Over-HTTP echo bots, wxcorp_fast against wechatpy (bench/http_bench.py).

The real figures come from ``python bench/http_bench.py`` (see bench/README.md). Here each
pair runs once, briefly, so ``pytest bench --benchmark-disable`` (CI) proves the servers
start, every app answers a verified reply, and wrk runs without a failed request.
"""

from __future__ import annotations

from typing import Any

import http_bench
import pytest


@pytest.mark.parametrize("pair", list(http_bench.PAIRS))
def test_http_pair_smoke(benchmark: Any, pair: str) -> None:
    """Start both sides of a pair, verify their replies, run wrk on each for a second."""
    ours, theirs = benchmark.pedantic(
        http_bench.measure_pair,
        args=(http_bench.PAIRS[pair], 1, 1.0, 4),
        rounds=1,
        iterations=1,
    )
    assert ours > 0 and theirs > 0
    assert f"| {pair}: " in http_bench.table({pair: (ours, theirs)})
