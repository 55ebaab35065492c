"""Over-HTTP throughput: wxcorp_fast's echo bot against wechatpy's, same server, same load, one run.

    python bench/http_bench.py [--duration 5] [--rounds 3] [--connections 16]
                               [--pair gunicorn] [--worker-class gthread --threads 4]

Pairs (each side with 2 worker processes, started from the same ``ServerProcess`` harness):
- gunicorn (sync workers unless ``--worker-class``): ``our_apps:wsgi_app()`` (the echo bot) vs
  Flask + wechatpy 1.8.18
- uvicorn (its multiprocess supervisor, through ``uvicorn_workers.py``, which only adds
  TCP_NODELAY: uvicorn issue #3149): ``our_apps:asgi_app`` (``.asgi``) vs Starlette + wechatpy

Each pair also runs a do-nothing app under the same server (``null_apps.py``): the server's
ceiling, the requests/s that no app can pass there; and a core-only app (``core_apps.py``):
the compiled core's own work on the callback and nothing else, the floor of any app built on
it. Besides requests/s, the table gives the
server's CPU time per request (all its processes, from /proc), which is what sets requests/s
when the load generator has a machine of its own instead of sharing this one's CPUs.

The load generator is wrk (Debian's ``wrk``): keep-alive connections POSTing one pre-signed
text callback (the docs' example credentials) for ``--duration`` seconds. The echo bot runs
without a dedupe store, so every repeat of the same body is handled in full, on both sides;
the body is signed right before each run, well inside the 300-second replay window. Before
measuring, each echo bot's reply is verified with ``CallbackSimulator`` (text echoed,
signature checked). The apps alternate within a round; each one's best round counts for
requests/s and its lowest for CPU per request (noise on a shared machine only ever makes
things slower); a run with any non-2xx answer is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from wxcorp_fast import parse_message
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.runners import ServerProcess, gunicorn

HERE = Path(__file__).resolve().parent
WORKERS = 2
TARGET = 2.0
TEXT = "hello from wrk"


def _env() -> dict[str, str]:
    """Let the servers import this directory's ``wechatpy_apps``."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(HERE) + (os.pathsep + path if path else "")}


@dataclasses.dataclass(frozen=True)
class App:
    """One app of a pair: a name, and how to start it given extra gunicorn options."""

    name: str
    start: Callable[[Sequence[str]], ServerProcess]
    echoes: bool = True  # answers a text callback with its verified echo (checked first)


@dataclasses.dataclass(frozen=True)
class Pair:
    """Our echo bot, wechatpy's, the do-nothing app (the ceiling) and the core-only app."""

    ours: App
    theirs: App
    ceiling: App
    core_only: App


def uvicorn_workers(app: str) -> ServerProcess:
    """uvicorn's multiprocess supervisor with ``WORKERS`` workers (see uvicorn_workers.py)."""
    script = str(HERE / "uvicorn_workers.py")
    return ServerProcess([sys.executable, script, app, "{fd}", str(WORKERS)], _env())


def _gunicorn(app: str) -> Callable[[Sequence[str]], ServerProcess]:
    return lambda options: gunicorn(app, workers=WORKERS, env=_env(), options=options)


def _uvicorn(app: str) -> Callable[[Sequence[str]], ServerProcess]:
    return lambda options: uvicorn_workers(app)


#: The fourth app of each pair, by ``--floor``: the core's one-call paths, or its cryptography.
FLOORS: dict[str, dict[str, App]] = {
    "core": {
        "gunicorn": App("core-only WSGI app", _gunicorn("core_apps:wsgi_app()")),
        "uvicorn": App("core-only ASGI app", _uvicorn("core_apps:asgi_app")),
    },
    "crypto": {
        "gunicorn": App(
            "crypto-only WSGI app", _gunicorn("core_apps:crypto_wsgi_app()"), echoes=False
        ),
        "uvicorn": App("crypto-only ASGI app", _uvicorn("core_apps:crypto_asgi_app"), echoes=False),
    },
}

PAIRS: dict[str, Pair] = {
    "gunicorn": Pair(
        App("wxcorp_fast (WSGI)", _gunicorn("our_apps:wsgi_app()")),
        App("Flask + wechatpy", _gunicorn("wechatpy_apps:flask_app()")),
        App("do-nothing WSGI app", _gunicorn("null_apps:wsgi_app()"), echoes=False),
        FLOORS["core"]["gunicorn"],
    ),
    "uvicorn": Pair(
        App("wxcorp_fast (.asgi)", _uvicorn("our_apps:asgi_app")),
        App("Starlette + wechatpy", _uvicorn("wechatpy_apps:starlette_app")),
        App("do-nothing ASGI app", _uvicorn("null_apps:asgi_app"), echoes=False),
        FLOORS["core"]["uvicorn"],
    ),
}


@dataclasses.dataclass
class Side:
    """One app's results: best requests/s, lowest server CPU µs per request."""

    rps: float = 0.0
    cpu_us: float = math.inf

    def add(self, rps: float, cpu_us: float) -> None:
        self.rps = max(self.rps, rps)
        self.cpu_us = min(self.cpu_us, cpu_us)


def simulator() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


