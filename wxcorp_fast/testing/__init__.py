"""Helpers for testing code built on wxcorp_fast.

- ``CallbackSimulator``: plays WeChat Work's side of a callback — builds signed, encrypted
  URL checks, messages and events, posts them over HTTP, and verifies and opens replies.
- ``FakeWorkServer`` (``wxcorp_fast.testing.fake_work``): a real HTTP server on 127.0.0.1
  answering like the WeChat Work API, with knobs for expired tokens, errcodes, 5xx answers
  and delays, and counters of the calls it got.
- ``wxcorp_fast.testing.vectors``: known-answer vectors (the WeChat Work docs' example).
- ``wxcorp_fast.testing.fixtures``: pytest fixtures (``core_impl`` over both crypto twins,
  ``fake_work``) and helpers; import it from a ``conftest.py`` or list it in
  ``pytest_plugins``. It needs pytest, so it is not imported here.
"""

from __future__ import annotations

from .fake_work import FakeWorkServer, Request, Upload
from .simulator import KINDS, CallbackSimulator, HTTPResult, UrlVerification

__all__ = [
    "CallbackSimulator",
    "FakeWorkServer",
    "HTTPResult",
    "KINDS",
    "Request",
    "Upload",
    "UrlVerification",
]
