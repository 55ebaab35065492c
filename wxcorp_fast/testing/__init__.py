"""Helpers for testing code built on wxcorp_fast.

- ``CallbackSimulator``: plays WeChat Work's side of a callback — builds signed, encrypted
  URL checks, messages and events, posts them over HTTP, and verifies and opens replies.
- ``wxcorp_fast.testing.vectors``: known-answer vectors (the WeChat Work docs' example).
- ``wxcorp_fast.testing.fixtures``: pytest fixtures (``core_impl`` over both crypto twins)
  and helpers; import it from a ``conftest.py``. It needs pytest, so it is not imported here.
"""

from .simulator import KINDS, CallbackSimulator, HTTPResult, UrlVerification

__all__ = ["CallbackSimulator", "HTTPResult", "KINDS", "UrlVerification"]
