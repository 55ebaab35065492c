"""Helpers for testing code built on wxcorp_fast.

- ``wxcorp_fast.testing.vectors``: known-answer vectors (the WeChat Work docs' example).
- ``wxcorp_fast.testing.fixtures``: pytest fixtures (``core_impl`` over both crypto twins)
  and helpers; import it from a ``conftest.py``. It needs pytest, so it is not imported here.
"""
