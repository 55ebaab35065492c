"""Callback apps the real-server tests run in gunicorn and uvicorn subprocesses.

Imported by the servers (``PYTHONPATH`` holds ``tests/``). The handler appends one line per
call to the file named by ``WXCORP_TEST_CALLS``, so a test in another process can prove a
handler ran, or never ran. The framework apps are the README's "Mounting in Flask /
FastAPI" code blocks themselves, executed from the README (``WXCORP_README``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from wxcorp_fast import DefaultAgentServer, MultiAgentServerFrontend, Request
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import vectors

CALLS_ENV = "WXCORP_TEST_CALLS"
README_ENV = "WXCORP_README"
AGENT_KEY = "docs"


def record_and_answer(request: Request) -> TextReply:
    """Record the call, then answer what was received."""
    msg = request.msg
    with open(os.environ[CALLS_ENV], "a", encoding="utf-8") as calls:
        calls.write(f"{msg.msg_type} {msg.event}\n")
    return TextReply(f"got {msg.content or msg.event or msg.msg_type}")


def _frontend() -> MultiAgentServerFrontend:
    frontend = MultiAgentServerFrontend()
    frontend.set_agent_server(
        AGENT_KEY,
        DefaultAgentServer(
            vectors.CORP_ID,
            vectors.AGENT_ID,
            vectors.TOKEN,
            vectors.ENCODING_AES_KEY,
            record_and_answer,
        ),
    )
    return frontend


def wsgi_app() -> MultiAgentServerFrontend:
    """The multi-agent frontend as a WSGI app (gunicorn)."""
    return _frontend()


def asgi_app() -> Any:
    """The same endpoint as an ASGI app (uvicorn)."""
    return _frontend().asgi


def readme_block(name: str) -> str:
    """Return the README's python block marked ``<!-- mount: name -->``."""
    text = Path(os.environ[README_ENV]).read_text(encoding="utf-8")
    match = re.search(rf"<!-- mount: {name} -->\s*```python\n(.*?)```", text, re.S)
    if match is None:
        raise LookupError(f"no '<!-- mount: {name} -->' python block in the README")
    return match.group(1)


def _run_readme(name: str) -> Any:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(readme_block(name), f"README.md ({name})", "exec"), namespace)  # noqa: S102
    return namespace["app"]


def flask_app() -> Any:
    """The README's Flask route (WSGI)."""
    return _run_readme("flask")


def fastapi_app() -> Any:
    """The README's FastAPI mount (ASGI)."""
    return _run_readme("fastapi")
