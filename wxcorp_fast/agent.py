"""One WeChat Work application (agent) as the callback server sees it.

``AgentServer`` is the protocol ``serve_http`` reads; ``DefaultAgentServer`` implements it
with AES key rotation: ``update_aes_key`` swaps one immutable ``(current, last)`` pair, so a
request always sees a consistent pair without taking a lock, and a message sealed with the
previous key (WeChat keeps using it for a while after the admin changes it) still opens.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._impl import core
from .errors import MSG_AES_KEY_RAW, InvalidAESKeyError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .server import Request

__all__ = ["AgentServer", "DefaultAgentServer"]


@runtime_checkable
class AgentServer(Protocol):
    """What ``serve_http`` needs to know about one agent (read-only properties)."""

    @property
    def corp_id(self) -> str:
        """The corp id; empty turns off the corp and agent checks."""

    @property
    def agent_id(self) -> int:
        """The agent id messages must carry (AgentID 0 is allowed for subscribe/unsubscribe)."""

    @property
    def token(self) -> str:
        """The callback Token."""

    @property
    def current_aes_key(self) -> bytes:
        """The 32-byte AES key in use."""

    @property
    def last_aes_key(self) -> bytes:
        """The previous AES key, tried when the current one fails (equal before a rotation)."""

    @property
    def message_handler(self) -> Callable[[Request], Any]:
        """The handler called with each verified ``Request``."""


def _aes_key(aes_key: str | bytes) -> bytes:
    """Turn a 43-character EncodingAESKey or 32 raw bytes into the 32-byte key."""
    if isinstance(aes_key, str):
        return core.decode_aes_key(aes_key)
    if isinstance(aes_key, (bytes, bytearray, memoryview)):
        raw = bytes(aes_key)
        if len(raw) != 32:
            raise InvalidAESKeyError(MSG_AES_KEY_RAW)
        return raw
    raise TypeError("aes_key must be the EncodingAESKey (str) or 32 bytes")


class DefaultAgentServer:
    """An ``AgentServer`` holding its settings, with AES key rotation.

    Args:
        corp_id: the corp id (``""`` skips the corp and agent checks).
        agent_id: the agent id.
        token: the callback Token.
        aes_key: the 43-character EncodingAESKey, or the 32 raw key bytes.
        message_handler: called with each verified ``Request``.

    Raises:
        InvalidAESKeyError (-40004): ``aes_key`` is not a valid key.
    """

    __slots__ = ("_corp_id", "_agent_id", "_token", "_keys", "_handler", "_lock")

    def __init__(
        self,
        corp_id: str,
        agent_id: int,
        token: str,
        aes_key: str | bytes,
        message_handler: Callable[[Request], Any],
    ) -> None:
        if not isinstance(corp_id, str) or not isinstance(token, str):
            raise TypeError("corp_id and token must be str")
        if type(agent_id) is not int:
            raise TypeError("agent_id must be int")
        if not callable(message_handler):
            raise TypeError("message_handler must be callable")
        key = _aes_key(aes_key)
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._token = token
        self._keys: tuple[bytes, bytes] = (key, key)
        self._handler = message_handler
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DefaultAgentServer(corp_id={self._corp_id!r}, agent_id={self._agent_id!r})"

    @property
    def corp_id(self) -> str:
        """The corp id."""
        return self._corp_id

    @property
    def agent_id(self) -> int:
        """The agent id."""
        return self._agent_id

    @property
    def token(self) -> str:
        """The callback Token."""
        return self._token

    @property
    def current_aes_key(self) -> bytes:
        """The AES key in use."""
        return self._keys[0]

    @property
    def last_aes_key(self) -> bytes:
        """The previous AES key (equal to the current one before any rotation)."""
        return self._keys[1]

    @property
    def aes_keys(self) -> tuple[bytes, bytes]:
        """``(current, last)``, read together (one consistent pair during a rotation)."""
        return self._keys

    @property
    def message_handler(self) -> Callable[[Request], Any]:
        """The message handler."""
        return self._handler

    def update_aes_key(self, aes_key: str | bytes) -> None:
        """Make ``aes_key`` current and keep the current key as the last one.

        Setting the key already current changes nothing (the last key is kept).

        Raises:
            InvalidAESKeyError (-40004): ``aes_key`` is not a valid key.
        """
        key = _aes_key(aes_key)
        with self._lock:
            current = self._keys[0]
            if key != current:
                self._keys = (key, current)
