"""``serve``, ``simulate`` and ``demo``: the echo bot, the load generator, and both together."""

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

__all__ = ["add_server_commands", "URL_LINE"]

URL_LINE: Final = "callback URL: "
DEMO_START_TIMEOUT: Final = 60.0


def _agent_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer (flag or WXCORP_AGENT_ID), not {text!r}"
        ) from None


def _add_credentials(parser: argparse.ArgumentParser) -> None:
    """Add the agent's credential flags, each defaulting to its WXCORP_* variable."""
    from wxcorp_fast.testing import vectors

    group = parser.add_argument_group(
        "agent credentials",
        "each flag falls back to its environment variable, then to the WeChat Work docs' "
        "example (corp wx5823bf96d3bd56c7, agent 218)",
    )
    credentials: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
        ("--corp-id", "WXCORP_CORP_ID", str, vectors.CORP_ID),
        ("--agent-id", "WXCORP_AGENT_ID", _agent_id, str(vectors.AGENT_ID)),
        ("--token", "WXCORP_TOKEN", str, vectors.TOKEN),
        ("--encoding-aes-key", "WXCORP_ENCODING_AES_KEY", str, vectors.ENCODING_AES_KEY),
    )
    for flag, env, kind, default in credentials:
        # a string default goes through `type` too, and only for the command in use
        group.add_argument(
            flag,
            type=kind,
            default=os.environ.get(env) or default,
            metavar=env.removeprefix("WXCORP_"),
            help=f"(env {env})",
        )


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


def _cmd_demo(args: argparse.Namespace) -> int:
    """Start ``serve`` on a free 127.0.0.1 port, run ``simulate --echo`` on it, stop it."""
    # credentials through the environment: a command line is visible to every local user
    env = {
        **os.environ,
        "WXCORP_CORP_ID": args.corp_id,
        "WXCORP_AGENT_ID": str(args.agent_id),
        "WXCORP_TOKEN": args.token,
        "WXCORP_ENCODING_AES_KEY": args.encoding_aes_key,
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
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = _wait_for_url(proc, DEMO_START_TIMEOUT)
        if url is None:
            print(f"error: serve did not start (exit status {proc.poll()})", file=sys.stderr)
            return 1
        return _simulate(args, url, echo=True)
    finally:
        _stop(proc)


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
    _add_credentials(serve)
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
    _add_credentials(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    demo = commands.add_parser(
        "demo",
        help="serve and simulate together on a free local port",
        description="Start `serve` on a free 127.0.0.1 port, run `simulate --echo` against it, "
        "stop the server. Exits 0 when every reply verified.",
    )
    _add_workers(demo)
    _add_simulate_options(demo, count=200)
    _add_credentials(demo)
    demo.set_defaults(func=_cmd_demo)


