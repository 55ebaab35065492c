"""``serve``, ``simulate`` and ``demo``: the echo bot, the load generator, and both together.

With ``--aibot``, ``serve`` runs the AI echo bot (JSON callbacks, streamed answers) and
``simulate`` plays an AI bot's callbacks and streamed conversations; ``demo`` plays both
bots (``--aibot-conversations 0`` leaves the AI bot out).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from wxcorp_fast.testing import CallbackSimulator

from ._options import add_credentials

__all__ = ["add_server_commands", "URL_LINE"]

URL_LINE: Final = "callback URL: "
DEMO_START_TIMEOUT: Final = 60.0
AIBOT_THREADS: Final = 8


def _simulator(args: argparse.Namespace, concurrency: int = 1) -> CallbackSimulator:
    import urllib3

    from wxcorp_fast.testing import CallbackSimulator

    http = urllib3.PoolManager(maxsize=max(concurrency, 1), retries=False)
    return CallbackSimulator(
        args.corp_id, args.agent_id, args.token, args.encoding_aes_key, http=http
    )


def _is_docs_example(args: argparse.Namespace) -> bool:
    from wxcorp_fast.testing import vectors

    return (args.token, args.encoding_aes_key) == (vectors.TOKEN, vectors.ENCODING_AES_KEY)


def _cmd_serve(args: argparse.Namespace) -> int:
    """Run the echo bot for one agent under gunicorn until interrupted."""
    from . import gunicorn as _gunicorn
    from .echobot import build_app

    if importlib.util.find_spec("gunicorn") is None:
        print(f"error: {_gunicorn.MISSING_GUNICORN}", file=sys.stderr)
        return 2
    if args.aibot:
        return _serve_aibot(args)
    app = build_app(args.corp_id, args.agent_id, args.token, args.encoding_aes_key)

    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"echo bot for corp {args.corp_id}, agent {args.agent_id} "
            f"(gunicorn, {args.workers} workers)"
        )
        if _is_docs_example(args):
            print(
                "credentials: the WeChat Work docs' example (public; set WXCORP_* or flags "
                "for your own agent)"
            )
        print(f"{URL_LINE}http://{shown}:{port}/")
        print(
            "configure it (through your public host) in the admin console: "
            "app > Receive messages > Set API receive; Ctrl-C stops",
            flush=True,
        )

    _gunicorn.run(app, args.host, args.port, args.workers, ready)
    return 0


def _serve_aibot(args: argparse.Namespace) -> int:
    """Run the AI echo bot under gunicorn (gthread workers) until interrupted."""
    from . import gunicorn as _gunicorn
    from .echobot import build_aibot_app

    workers = args.workers
    note = ""
    if not args.redis_url and workers > 1:
        workers = 1
        note = "streams live in this process's memory: 1 worker (--redis-url for more)"
    app = build_aibot_app(
        args.token, args.encoding_aes_key, args.receive_id, redis_url=args.redis_url or None
    )

    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        store = "Redis" if args.redis_url else "memory"
        print(
            f"AI echo bot, receive id {args.receive_id!r} (gunicorn, {workers} workers x "
            f"{AIBOT_THREADS} threads, streams in {store})"
        )
        if note:
            print(note)
        if _is_docs_example(args):
            print(
                "credentials: the WeChat Work docs' example (public; set WXCORP_* or flags "
                "for your own bot)"
            )
        print(f"{URL_LINE}http://{shown}:{port}/")
        print(
            "configure it (through your public host) in the admin console: "
            "AI bot > API mode > URL; Ctrl-C stops",
            flush=True,
        )

    _gunicorn.run(
        app, args.host, args.port, workers, ready, worker_class="gthread", threads=AIBOT_THREADS
    )
    return 0


def _aibot_simulator(args: argparse.Namespace, concurrency: int = 1) -> Any:
    import urllib3

    from wxcorp_fast.testing import AIBotSimulator

    http = urllib3.PoolManager(maxsize=max(concurrency, 1), retries=False)
    return AIBotSimulator(args.token, args.encoding_aes_key, receive_id=args.receive_id, http=http)


def _simulate_aibot(args: argparse.Namespace, url: str, conversations: int, echo: bool) -> int:
    from .aibot_load import run_aibot

    sim = _aibot_simulator(args, args.concurrency)
    report = None if args.quiet else (lambda line: print(f"aibot: {line}", file=sys.stderr))
    summary = run_aibot(sim, url, conversations, args.concurrency, echo=echo, report=report)
    print(summary.format())
    return 1 if summary.failed or not summary.verified else 0


def _simulate(args: argparse.Namespace, url: str, echo: bool) -> int:
    from . import loadgen as _simulate

    sim = _simulator(args, args.concurrency)
    progress = None if args.quiet else _simulate.Progress(args.count, sys.stderr)
    summary = _simulate.run(
        sim, url, args.count, args.concurrency, echo=echo, timeout=args.timeout, progress=progress
    )
    print(summary.format())
    return 1 if summary.failed or not summary.outcomes else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    """Play WeChat against a callback URL and verify every answer."""
    if args.aibot:
        return _simulate_aibot(args, args.url, args.count, args.echo)
    if args.text is not None:
        return _simulate_text(args)
    return _simulate(args, args.url, args.echo)


def _simulate_text(args: argparse.Namespace) -> int:
    """Send one text message (``--text``), print the answer; exit 0 on a 200."""
    import urllib3

    from ..crypto import parse_message
    from ..errors import CallbackError
    from .loadgen import refusal

    sim = _simulator(args)
    try:
        result = sim.post(
            args.url, "text", content=args.text, timeout=args.timeout, retries=args.retries
        )
    except urllib3.exceptions.HTTPError as error:
        print(f"no answer: {type(error).__name__}")
        return 1
    except CallbackError as error:
        print(f"the reply does not verify: {type(error).__name__} ({error.code})")
        return 1
    tries = f" (try {result.tries} of WeChat's schedule)" if args.retries else ""
    if result.status != 200:
        print(f"refused{tries}: {refusal(result)}")
        return 1
    if result.reply is None:
        print(f"HTTP 200{tries}: an empty answer (any reply comes later, through the API)")
        return 0
    reply = parse_message(result.reply)
    shown = reply.content if reply.msg_type == "text" else result.reply.decode("utf-8", "replace")
    print(f"HTTP 200{tries}: {reply.msg_type} reply: {shown}")
    return 0


def _read_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _wait_for_url(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """Return the callback URL ``serve`` prints, or None if it exits or times out first."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            return None
        print(f"serve: {line.rstrip()}", file=sys.stderr)
        if line.startswith(URL_LINE):
            return line[len(URL_LINE) :].strip()
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def _start_serve(args: argparse.Namespace, *extra: str) -> subprocess.Popen[str]:
    """Start ``serve`` on a free 127.0.0.1 port (credentials through the environment)."""
    # credentials through the environment: a command line is visible to every local user
    env = {
        **os.environ,
        "WXCORP_CORP_ID": args.corp_id,
        "WXCORP_AGENT_ID": str(args.agent_id),
        "WXCORP_TOKEN": args.token,
        "WXCORP_ENCODING_AES_KEY": args.encoding_aes_key,
        "WXCORP_RECEIVE_ID": args.receive_id,
    }
    command = [
        sys.executable,
        "-m",
        "wxcorp_fast",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        str(args.workers),
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def _run_against(proc: subprocess.Popen[str], play: Callable[[str], int]) -> int:
    """Wait for ``serve``'s URL, run ``play(url)``, stop the server."""
    try:
        url = _wait_for_url(proc, DEMO_START_TIMEOUT)
        if url is None:
            print(f"error: serve did not start (exit status {proc.poll()})", file=sys.stderr)
            return 1
        return play(url)
    finally:
        _stop(proc)


def _cmd_demo(args: argparse.Namespace) -> int:
    """Start ``serve`` on a free 127.0.0.1 port, run ``simulate --echo`` on it, stop it;
    then the same for ``serve --aibot`` with streamed conversations."""
    status = _run_against(_start_serve(args), lambda url: _simulate(args, url, echo=True))
    if args.aibot_conversations == 0:
        return status
    aibot_status = _run_against(
        _start_serve(args, "--aibot"),
        lambda url: _simulate_aibot(args, url, args.aibot_conversations, echo=True),
    )
    return status or aibot_status


def _add_simulate_options(parser: argparse.ArgumentParser, count: int) -> None:
    parser.add_argument(
        "--count",
        type=_positive,
        default=count,
        metavar="N",
        help=f"requests to send (default {count})",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=4,
        metavar="C",
        help="requests in flight at once (default 4)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds per request (default 10)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_positive,
        default=2,
        metavar="N",
        help="gunicorn worker processes (default 2)",
    )


def add_server_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run an echo bot for one agent under gunicorn",
        description="Run an echo bot for one agent (text answered with the same text, other "
        "messages and events with a one-line summary) under gunicorn, and print the callback "
        "URL to configure. Needs the extra: pip install 'wxcorp-fast[server]'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    _add_workers(serve)
    serve.add_argument(
        "--aibot",
        action="store_true",
        help="run the AI echo bot (智能机器人: JSON callbacks, the echo streamed word by word)",
    )
    serve.add_argument(
        "--redis-url",
        default=os.environ.get("WXCORP_REDIS_URL", ""),
        metavar="URL",
        help="with --aibot: keep streams and dedupe in Redis, so several workers can serve "
        "(env WXCORP_REDIS_URL)",
    )
    add_credentials(serve)
    serve.set_defaults(func=_cmd_serve)

    simulate = commands.add_parser(
        "simulate",
        help="play WeChat against a callback URL and verify every reply",
        description="Send a mix of signed, encrypted callbacks (the URL check, messages and "
        "events) to URL, verify every answer, show a progress bar on stderr and end with a "
        "summary. Exits 1 when any request failed.",
    )
    simulate.add_argument(
        "url", metavar="URL", help="the callback URL, e.g. http://127.0.0.1:8080/"
    )
    _add_simulate_options(simulate, count=100)
    simulate.add_argument(
        "--echo", action="store_true", help="also expect the echo bot's answers (as `serve` gives)"
    )
    simulate.add_argument(
        "--aibot",
        action="store_true",
        help="play an AI bot's callbacks: every kind, then --count streamed conversations",
    )
    simulate.add_argument(
        "--text",
        metavar="TEXT",
        help="send just one text message with this content and print the answer (the body "
        "of a refused one too); exit 1 unless it is a 200",
    )
    simulate.add_argument(
        "--retries",
        action="store_true",
        help="with --text: play WeChat's retry schedule (no answer within 5 s: the same "
        "request again, three tries in all)",
    )
    add_credentials(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    demo = commands.add_parser(
        "demo",
        help="serve and simulate together on a free local port",
        description="Start `serve` on a free 127.0.0.1 port, run `simulate --echo` against it, "
        "stop the server. Exits 0 when every reply verified.",
    )
    _add_workers(demo)
    _add_simulate_options(demo, count=200)
    demo.add_argument(
        "--aibot-conversations",
        type=int,
        default=10,
        metavar="N",
        help="streamed conversations with `serve --aibot` after the agent (default 10; 0: none)",
    )
    add_credentials(demo)
    demo.set_defaults(func=_cmd_demo)
