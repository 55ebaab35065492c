"""Over-HTTP stream refreshes (bench/aibot_http_bench.py), smoke-run: the servers start on one
Redis, the AI echo bot's refresh answer verifies, and wrk runs a second on each without a
failed request. The real figures: ``python bench/aibot_http_bench.py`` (bench/README.md)."""

from __future__ import annotations

from typing import Any

import aibot_http_bench


def test_aibot_http_smoke(benchmark: Any) -> None:
    results = benchmark.pedantic(aibot_http_bench.measure, args=(1, 1.0, 4), rounds=1, iterations=1)
    assert set(results) == set(aibot_http_bench.APPS)
    assert all(side.rps > 0 for side in results.values())
    assert "refreshes/s" in aibot_http_bench.table(results)
