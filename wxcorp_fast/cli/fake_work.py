"""``fake-work``: run ``FakeWorkServer``, the local stand-in for the WeChat Work API, standalone.

For trying an application against the API without a real corp: point its ``base_url`` at the
printed URL and use the printed corp_id and corp secret (the fake's own, not a secret of
anyone's). It serves on 127.0.0.1 until SIGINT (Ctrl-C) or SIGTERM, then prints what it got.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any, Final

__all__ = ["add_fake_work_command", "cmd_fake_work", "BASE_URL_LINE"]

BASE_URL_LINE: Final = "base_url: "


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 to 65535")
    return port


def cmd_fake_work(args: argparse.Namespace) -> int:
    """Serve the fake API until SIGINT or SIGTERM; exit 0."""
    from ..testing.fake_work import FakeWorkServer

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with FakeWorkServer(port=args.port) as fake:
            print("fake WeChat Work API (FakeWorkServer) on 127.0.0.1")
            print(f"{BASE_URL_LINE}{fake.base_url}")
            print(f"corp_id: {fake.corp_id}")
            print(f"corp_secret: {fake.corp_secret}")
            print(
                "pass base_url to DefaultAccessTokenServer and CorpClient; Ctrl-C stops",
                flush=True,
            )
            while not stop.wait(0.5):
                pass
            calls = ", ".join(f"{path} {n}" for path, n in sorted(fake.calls.items()))
            print(f"stopped; calls: {calls or 'none'}", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def add_fake_work_command(commands: Any) -> None:
    """Register ``fake-work`` on the ``wxcorp-fast`` subparsers."""
    fake_work = commands.add_parser(
        "fake-work",
        help="run a fake WeChat Work API on 127.0.0.1 for local tests",
        description="Run FakeWorkServer standalone: a local HTTP server answering gettoken, "
        "getcallbackip, media/upload and message/send as WeChat Work does. Prints its base URL "
        "and the corp_id / corp secret it accepts, and serves until SIGINT or SIGTERM.",
    )
    fake_work.add_argument(
        "--port", type=_port, default=0, help="port on 127.0.0.1 (default 0: any free port)"
    )
    fake_work.set_defaults(func=cmd_fake_work)
