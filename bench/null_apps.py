"""Do-nothing callback apps: what the server itself allows (bench/http_bench.py's ceiling).

They read the request body and answer a fixed body the size of the echo bot's encrypted reply
to wrk's text callback, with no verification, decryption, parsing or framework: the requests/s
any app could reach under the same server, load generator and machine. Not callback servers.

    gunicorn 'null_apps:wsgi_app()'
    uvicorn --factory null_apps:asgi_app
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

#: As long as the echo bot's answer to bench/http_bench.py's callback (577 bytes).
REPLY = b"<xml><Encrypt><![CDATA[" + b"A" * 535 + b"]]></Encrypt></xml>"
HEADERS = [("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", str(len(REPLY)))]


def wsgi_app() -> Callable[..., Iterable[bytes]]:
    """The do-nothing WSGI app."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        environ["wsgi.input"].read(int(length) if length else 0)
        start_response("200 OK", HEADERS)
        return [REPLY]

    return app


def asgi_app() -> Callable[..., Any]:
    """The do-nothing ASGI 3 app (lifespan answered)."""
    headers = [(name.lower().encode(), value.encode()) for name, value in HEADERS]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]  # startup / shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": REPLY})

    return app
