"""The test Redis fixture really serves, on loopback, and is emptied per test."""

from __future__ import annotations

from typing import Any

from _redis_server import RedisServer


def test_redis_fixture_is_a_real_loopback_server(
    redis_server: RedisServer, redis_client: Any
) -> None:
    assert redis_server.url.startswith("redis://127.0.0.1:")
    assert redis_client.ping() is True
    redis_client.set("probe", b"1")
    assert redis_client.get("probe") == b"1"
    assert redis_client.config_get("bind")["bind"] == "127.0.0.1"


def test_redis_client_starts_empty(redis_client: Any) -> None:
    assert redis_client.dbsize() == 0
