"""Shared test setup: the ``core_impl`` fixture over both twins, options, hypothesis profiles.

The twins' machinery lives in ``_twins.py`` (``bench/`` imports it too), the sample
documents in ``_samples.py``; the ``fake_work`` fixture comes from the user-facing plugin
``wxcorp_fast.testing.fixtures``, as users get it.

- ``core_impl``: session fixture, ids ``compiled`` / ``python``; the compiled param is
  marked ``compiled``. A compiled core that fails to import errors its tests.
- ``--no-compiled`` or a truthy ``WXCORP_FAST_NO_EXTENSIONS`` deselects every test marked
  ``compiled`` (reported as deselected, never skipped).
- Hypothesis profiles: ``dev`` (default), ``ci`` (``CI`` set), ``memcheck`` (few examples,
  for valgrind). Choose with ``--hypothesis-profile`` or ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from _redis_server import RedisServer
from _twins import (  # noqa: F401 - the fixture and hooks pytest looks up here
    core_impl,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
)

pytest_plugins = ["wxcorp_fast.testing.fixtures"]

_COMMON = {
    "deadline": None,  # timing varies wildly across machines and under valgrind
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.register_profile("ci", max_examples=300, print_blob=True, **_COMMON)
settings.register_profile("memcheck", max_examples=8, database=None, **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free 127.0.0.1 port for the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Any]:
    """A redis-py client on an emptied database of the session's server."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()
