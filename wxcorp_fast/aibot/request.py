"""What an AI-bot handler gets: ``AIBotRequest`` (a leaf module of the room)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..messages import AIBotMessage

__all__ = ["AIBotRequest", "AIBotHandler"]


@dataclass(slots=True)
class AIBotRequest:
    """A verified, decrypted AI-bot callback: what a handler gets."""

    http_request: Any
    """The WSGI environ or ASGI scope, or whatever the caller of ``serve`` passed."""
    query: dict[str, str]
    msg_signature: str
    timestamp: int
    nonce: str
    raw_msg_json: bytes
    """The decrypted inner JSON."""
    msg: AIBotMessage


AIBotHandler = Callable[[AIBotRequest], Any]
"""``handler(request) -> reply``: a reply object, ``str``, ``bytes`` (inner JSON), ``None``,
a generator or async generator of ``str`` chunks (a streamed answer), or an awaitable of one
of these (under ASGI)."""
