"""The engine of ``python -m wxcorp_fast simulate``: a mix of callbacks, replies verified.

Threads share one ``CallbackSimulator`` (its urllib3 pool is thread-safe). The mix cycles
through the URL check and every kind in ``KINDS``; each answer is verified (status 200, the
reply envelope's signature, its decryption and corp id, and the reply's addressing).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final, TextIO

from ..crypto import parse_message
from ..errors import CallbackError
from ..testing.simulator import KINDS, CallbackSimulator, HTTPResult

__all__ = ["MIX", "Progress", "Summary", "refusal", "run"]

#: The kinds sent, in turn: the URL check, then every message and event kind.
MIX: tuple[str, ...] = ("url_verification", *KINDS)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One request: its kind, latency in seconds, and the failure reason (None when ok)."""

    kind: str
    latency: float
    failure: str | None


@dataclasses.dataclass(frozen=True)
class Summary:
    """The results of a run."""

    url: str
    outcomes: Sequence[Outcome]
    elapsed: float

    @property
    def failures(self) -> Counter[tuple[str, str]]:
        """Failures counted by (kind, reason)."""
        return Counter((o.kind, o.failure) for o in self.outcomes if o.failure is not None)

    @property
    def failed(self) -> int:
        """The number of failed requests."""
        return sum(self.failures.values())

    def percentile(self, q: float) -> float:
        """Return the nearest-rank ``q`` quantile of the latencies, in seconds."""
        latencies = sorted(o.latency for o in self.outcomes)
        if not latencies:
            return 0.0
        return latencies[max(0, math.ceil(q * len(latencies)) - 1)]

    def format(self) -> str:
        """Render the summary as the lines ``simulate`` prints."""
        total = len(self.outcomes)
        rate = total / self.elapsed if self.elapsed > 0 else 0.0
        lines = [
            f"{total} requests to {self.url} in {self.elapsed:.2f} s: "
            f"{total - self.failed} verified, {self.failed} failed",
            f"requests/s: {rate:.1f}",
            f"latency: p50 {self.percentile(0.5) * 1e3:.2f} ms, "
            f"p99 {self.percentile(0.99) * 1e3:.2f} ms",
        ]
        if self.failed:
            lines.append("failures by kind:")
            lines.extend(
                f"  {kind}: {count} x {reason}"
                for (kind, reason), count in sorted(self.failures.items())
            )
        else:
            lines.append("failures by kind: none")
        return "\n".join(lines)


class Progress:
    """A plain-text progress bar on a stream: redrawn in place on a terminal, else by tenths."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self._tty = self.stream.isatty()
        self._lock = threading.Lock()
        self._done = 0
        self._failed = 0
        self._last_draw = 0.0
        self._last_tenth = -1
        self._start = time.perf_counter()

    def advance(self, failed: bool) -> None:
        """Count one finished request and redraw when due."""
        with self._lock:
            self._done += 1
            self._failed += failed
            now = time.perf_counter()
            tenth = self._done * 10 // max(self.total, 1)
            if self._done == self.total or (
                now - self._last_draw >= 0.1 if self._tty else tenth != self._last_tenth
            ):
                self._last_draw, self._last_tenth = now, tenth
                self._draw(now)

    def _draw(self, now: float) -> None:
        filled = self.WIDTH * self._done // max(self.total, 1)
        rate = self._done / max(now - self._start, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self._done}/{self.total}"
            f" {rate:.0f} req/s, {self._failed} failed"
        )
        end = "\n" if not self._tty or self._done == self.total else ""
        self.stream.write(("\r" if self._tty else "") + line + end)
        self.stream.flush()


#: How much of a refused answer's body a failure reason shows.
SHOWN_BODY: Final = 80


def refusal(result: HTTPResult) -> str:
    """Describe an answer other than 200: its status and (the start of) its body."""
    body = result.body.decode("utf-8", "replace").strip()
    if len(body) > SHOWN_BODY:
        body = body[: SHOWN_BODY - 3] + "..."
    return f"HTTP {result.status}: {body}" if body else f"HTTP {result.status}"


def _post_failure(
    sim: CallbackSimulator, url: str, kind: str, echo: bool, timeout: float
) -> str | None:
    """Send one callback of ``kind`` and return why its answer is wrong, or None."""
    fields: dict[str, Any] = dict(KINDS[kind])
    msg_type = fields.pop("msg_type")
    content = f"hello {kind} {time.monotonic_ns()}" if kind == "text" else None
    if content is not None:
        fields["content"] = content
    result = sim.post(url, msg_type, timeout=timeout, **fields)
    if result.status != 200:
        return refusal(result)
    if result.reply is None:
        return "empty reply" if echo else None
    reply = parse_message(result.reply)
    sender = parse_message(result.sent or b"<xml/>").from_user_name
    if (reply.to_user_name, reply.from_user_name) != (sender, sim.corp_id):
        return "reply addressed to the wrong user or from the wrong corp"
    if echo and reply.msg_type != "text":
        return f"{reply.msg_type} reply, expected text"
    if echo and content is not None and reply.content != content:
        return "text not echoed"
    if echo and not reply.content:
        return "empty text reply"
    return None


def _one(sim: CallbackSimulator, url: str, kind: str, echo: bool, timeout: float) -> Outcome:
    start = time.perf_counter()
    failure: str | None
    try:
        if kind == "url_verification":
            result = sim.get(url, timeout=timeout)
            failure = None if result.status == 200 else refusal(result)
        else:
            failure = _post_failure(sim, url, kind, echo, timeout)
    except CallbackError as exc:
        failure = f"{type(exc).__name__} ({exc.code})"
    except Exception as exc:  # a load generator counts any error as a failure, by class
        failure = type(exc).__name__
    return Outcome(kind, time.perf_counter() - start, failure)


def run(
    sim: CallbackSimulator,
    url: str,
    count: int,
    concurrency: int,
    *,
    echo: bool = False,
    timeout: float = 10.0,
    progress: Progress | None = None,
) -> Summary:
    """Send ``count`` callbacks from ``concurrency`` threads and verify every answer.

    ``echo`` also expects the echo bot's answers: a text reply to everything, the same text
    for a text message.
    """
    indexes = itertools.count()
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[Outcome] = []
        while (i := next(indexes)) < count:
            outcome = _one(sim, url, MIX[i % len(MIX)], echo, timeout)
            mine.append(outcome)
            if progress is not None:
                progress.advance(outcome.failure is not None)
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Summary(url, outcomes, time.perf_counter() - start)
