"""The echo bot of ``python -m wxcorp_fast serve``: one agent, text echoed, the rest summarized.

``build_app()`` is also a WSGI application factory for any server
(``gunicorn 'wxcorp_fast.cli.echobot:build_app()'``), and ``build_asgi_app()`` the ASGI one
(``uvicorn --factory wxcorp_fast.cli.echobot:build_asgi_app``); both default to the WeChat Work
docs' example credentials.
"""

from __future__ import annotations

from typing import Any

from ..callback import (
    AgentServerFrontend,
    DefaultAgentServer,
    MessageServeMux,
    Request,
    TextReply,
)
from ..messages import MixedMessage
from ..testing import vectors

__all__ = ["build_app", "build_asgi_app", "build_mux", "summary"]


def summary(msg: MixedMessage) -> str:
    """Describe a message or event in one short line (no media content, just ids and keys)."""
    if msg.msg_type == "event":
        details = {
            "key": msg.event_key,
            "change": msg.change_type,
            "user": msg.user_id,
            "scan": msg.scan_code_info.scan_result,
            "pics": str(msg.send_pics_info.count or ""),
            "place": msg.send_location_info.label,
        }
        if msg.event.upper() == "LOCATION":
            details["at"] = f"{msg.latitude},{msg.longitude}"
        head = f"event {msg.event}"
    else:
        details = {
            "media": msg.media_id,
            "title": msg.title,
            "url": msg.url,
            "place": msg.label,
        }
        head = f"{msg.msg_type} message"
    extra = " ".join(f"{name}={value}" for name, value in details.items() if value)
    return f"{head} {extra}" if extra else head


def _echo_text(request: Request) -> TextReply:
    return TextReply(request.msg.content)


def _summarize(request: Request) -> TextReply:
    return TextReply(summary(request.msg))


def build_mux() -> MessageServeMux:
    """Return the bot's handler: text answered with the same text, the rest with a summary."""
    mux = MessageServeMux()
    mux.message_handle("text", _echo_text)
    mux.default_message_handle(_summarize)
    mux.default_event_handle(_summarize)
    return mux


def build_app(
    corp_id: str = vectors.CORP_ID,
    agent_id: int = vectors.AGENT_ID,
    token: str = vectors.TOKEN,
    encoding_aes_key: str = vectors.ENCODING_AES_KEY,
    **frontend_options: Any,
) -> AgentServerFrontend:
    """Build the echo bot as a WSGI application (``.asgi`` is the ASGI one).

    ``frontend_options`` go to ``AgentServerFrontend`` (``replay_window``, ``dedupe``, ...).
    """
    server = DefaultAgentServer(corp_id, agent_id, token, encoding_aes_key, build_mux())
    return AgentServerFrontend(server, **frontend_options)


def build_asgi_app(**options: Any) -> Any:
    """Build the echo bot as an ASGI application (arguments as ``build_app``)."""
    return build_app(**options).asgi
