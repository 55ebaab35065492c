"""Real HTTP servers for tests: gunicorn or uvicorn in a subprocess on a free 127.0.0.1 port.

gunicorn gets a listening socket bound here first (port 0) as a file descriptor
(``--bind fd://N``), so there is no race for the port. uvicorn gets ``--port N`` of a port
found free (its ``--fd`` takes any descriptor for a Unix socket, so TCP_NODELAY is never set
and every answer waits out the peer's delayed ACK); a start that loses the port to someone
else is retried on another. The server stops when the context exits: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

import urllib3

__all__ = ["ServerProcess", "gunicorn", "uvicorn"]


class ServerProcess:
    """Run a server command on a free 127.0.0.1 port until exit.

    Args:
        argv: the command; ``{fd}`` in an argument becomes the descriptor of a listening
            socket, ``{port}`` the number of a free port.
        env: extra environment variables for the server.
        start_timeout: seconds to wait for the first answer.
        path: the path ``url`` ends with.
    """

    PORT_ATTEMPTS = 5

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        start_timeout: float = 30.0,
        path: str = "/",
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.path = path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL plus ``path``."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> ServerProcess:
        """Start the server and wait until it answers an HTTP request.

        ``{fd}`` in ``argv`` is a socket bound here; ``{port}`` a free port, with up to
        ``PORT_ATTEMPTS`` tries when the server exits early (the port was taken meanwhile).
        """
        by_port = any("{port}" in arg for arg in self.argv)
        attempts = self.PORT_ATTEMPTS if by_port else 1
        for attempt in range(attempts):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.listen(128)
                self.port = sock.getsockname()[1]
                fd = sock.fileno()
                argv = [
                    arg.replace("{fd}", str(fd)).replace("{port}", str(self.port))
                    for arg in self.argv
                ]
                if by_port:
                    sock.close()  # free the port for the server to bind
                self.proc = subprocess.Popen(
                    argv,
                    env={**os.environ, **self.env},
                    pass_fds=() if by_port else (fd,),
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
            # (a server given the descriptor holds its own copy of the socket)
            if self._wait_ready(last=attempt == attempts - 1):
                return self
        raise AssertionError("unreachable")  # the last attempt raises

    def _wait_ready(self, last: bool) -> bool:
        """Wait for an answer; False when the server exited early and ``last`` is False."""
        http = urllib3.PoolManager(retries=False)
        deadline = time.monotonic() + self.start_timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if not last:
                    return False
                raise RuntimeError(f"{self.argv[:4]} exited with {self.proc.returncode}")
            try:
                http.request("GET", f"http://127.0.0.1:{self.port}/", timeout=2.0)
                return True
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.argv[:4]} did not answer within {self.start_timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def gunicorn(
    app: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 30.0,
    path: str = "/",
    options: Sequence[str] = (),
) -> ServerProcess:
    """A gunicorn server for ``app`` (``module:name`` or ``module:factory()``).

    Sync workers unless ``options`` (more gunicorn flags, e.g. ``["-k", "gthread"]``) say
    otherwise.
    """
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        "fd://{fd}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        *options,
        app,
    ]
    return ServerProcess(argv, env, start_timeout=start_timeout, path=path)


def uvicorn(
    app: str,
    *,
    factory: bool = True,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 30.0,
    path: str = "/",
) -> ServerProcess:
    """A uvicorn server for ``app`` (a factory ``module:function`` unless ``factory=False``).

    With ``workers`` > 1 uvicorn leaves TCP_NODELAY off (uvicorn issue #3149): fine for
    tests, not for timing (bench/uvicorn_workers.py has the fix).
    """
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        *(["--factory"] if factory else []),
        app,
    ]
    return ServerProcess(argv, env, start_timeout=start_timeout, path=path)
