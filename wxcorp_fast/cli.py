"""Command line: ``python -m wxcorp_fast`` and the ``wxcorp-fast`` console script.

Subcommands (API.md section 8): ``info``; ``serve`` (the echo bot under gunicorn),
``simulate`` (plays WeChat against a callback URL) and ``demo`` (both, on a free local port).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import wxcorp_fast
from wxcorp_fast import _core

if TYPE_CHECKING:
    from wxcorp_fast.testing import CallbackSimulator

__all__ = ["build_parser", "main", "self_check"]

_log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]

# Known answers for the official example in wxcorp_fast.testing.vectors (WeChat Work docs,
# "加解密方案说明" / Tencent's WXBizMsgCrypt samples). Public example data, no secret.
KNOWN_ECHO_PLAIN: Final = b"1616140317555161061"
KNOWN_POST_FIELDS: Final = {
    "to_user_name": "wx5823bf96d3bd56c7",
    "from_user_name": "mycreate",
    "create_time": 1409659813,
    "msg_type": "text",
    "content": "hello",
    "msg_id": 4561255354251345929,
    "agent_id": 218,
}
_REPLY: Final = b"<xml><Content><![CDATA[self-check]]></Content></xml>"


def self_check() -> list[str]:
    """Run the official docs' example through the implementation in use.

    Verifies and decrypts the URL check and the POST message, parses the message, and
    round-trips a reply through ``MsgCrypto.encrypt`` and ``MsgCrypto.decrypt``.

    Returns:
        The problems found, empty when every known answer matched. Problems name the
        step and the error class, never decrypted content.
    """
    from wxcorp_fast.testing import vectors

    problems: list[str] = []
    crypto = wxcorp_fast.MsgCrypto(vectors.TOKEN, vectors.ENCODING_AES_KEY, vectors.CORP_ID)

    def verify_url() -> bool:
        echo = crypto.verify_url(
            vectors.ECHO_MSG_SIGNATURE, vectors.ECHO_TIMESTAMP, vectors.ECHO_NONCE, vectors.ECHOSTR
        )
        return echo == KNOWN_ECHO_PLAIN

    def decrypt() -> bool:
        xml = crypto.decrypt(
            vectors.POST_BODY,
            vectors.POST_MSG_SIGNATURE,
            vectors.POST_TIMESTAMP,
            vectors.POST_NONCE,
        )
        msg = wxcorp_fast.parse_message(xml)
        return all(getattr(msg, name) == value for name, value in KNOWN_POST_FIELDS.items())

    def round_trip() -> bool:
        envelope = crypto.encrypt(_REPLY, nonce=vectors.POST_NONCE)
        raw = wxcorp_fast.parse_message(envelope).raw
        opened = crypto.decrypt(envelope, raw["MsgSignature"], raw["TimeStamp"], raw["Nonce"])
        return opened == _REPLY

    steps: dict[str, Callable[[], bool]] = {
        "verify_url": verify_url,
        "decrypt + parse_message": decrypt,
        "encrypt round trip": round_trip,
    }
    for name, run in steps.items():
        try:
            if not run():
                problems.append(f"{name}: wrong result")
        except Exception as exc:  # a self-check reports, it does not crash
            code = getattr(exc, "code", None)
            problems.append(f"{name}: {type(exc).__name__}" + (f" ({code})" if code else ""))
    return problems


def _loaded_libcrypto() -> list[str]:
    """Return the libcrypto files mapped into this process (Linux only, else empty)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "libcrypto" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def _cmd_info(args: argparse.Namespace) -> int:
    """Print the version, the core in use, OpenSSL, and run the known-answer self-check."""
    lines = [
        f"wxcorp_fast {wxcorp_fast.__version__}",
        f"location: {wxcorp_fast.__file__}",
        f"python: {platform.python_implementation()} {platform.python_version()}"
        f" ({sys.executable})",
        f"implementation: {wxcorp_fast.IMPLEMENTATION}",
    ]
    if wxcorp_fast.IMPLEMENTATION == "compiled":
        from wxcorp_fast import _core_c

        lines.append(f"openssl: {_core_c.OPENSSL_VERSION}")
        lines.extend(f"libcrypto: {path}" for path in _loaded_libcrypto())
    else:
        lines.append(f"compiled core missing: {_core.IMPORT_ERROR}")
        try:
            from cryptography import __version__ as crypto_version
            from cryptography.hazmat.backends.openssl.backend import backend

            lines.append(
                f"openssl: {backend.openssl_version_text()} (via cryptography {crypto_version})"
            )
        except Exception as exc:  # informational only
            _log.debug("cannot read cryptography's OpenSSL version: %r", exc)
    print("\n".join(lines))

    problems = self_check()
    if problems:
        print(f"self-check: FAILED ({'; '.join(problems)})")
        return 1
    print("self-check: ok (official docs example: verify_url, decrypt, parse_message, encrypt)")
    return 0


# --------------------------------------------------------------------------- serve, simulate, demo

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
    from wxcorp_fast import _gunicorn
    from wxcorp_fast._echobot import build_app

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
    from wxcorp_fast import _simulate

    sim = _simulator(args, args.concurrency)
    progress = None if args.quiet else _simulate.Progress(args.count, sys.stderr)
    summary = _simulate.run(
        sim, url, args.count, args.concurrency, echo=echo, timeout=args.timeout, progress=progress
    )
    print(summary.format())
    return 1 if summary.failed or not summary.outcomes else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    """Play WeChat against a callback URL and verify every answer."""
    return _simulate(args, args.url, args.echo)


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


def _add_server_commands(commands: Any) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """Build the ``wxcorp-fast`` argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="wxcorp-fast",
        description="WeChat Work (企业微信) callback SDK: tools and diagnostics.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {wxcorp_fast.__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = commands.add_parser(
        "info",
        help="show the core in use, the OpenSSL it links, and run a self-check",
        description="Show the version, the crypto core in use (compiled or python), the "
        "OpenSSL version it links or why the compiled core is missing, and verify the "
        "official WeChat Work docs example. Exits 1 when the self-check fails.",
    )
    info.set_defaults(func=_cmd_info)
    _add_server_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    command: Command = args.func
    return command(args)
