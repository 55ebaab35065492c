"""One WeChat Work application (agent) as the callback server sees it.

``AgentServer`` is the protocol ``serve_http`` reads; ``DefaultAgentServer`` implements it
with AES key rotation: ``update_aes_key`` swaps one immutable ``(current, last)`` pair, so a
request always sees a consistent pair without taking a lock, and a message sealed with the
previous key (WeChat keeps using it for a while after the admin changes it) still opens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .._core import core
from .._spec import MSG_AES_KEY_RAW, MSG_EMPTY_TOKEN
from ..errors import InvalidAESKeyError
from .request import Request

__all__ = ["AgentServer", "DefaultAgentServer", "AgentSettings", "agent_settings"]


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


class AgentSettings(NamedTuple):
    """Everything ``serve_http`` reads of an agent, read at once (one consistent snapshot)."""

    corp_id: str
    agent_id: int
    token: str
    current_aes_key: bytes
    last_aes_key: bytes
    message_handler: Callable[[Request], Any]

    def __repr__(self) -> str:
        """Show the ids and the handler, never the Token or the keys."""
        return (
            f"AgentSettings(corp_id={self.corp_id!r}, agent_id={self.agent_id!r}, "
            f"message_handler={self.message_handler!r})"
        )


def agent_settings(agent_server: AgentServer) -> AgentSettings:
    """Return a snapshot of ``agent_server``'s settings (one read for a DefaultAgentServer)."""
    if type(agent_server) is DefaultAgentServer:
        return agent_server._settings
    return AgentSettings(
        agent_server.corp_id,
        agent_server.agent_id,
        agent_server.token,
        agent_server.current_aes_key,
        agent_server.last_aes_key,
        agent_server.message_handler,
    )


class DefaultAgentServer:
    """An ``AgentServer`` holding its settings, with AES key rotation.

    All settings live in one immutable ``AgentSettings`` tuple; ``update_aes_key`` builds a
    new one and swaps it in, so a request reads a consistent (current, last) pair without a
    lock while keys rotate.

    Args:
        corp_id: the corp id (``""`` skips the corp and agent checks).
        agent_id: the agent id.
        token: the callback Token.
        aes_key: the 43-character EncodingAESKey, or the 32 raw key bytes.
        message_handler: called with each verified ``Request``.

    Raises:
        InvalidAESKeyError (-40004): ``aes_key`` is not a valid key.
        ValueError: ``token`` is empty or ``agent_id`` negative (the message names it).
    """

    __slots__ = ("_settings", "_lock")

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
        if not token:
            raise ValueError(MSG_EMPTY_TOKEN)
        if agent_id < 0:
            raise ValueError(f"agent_id must be the app's AgentID (a positive int), not {agent_id}")
        key = _aes_key(aes_key)
        self._settings = AgentSettings(corp_id, agent_id, token, key, key, message_handler)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DefaultAgentServer(corp_id={self.corp_id!r}, agent_id={self.agent_id!r})"

    @property
    def corp_id(self) -> str:
        """The corp id."""
        return self._settings.corp_id

    @property
    def agent_id(self) -> int:
        """The agent id."""
        return self._settings.agent_id

    @property
    def token(self) -> str:
        """The callback Token."""
        return self._settings.token

    @property
    def current_aes_key(self) -> bytes:
        """The AES key in use."""
        return self._settings.current_aes_key

    @property
    def last_aes_key(self) -> bytes:
        """The previous AES key (equal to the current one before any rotation)."""
        return self._settings.last_aes_key

    @property
    def aes_keys(self) -> tuple[bytes, bytes]:
        """``(current, last)``, read together (one consistent pair during a rotation)."""
        settings = self._settings
        return settings.current_aes_key, settings.last_aes_key

    @property
    def message_handler(self) -> Callable[[Request], Any]:
        """The message handler."""
        return self._settings.message_handler

    def update_aes_key(self, aes_key: str | bytes) -> None:
        """Make ``aes_key`` current and keep the current key as the last one.

        Setting the key already current changes nothing (the last key is kept).

        Raises:
            InvalidAESKeyError (-40004): ``aes_key`` is not a valid key.
        """
        key = _aes_key(aes_key)
        with self._lock:
            settings = self._settings
            if key != settings.current_aes_key:
                self._settings = settings._replace(
                    current_aes_key=key, last_aes_key=settings.current_aes_key
                )
