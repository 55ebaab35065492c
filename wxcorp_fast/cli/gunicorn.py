"""Run a WSGI application under gunicorn, programmatically (``serve``'s production server).

gunicorn is the optional extra ``wxcorp-fast[server]`` (it runs on POSIX only). The
application is built before the workers fork, so they share its read-only state.

``worker_exit`` is gunicorn's worker exit hook that drains a frontend's deferred replies
(``frontend.close(DRAIN_TIMEOUT)``); ``run`` sets it, and a gunicorn of your own gets it from
``gunicorn -c python:wxcorp_fast.cli.gunicorn app:frontend`` (or ``from
wxcorp_fast.cli.gunicorn import worker_exit`` in a config file). Its graceful timeout must
leave the drain its time (``run`` gives ``DRAIN_TIMEOUT`` + 5 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from ..callback.frontends import AgentServerFrontend, MultiAgentServerFrontend

__all__ = ["DRAIN_TIMEOUT", "MISSING_GUNICORN", "run", "worker_exit"]

_log = logging.getLogger(__name__)

DRAIN_TIMEOUT: Final = 10.0
"""Seconds a worker that exits waits for the deferred replies in flight."""

MISSING_GUNICORN = (
    "serve needs gunicorn: pip install 'wxcorp-fast[server]' (POSIX only); or mount the "
    "application in any WSGI/ASGI server yourself (README: Mounting in Flask / FastAPI)"
)


def worker_exit(server: Any, worker: Any) -> None:
    """Drain the deferred replies of the frontend this gunicorn worker served (its exit hook)."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, (AgentServerFrontend, MultiAgentServerFrontend)):
        app.close(DRAIN_TIMEOUT)


def run(
    app: Callable[..., Any],
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[str, int], None],
    **settings: Any,
) -> None:
    """Serve ``app`` on ``host:port`` with ``workers`` sync workers until SIGTERM/SIGINT.

    ``on_ready(host, port)`` runs in the master once it listens; ``port`` is the bound
    port (useful with port 0). ``settings`` are more gunicorn settings
    (``worker_class="gthread", threads=8``). A worker that exits drains the app's deferred
    replies (``worker_exit``).

    Raises:
        ImportError: gunicorn is not installed (the message says how to get it).
    """
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError as exc:
        raise ImportError(MISSING_GUNICORN) from exc

    def when_ready(server: Any) -> None:
        bound_host, bound_port = server.LISTENERS[0].sock.getsockname()[:2]
        on_ready(bound_host, bound_port)

    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "when_ready": when_ready,
        "accesslog": None,
        "loglevel": "warning",
        "graceful_timeout": int(DRAIN_TIMEOUT) + 5,
        "worker_exit": worker_exit,
        **settings,
    }

    class _Application(BaseApplication):  # type: ignore[misc]  # gunicorn has no types
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return app

    _log.info("gunicorn on %s:%d with %d workers", host, port, workers)
    _Application().run()
