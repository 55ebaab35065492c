"""Flows: the API side's logic written once, run by a blocking and by an asyncio driver.

A flow is a generator that does no I/O itself: it yields *steps*, ``(kind, argument)``
pairs naming the I/O it needs, and gets each step's result back (or has the step's
exception thrown in at the ``yield``, so that its ``try``/``finally`` blocks run). The
retry rules of a call, the token servers' windows and backoff, and the Redis lock are
flows; ``CorpClient`` and the blocking token servers perform their steps with
:func:`run`, ``AsyncCorpClient`` and the async token servers with :func:`arun`. The kinds:

================  =========================================  =================================
kind              argument                                   result
================  =========================================  =================================
``"token"``       None                                       the token server's ``token()``
``"refresh"``     the token the API refused                  a token other than it
``"send"``        the access_token                           the call's answer (JSON object)
``"get"``         a URL (gettoken)                           the answer (JSON object)
``"redis"``       ``op(client)``: one Redis command/pipeline  its result (awaited when async)
``"sleep"``       seconds                                    None
================  =========================================  =================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Flow", "Step", "arun", "run"]

T = TypeVar("T")

Step = tuple[str, Any]
Flow = Generator[Step, Any, T]


def run(flow: Flow[T], perform: Callable[[Step], Any]) -> T:
    """Run ``flow`` to its end, performing each step with the blocking ``perform``."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(result) if error is None else flow.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            error = None  # no cycle through the traceback of an error that ends the flow
        try:
            result = perform(step)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises
            result, error = None, exc


async def arun(flow: Flow[T], perform: Callable[[Step], Awaitable[Any]]) -> T:
    """Run ``flow`` to its end, awaiting ``perform`` for each step."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(result) if error is None else flow.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            error = None  # no cycle through the traceback of an error that ends the flow
        try:
            result = await perform(step)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises
            result, error = None, exc
