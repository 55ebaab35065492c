"""AIBotMux: route AI-bot callbacks by msgtype, and events by event type, to handlers.

Messages route on ``msg.msgtype`` (``text``, ``image``, ``mixed``, ``voice``, ``file``, and
``stream`` for refreshes of streams the server does not keep itself); events
(``msgtype: event``) on ``msg.event_type`` (``enter_chat``, ``template_card_event``,
``feedback_event``). Types match case-insensitively. No route: the default handler of its
kind, else no reply. The table is rebuilt on each registration and swapped in whole, so
lookups take no lock. The mux returns whatever the handler returns: ``async def`` handlers
and (async) generators work as they do without a mux.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .request import AIBotHandler, AIBotRequest

__all__ = ["AIBotMux"]

H = TypeVar("H", bound="Callable[[AIBotRequest], Any]")


def _type_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty str")
    return value.lower()


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise TypeError("handler must be callable")


class AIBotMux:
    """A handler that dispatches AI-bot callbacks to other handlers by type."""

    __slots__ = ("_messages", "_events", "_default_message", "_default_event", "_lock")

    def __init__(self) -> None:
        self._messages: dict[str, AIBotHandler] = {}
        self._events: dict[str, AIBotHandler] = {}
        self._default_message: AIBotHandler | None = None
        self._default_event: AIBotHandler | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AIBotMux(messages={sorted(self._messages)!r}, events={sorted(self._events)!r})"

    def message_handle(self, msgtype: str, handler: AIBotHandler) -> None:
        """Route messages of ``msgtype`` (registering it again replaces the handler)."""
        name = _type_name(msgtype, "msgtype")
        _check_handler(handler)
        with self._lock:
            self._messages = {**self._messages, name: handler}

    def event_handle(self, event_type: str, handler: AIBotHandler) -> None:
        """Route events of ``event_type`` (registering it again replaces the handler)."""
        name = _type_name(event_type, "event_type")
        _check_handler(handler)
        with self._lock:
            self._events = {**self._events, name: handler}

    def default_message_handle(self, handler: AIBotHandler) -> None:
        """Handle messages no route matches."""
        _check_handler(handler)
        self._default_message = handler

    def default_event_handle(self, handler: AIBotHandler) -> None:
        """Handle events no route matches."""
        _check_handler(handler)
        self._default_event = handler

    def message(self, msgtype: str) -> Callable[[H], H]:
        """Decorator form of ``message_handle``."""

        def register(handler: H) -> H:
            self.message_handle(msgtype, handler)
            return handler

        return register

    def event(self, event_type: str) -> Callable[[H], H]:
        """Decorator form of ``event_handle``."""

        def register(handler: H) -> H:
            self.event_handle(event_type, handler)
            return handler

        return register

    def default_message(self, handler: H) -> H:
        """Decorator form of ``default_message_handle``."""
        self.default_message_handle(handler)
        return handler

    def default_event(self, handler: H) -> H:
        """Decorator form of ``default_event_handle``."""
        self.default_event_handle(handler)
        return handler

    def handler_for(self, request: AIBotRequest) -> AIBotHandler | None:
        """Return the handler that would serve ``request`` (``None``: no reply)."""
        msg = request.msg
        msgtype = msg.msgtype.lower()
        if msgtype == "event":
            return self._events.get(msg.event_type.lower(), self._default_event)
        if msgtype == "stream":  # refreshes: no default (the server answers unknown streams)
            return self._messages.get(msgtype)
        return self._messages.get(msgtype, self._default_message)

    def __call__(self, request: AIBotRequest) -> Any:
        """Serve ``request`` with its handler; return its reply (``None`` if there is none)."""
        handler = self.handler_for(request)
        return None if handler is None else handler(request)