def check_app(url: str) -> None:
    """Fail unless the app echoes a text callback in a verified reply."""
    result = simulator().post(url, "text", content=TEXT)
    if result.status != 200 or result.reply is None:
        raise RuntimeError(f"{url}: HTTP {result.status}, no reply")
    if parse_message(result.reply).content != TEXT:
        raise RuntimeError(f"{url}: the reply does not echo the text")


def wrk_script(url: str, directory: str) -> tuple[str, str]:
    """Write a wrk Lua script POSTing one freshly signed text callback; return (path, url)."""
    query, body = simulator().message("text", content=TEXT)
    text = body.decode()
    assert "]==]" not in text
    path = os.path.join(directory, "post.lua")
    with open(path, "w", encoding="utf-8") as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "text/xml; charset=utf-8"\n'
            f"wrk.body = [==[{text}]==]\n"
        )
    full_url = url + "?" + "&".join(f"{k}={val}" for k, val in query.items())
    return path, full_url


def wrk(url: str, duration: float, connections: int, threads: int = 1) -> tuple[int, float]:
    """Run wrk against ``url``: (requests, requests/s); any non-2xx answer is an error."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk not found: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="wxcorp_fast-wrk-") as tmp:
        script, full_url = wrk_script(url, tmp)
        out = subprocess.run(
            [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "-s",
                script,
                full_url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures:\n{out}")
    count = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if count is None or rate is None:
        raise RuntimeError(f"no request count in wrk output:\n{out}")
    return int(count.group(1)), float(rate.group(1))


_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system, reaped children included) of process group ``pgid``."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # pgrp
            ticks += sum(int(field) for field in fields[11:15])  # utime stime cutime cstime
    return ticks / _TICKS


def run_once(server: ServerProcess, duration: float, connections: int) -> tuple[float, float]:
    """One wrk run: (requests/s, the server's CPU µs per request)."""
    assert server.proc is not None
    pgid = server.proc.pid  # the harness starts each server in a session of its own
    before = group_cpu_seconds(pgid)
    requests, rps = wrk(server.url, duration, connections)
    return rps, 1e6 * (group_cpu_seconds(pgid) - before) / max(requests, 1)


Sides = tuple[Side, Side, Side, Side]


def measure_pair(
    pair: Pair,
    rounds: int,
    duration: float,
    connections: int,
    gunicorn_options: Sequence[str] = (),
) -> Sides:
    """Start the four apps, verify those that echo, alternate wrk runs; return results."""
    apps = (pair.ours, pair.theirs, pair.ceiling, pair.core_only)
    sides = (Side(), Side(), Side(), Side())
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(app.start(gunicorn_options)) for app in apps]
        for app, server in zip(apps, servers):
            if app.echoes:
                check_app(server.url)
        for _ in range(rounds):
            for side, server in zip(sides, servers):
                side.add(*run_once(server, duration, connections))
    return sides


def table(results: dict[str, Sides], server_note: str = "", floor: str = "core") -> str:
    """The Markdown table of ``measure_pair`` results, one row per pair."""
    head = (
        f"| server ({WORKERS} workers{server_note}) | wxcorp_fast req/s | wechatpy req/s "
        "| ratio | goal | do-nothing app req/s (ceiling) | server CPU µs/request: "
        f"wxcorp_fast, wechatpy, do-nothing, {floor}-only | CPU ratio | against the do-nothing "
        f"app: wxcorp_fast req/s, CPU; {floor}-only CPU |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (ours, theirs, ceiling, core_only) in results.items():
        pair = PAIRS[name]
        ratio = ours.rps / theirs.rps
        mark = "✓" if ratio >= TARGET else "✗"
        lines.append(
            f"| {name}: {pair.ours.name} vs {pair.theirs.name} | {ours.rps:.0f} | "
            f"{theirs.rps:.0f} | {ratio:.2f}x {mark} | {TARGET:.0f}x | "
            f"{ceiling.rps:.0f} ({ceiling.rps / theirs.rps:.2f}x) | "
            f"{ours.cpu_us:.0f}, {theirs.cpu_us:.0f}, {ceiling.cpu_us:.0f}, "
            f"{core_only.cpu_us:.0f} | {theirs.cpu_us / ours.cpu_us:.2f}x | "
            f"{ours.rps / ceiling.rps:.0%}, {ours.cpu_us / ceiling.cpu_us:.2f}x; "
            f"{core_only.cpu_us / ceiling.cpu_us:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per app")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--pair", choices=list(PAIRS), action="append", help="only these pairs (default: all)"
    )
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default="sync",
        help="gunicorn's worker class, for every app of the gunicorn pair (default sync)",
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gthread worker (default 4)"
    )
    parser.add_argument(
        "--floor",
        choices=list(FLOORS),
        default="core",
        help="the fourth app: the core's one-call paths (default) or its cryptography alone",
    )
    args = parser.parse_args(argv)
    options: list[str] = []
    note = ""
    if args.worker_class == "gthread":
        options = ["--worker-class", "gthread", "--threads", str(args.threads)]
        note = f"; gunicorn: gthread, {args.threads} threads"
    pairs = {
        name: dataclasses.replace(PAIRS[name], core_only=FLOORS[args.floor][name])
        for name in (args.pair or list(PAIRS))
    }
    results = {
        name: measure_pair(pair, args.rounds, args.duration, args.connections, options)
        for name, pair in pairs.items()
    }
    print(table(results, note, args.floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
