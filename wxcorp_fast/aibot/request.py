"""What an AI-bot handler gets: ``AIBotRequest`` (a leaf module of the room)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..messages import AIBotMessage

__all__ = ["AIBotRequest", "AIBotHandler"]


@dataclass(slots=True)
class AIBotRequest:
    """A verified, decrypted AI-bot callback: what a handler gets.

    Its repr shows the timestamp, nonce and message only: no signature (the query holds
    it), no decrypted JSON, nothing of the HTTP request.
    """

    http_request: Any = field(repr=False)
    """The WSGI environ or ASGI scope, or whatever the caller of ``serve`` passed."""
    query: dict[str, str] = field(repr=False)
    msg_signature: str = field(repr=False)
    timestamp: int
    nonce: str
    raw_msg_json: bytes = field(repr=False)
    """The decrypted inner JSON."""
    msg: AIBotMessage


AIBotHandler = Callable[[AIBotRequest], Any]
"""``handler(request) -> reply``: a reply object, ``str``, ``bytes`` (inner JSON), ``None``,
a generator or async generator of ``str`` chunks (a streamed answer), or an awaitable of one
of these (under ASGI)."""
