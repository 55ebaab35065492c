"""The AI-bot half of ``simulate`` and ``demo``: every callback kind, then streamed conversations.

One ``AIBotSimulator`` (its urllib3 pool is thread-safe) plays WeChat: the URL check, each
kind of ``AIBOT_KINDS`` once, then ``conversations`` streamed exchanges split over
``concurrency`` threads, each refreshed until it finishes. Every reply is verified
(signature, decryption, the stream protocol); with ``echo`` the echo bot's answers are
checked too (``serve --aibot``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..errors import CallbackError
from ..testing.aibot_simulator import AIBOT_KINDS, AIBotSimulator, SimulatorError
from .echobot import AIBOT_WELCOME, echo_words

__all__ = ["AIBotSummary", "run_aibot"]


@dataclasses.dataclass
class AIBotSummary:
    """What an AI-bot run did: callbacks, conversations, refreshes, failures by kind."""

    url: str
    verified: int = 0
    conversations: int = 0
    refreshes: int = 0
    elapsed: float = 0.0
    failures: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)

    @property
    def failed(self) -> int:
        """The number of failed callbacks or conversations."""
        return sum(self.failures.values())

    def format(self) -> str:
        """The summary's lines."""
        rate = self.refreshes / self.elapsed if self.elapsed > 0 else 0.0
        lines = [
            f"AI bot at {self.url}: {self.verified} verified, {self.failed} failed",
            f"streamed conversations: {self.conversations}, refreshes: {self.refreshes} "
            f"({rate:.1f} refreshes/s over {self.elapsed:.2f} s)",
        ]
        if self.failures:
            lines.append("failures by kind:")
            lines += [f"  {kind}: {n} x {why}" for (kind, why), n in sorted(self.failures.items())]
        else:
            lines.append("failures by kind: none")
        return "\n".join(lines)


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise SimulatorError(what)


def _check_kind(sim: AIBotSimulator, url: str, kind: str, echo: bool) -> int:
    """Send one callback of ``kind`` and verify its answer; return the refreshes it took."""
    if kind in ("text", "voice"):
        said = f"{kind} from the simulator"
        conversation = sim.conversation(url, message=sim.message_json(kind, content=said))
        if echo:
            _expect(conversation.content == "".join(echo_words(said)), "wrong echo")
        return conversation.refreshes
    if kind in ("image", "file", "mixed"):
        conversation = sim.conversation(url, message=sim.message_json(kind))
        if echo:
            _expect(conversation.content.startswith("got a"), "wrong summary")
        return conversation.refreshes
    result = sim.post_json(url, sim.kind_json(kind))
    _expect(result.status == 200, f"HTTP {result.status}")
    reply = result.json()
    if echo and kind == "enter_chat":
        _expect(reply == {"msgtype": "text", "text": {"content": AIBOT_WELCOME}}, "no welcome")
    elif echo and kind == "template_card_event":
        _expect(
            isinstance(reply, dict)
            and reply.get("response_type") == "update_template_card"
            and reply["template_card"].get("task_id") == "task_1",
            "no card update",
        )
    elif echo and kind == "feedback_event":
        _expect(reply is None, "a reply to feedback")
    return 0


def _failure(exc: Exception) -> str:
    if isinstance(exc, CallbackError):
        return type(exc).__name__
    if isinstance(exc, SimulatorError):
        return str(exc)
    return type(exc).__name__


def run_aibot(
    sim: AIBotSimulator,
    url: str,
    conversations: int,
    concurrency: int = 1,
    *,
    echo: bool = False,
    report: Callable[[str], Any] | None = None,
) -> AIBotSummary:
    """Play an AI bot's callbacks against ``url``; every failure is counted, never raised."""
    summary = AIBotSummary(url)
    lock = threading.Lock()
    started = time.perf_counter()

    def record(kind: str, work: Callable[[], int]) -> None:
        try:
            refreshes = work()
        except Exception as exc:  # every failure is counted by kind
            with lock:
                summary.failures[(kind, _failure(exc))] += 1
            return
        with lock:
            summary.verified += 1
            summary.refreshes += refreshes
            if kind == "conversation" or kind in ("text", "voice", "image", "file", "mixed"):
                summary.conversations += 1

    def url_check() -> int:
        result = sim.get(url)
        _expect(result.status == 200 and result.reply is not None, f"HTTP {result.status}")
        return 0

    record("url_verification", url_check)
    for kind in AIBOT_KINDS:
        record(kind, lambda kind=kind: _check_kind(sim, url, kind, echo))  # type: ignore[misc]

    def converse(index: int) -> int:
        said = f"conversation {index} streamed word by word"
        done = sim.conversation(url, said)
        if echo:
            _expect(done.content == "".join(echo_words(said)), "wrong echo")
        contents = done.contents
        _expect(all(b.startswith(a) for a, b in zip(contents, contents[1:])), "text shrank")
        return done.refreshes

    indexes = iter(range(conversations))
    index_lock = threading.Lock()

    def worker() -> None:
        while True:
            with index_lock:
                index = next(indexes, None)
            if index is None:
                return
            record("conversation", lambda: converse(index))  # noqa: B023 - called at once
            if report is not None:
                report(f"conversation {index + 1}/{conversations}")

    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary.elapsed = time.perf_counter() - started
    return summary
