"""Pytest fixtures for users' own suites: ``fake_work``, a started ``FakeWorkServer``.

List the plugin in a ``conftest.py``::

    pytest_plugins = ["wxcorp_fast.testing.fixtures"]

(or ``from wxcorp_fast.testing.fixtures import *``). It adds fixtures only: no options,
markers or hooks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_work import FakeWorkServer

__all__ = ["fake_work"]


@pytest.fixture
def fake_work() -> Iterator[FakeWorkServer]:
    """Return a started ``FakeWorkServer`` (docs' corp_id, ``FAKE_CORP_SECRET``), stopped after."""
    with FakeWorkServer() as server:
        yield server
