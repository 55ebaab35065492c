"""Over-HTTP throughput: wxcorp_fast's echo bot against wechatpy's, same server, same load, one run.

    python bench/http_bench.py [--duration 5] [--rounds 3] [--connections 16]

Pairs (each side with 2 worker processes, started from the same ``ServerProcess`` harness):
- gunicorn (sync workers): ``wxcorp_fast._echobot:build_app()`` vs Flask + wechatpy 1.8.18
- uvicorn (its multiprocess supervisor, through ``uvicorn_workers.py``, which only adds
  TCP_NODELAY: uvicorn issue #3149): ``build_asgi_app`` (``.asgi``) vs Starlette + wechatpy

The load generator is wrk (Debian's ``wrk``): keep-alive connections POSTing one pre-signed
text callback (the docs' example credentials) for ``--duration`` seconds. The echo bot runs
without a dedupe store, so every repeat of the same body is handled in full, on both sides;
the body is signed right before each run, well inside the 300-second replay window. Before
measuring, each app's reply is verified with ``CallbackSimulator`` (text echoed, signature
checked). Sides alternate within a round and each side's best round counts (noise on a
shared machine only ever lowers throughput); a run with any non-2xx answer is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from wxcorp_fast.testing.servers import ServerProcess, gunicorn

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
    """One side of a pair: a name and how to start it."""

    name: str
    start: Callable[[], ServerProcess]


def uvicorn_workers(app: str) -> ServerProcess:
    """uvicorn's multiprocess supervisor with ``WORKERS`` workers (see uvicorn_workers.py)."""
    script = str(HERE / "uvicorn_workers.py")
    return ServerProcess([sys.executable, script, app, "{fd}", str(WORKERS)], _env())


PAIRS: dict[str, tuple[App, App]] = {
    "gunicorn": (
        App(
            "wxcorp_fast (WSGI)",
            lambda: gunicorn("wxcorp_fast._echobot:build_app()", workers=WORKERS, env=_env()),
        ),
        App(
            "Flask + wechatpy",
            lambda: gunicorn("wechatpy_apps:flask_app()", workers=WORKERS, env=_env()),
        ),
    ),
    "uvicorn": (
        App("wxcorp_fast (.asgi)", lambda: uvicorn_workers("wxcorp_fast._echobot:build_asgi_app")),
        App("Starlette + wechatpy", lambda: uvicorn_workers("wechatpy_apps:starlette_app")),
    ),
}


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


def wrk(url: str, duration: float, connections: int, threads: int = 1) -> float:
    """Run wrk against ``url`` and return requests/s; any non-2xx answer is an error."""
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
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    return float(match.group(1))


def measure_pair(
    pair: tuple[App, App], rounds: int, duration: float, connections: int
) -> tuple[float, float]:
    """Start both sides, verify them, alternate wrk runs; return each side's best req/s."""
    ours, theirs = pair
    with ours.start() as a, theirs.start() as b:
        for server in (a, b):
            check_app(server.url)
        best = [0.0, 0.0]
        for _ in range(rounds):
            for side, server in enumerate((a, b)):
                best[side] = max(best[side], wrk(server.url, duration, connections))
    return best[0], best[1]


def table(results: dict[str, tuple[float, float]]) -> str:
    lines = [
        f"| server ({WORKERS} workers) | wxcorp_fast req/s | wechatpy req/s | ratio | goal |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (ours, theirs) in results.items():
        a, b = PAIRS[name]
        ratio = ours / theirs
        mark = "✓" if ratio >= TARGET else "✗"
        lines.append(
            f"| {name}: {a.name} vs {b.name} | {ours:.0f} | {theirs:.0f} | "
            f"{ratio:.2f}x {mark} | {TARGET:.0f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per side")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--pair", choices=list(PAIRS), action="append", help="only these pairs (default: all)"
    )
    args = parser.parse_args(argv)
    results = {
        name: measure_pair(PAIRS[name], args.rounds, args.duration, args.connections)
        for name in (args.pair or list(PAIRS))
    }
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
