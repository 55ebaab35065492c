"""What a callback handler gets and what the server answers: ``Request`` and ``Response``.

A leaf module: the other callback modules import these types, and it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import CallbackError
from ..messages import MixedMessage

__all__ = ["Request", "Response", "DedupeStore", "MessageHandler", "InvalidRequestHandler"]


@dataclass(slots=True)
class Request:
    """A verified, decrypted callback message: what a message handler gets.

    Its repr leaves out the AES key, the agent's Token, the frame's random and the raw
    decrypted XML (``msg`` shows the message).
    """

    http_request: Any
    """The WSGI environ or ASGI scope, or whatever the caller of ``serve_http`` passed."""
    query: dict[str, str]
    msg_signature: str
    timestamp: int
    nonce: str
    raw_msg_xml: bytes = field(repr=False)
    """The decrypted inner XML."""
    msg: MixedMessage
    aes_key: bytes = field(repr=False)
    """The AES key that opened this message (the last one after a rotation, if needed)."""
    random: bytes = field(repr=False)
    """The 16 random bytes of the request's frame."""
    corp_id: str
    """The envelope's ToUserName (the corp id the frame carries)."""
    agent_id: int
    agent_token: str = field(repr=False)


@dataclass(slots=True)
class Response:
    """An HTTP answer: status, headers (with Content-Type and Content-Length) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class DedupeStore(Protocol):
    """What ``serve_http`` needs of a dedupe store (see ``wxcorp_fast.callback.dedupe``)."""

    def begin(self, key: str) -> bytes | None:
        """Claim ``key``: ``None`` if new (now in flight), else the stored reply (``b""``: none)."""

    def finish(self, key: str, reply: bytes) -> None:
        """Store the inner XML of the reply given to ``key`` (``b""``: an empty answer)."""

    def discard(self, key: str) -> None:
        """Forget ``key`` (its handler failed, so a retry must run it again)."""


MessageHandler = Callable[[Request], Any]
"""A message handler: ``handler(request) -> reply`` (or an awaitable of one, under ASGI)."""

InvalidRequestHandler = Callable[[Any, CallbackError], "Response | None"]
"""``handler(http_request, error) -> Response | None`` for rejected requests."""
