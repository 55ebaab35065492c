"""uvicorn with N worker processes whose connections get TCP_NODELAY (uvicorn issue #3149).

    python uvicorn_workers.py MODULE:FACTORY FD WORKERS

uvicorn's multiprocess supervisor (``--workers N``) binds its listener with ``proto`` 0;
accepted sockets inherit it and asyncio then leaves Nagle's algorithm on, so every
keep-alive answer after the first waits out the client's delayed ACK (~40 ms on Linux).
This runs the same supervisor on the listening socket passed as descriptor FD, rebuilt with
``IPPROTO_TCP``: the only difference from ``uvicorn --workers N`` is that fix.
"""

from __future__ import annotations

import socket
import sys

from uvicorn import Config
from uvicorn.supervisors import Multiprocess


def main(app: str, fd: int, workers: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    config = Config(app, factory=True, workers=workers, log_level="warning", access_log=False)
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
