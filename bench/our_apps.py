"""wxcorp_fast's echo bot as bench/http_bench.py serves it: the production app, no dedupe store.

wrk posts the same callback over and over; without a store every copy is handled in full,
as wechatpy's apps handle it (with the default store every copy after the first would be a
dedupe hit, which is cheaper and not what the comparison is about).

    gunicorn 'our_apps:wsgi_app()'
    uvicorn --factory our_apps:asgi_app
"""

from __future__ import annotations

from typing import Any

from wxcorp_fast.cli.echobot import build_app


def wsgi_app() -> Any:
    """The echo bot's WSGI application."""
    return build_app(dedupe=False)


def asgi_app() -> Any:
    """The echo bot's ASGI application."""
    return build_app(dedupe=False).asgi
