"""Stream refreshes per second over HTTP: the AI echo bot, 2 workers, streams in Redis.

    python bench/aibot_http_bench.py [--duration 5] [--rounds 3] [--connections 16]

The AI echo bot of ``serve --aibot`` (``wxcorp_fast.cli.echobot``) runs with 2 worker
processes on one redis-server (``tests/_redis_server.py``), under uvicorn (``.asgi``, through
``uvicorn_workers.py``: uvicorn's supervisor with TCP_NODELAY) and under gunicorn (gthread, 4
threads a worker); a do-nothing ASGI app under the same uvicorn setup is the ceiling. One
conversation is started, its refresh callback signed once (no replay window in this run), and
wrk POSTs that refresh over keep-alive connections: every request is a whole refresh
(signature, decrypt, parse, a Redis GETEX, reply, encrypt), answered by whichever worker got
the connection. Before measuring, the refresh's answer is verified with ``AIBotSimulator``.
Best round for requests/s, lowest for the server's CPU µs per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from wxcorp_fast.testing import AIBotSimulator  # noqa: E402
from wxcorp_fast.testing import vectors as v  # noqa: E402
from wxcorp_fast.testing.runners import ServerProcess, gunicorn  # noqa: E402

from _redis_server import RedisServer  # noqa: E402
from http_bench import Side, group_cpu_seconds  # noqa: E402

WORKERS = 2
TEXT = "refresh me over and over"


def _env(redis_url: str) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": str(HERE) + (os.pathsep + path if path else ""),
        "WXCORP_REDIS_URL": redis_url,
        "WXCORP_TOKEN": v.TOKEN,
        "WXCORP_ENCODING_AES_KEY": v.ENCODING_AES_KEY,
    }


def uvicorn_app(app: str) -> Callable[[str], ServerProcess]:
    script = str(HERE / "uvicorn_workers.py")
    return lambda url: ServerProcess([sys.executable, script, app, "{fd}", str(WORKERS)], _env(url))


def gunicorn_app(app: str) -> Callable[[str], ServerProcess]:
    return lambda url: gunicorn(
        app, workers=WORKERS, env=_env(url), options=["-k", "gthread", "--threads", "4"]
    )


APPS: dict[str, Callable[[str], ServerProcess]] = {
    "uvicorn: AI echo bot (.asgi)": uvicorn_app("wxcorp_fast.cli.echobot:build_aibot_asgi_app"),
    "gunicorn gthread: AI echo bot (WSGI)": gunicorn_app(
        "wxcorp_fast.cli.echobot:build_aibot_app()"
    ),
    "uvicorn: do-nothing ASGI app (ceiling)": uvicorn_app("null_apps:asgi_app"),
}


def prepared_refresh(url: str, verify: bool) -> tuple[dict[str, str], bytes]:
    """Start a conversation; return the signed refresh of its stream (verified if ``verify``)."""
    sim = AIBotSimulator(v.TOKEN, v.ENCODING_AES_KEY)
    if not verify:
        return sim.envelope(sim.message_json("stream", stream_id="x" * 32))
    done = sim.conversation(url, TEXT)
    if not done.content.endswith(TEXT.split()[-1]):
        raise RuntimeError(f"{url}: the echo bot did not echo")
    query, body = sim.envelope(sim.message_json("stream", stream_id=done.stream_id))
    answer = sim.open_reply(sim.send(url, query, body).body)
    if done.content.encode() not in answer:
        raise RuntimeError(f"{url}: the refresh did not answer the stream's content")
    return query, body


def wrk(
    url: str, query: dict[str, str], body: bytes, duration: float, connections: int
) -> tuple[int, float]:
    """POST the refresh for ``duration`` seconds: (requests, requests/s)."""
    import re

    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk not found: apt-get install wrk")
    text = body.decode()
    with tempfile.TemporaryDirectory(prefix="wxcorp_fast-wrk-") as tmp:
        script = os.path.join(tmp, "refresh.lua")
        with open(script, "w", encoding="utf-8") as out:
            out.write(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = [==[{text}]==]\n"
            )
        full = url + "?" + "&".join(f"{k}={val}" for k, val in query.items())
        out_text = subprocess.run(
            [
                binary,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "-s",
                script,
                full,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out_text) or "Socket errors" in out_text:
        raise RuntimeError(f"wrk saw failures:\n{out_text}")
    count = re.search(r"(\d+) requests in", out_text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out_text)
    if count is None or rate is None:
        raise RuntimeError(f"no request count in wrk output:\n{out_text}")
    return int(count.group(1)), float(rate.group(1))


def measure(rounds: int, duration: float, connections: int) -> dict[str, Side]:
    """Start the apps on one Redis, verify the bots, alternate wrk runs."""
    results = {name: Side() for name in APPS}
    with RedisServer() as redis_server, contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(start(redis_server.url)) for name, start in APPS.items()
        }
        requests = {
            name: prepared_refresh(server.url, "ceiling" not in name)
            for name, server in servers.items()
        }
        for _ in range(rounds):
            for name, server in servers.items():
                assert server.proc is not None
                before = group_cpu_seconds(server.proc.pid)
                count, rps = wrk(server.url, *requests[name], duration, connections)
                cpu_us = 1e6 * (group_cpu_seconds(server.proc.pid) - before) / max(count, 1)
                results[name].add(rps, cpu_us)
    return results


def table(results: dict[str, Side]) -> str:
    lines = [
        f"| server ({WORKERS} workers, streams in Redis) | refreshes/s | server CPU µs/request |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {side.rps:.0f} | {side.cpu_us:.0f} |" for name, side in results.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per app")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    args = parser.parse_args(argv)
    print(table(measure(args.rounds, args.duration, args.connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
