"""Helpers for testing code built on wxcorp_fast.

- ``CallbackSimulator``: plays WeChat Work's side of a callback — builds signed, encrypted
  URL checks, messages and events, posts them over HTTP, and verifies and opens replies.
- ``AIBotSimulator``: the same for an AI bot's JSON callbacks, in process (WSGI/ASGI) or
  over HTTP, including a whole streamed conversation (``conversation``).
- ``FakeWorkServer``: a real HTTP server on 127.0.0.1 answering like the WeChat Work API,
  with knobs for expired tokens, errcodes, 5xx answers and delays, and the requests it got
  (``RecordedRequest``).
- ``wxcorp_fast.testing.vectors``: known-answer vectors (the WeChat Work docs' example).
- ``wxcorp_fast.testing.runners``: run a WSGI/ASGI app under gunicorn or uvicorn in a
  subprocess on a free 127.0.0.1 port.
- ``wxcorp_fast.testing.fixtures``: a pytest plugin with the ``fake_work`` fixture (list it
  in ``pytest_plugins``). It needs pytest, so it is not imported here.
"""

from __future__ import annotations

from .aibot_simulator import AIBOT_KINDS, AIBotResult, AIBotSimulator, Conversation
from .fake_work import FakeWorkServer, RecordedRequest, Upload
from .simulator import KINDS, CallbackSimulator, HTTPResult, UrlVerification

#: The former name of ``RecordedRequest``, kept importable.
Request = RecordedRequest

__all__ = [
    "AIBotSimulator",
    "AIBotResult",
    "AIBOT_KINDS",
    "Conversation",
    "CallbackSimulator",
    "FakeWorkServer",
    "HTTPResult",
    "KINDS",
    "RecordedRequest",
    "Upload",
    "UrlVerification",
]
