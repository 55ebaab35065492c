"""MessageServeMux: route messages by MsgType, and events by Event, to handlers.

Types are matched case-insensitively. Within a type, routes registered with ``match=``
(messages: ``re.search`` on Content) or ``key=`` (events: an exact, case-sensitive EventKey,
or a compiled regex, ``re.search`` on EventKey) are tried first, in registration order; then
the plain route of the type; then the default handler; else the answer is empty
(``None``). Registering the same type and match/key again replaces that route in place.
The routing table is rebuilt on each registration and swapped in whole, so lookups take
no lock. The mux returns whatever the chosen handler returns, so ``async def`` handlers
work under ``serve_http_async`` and ``.asgi``.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

from .request import Request

__all__ = ["MessageServeMux", "MESSAGE_TYPES"]

#: The MsgType values WeChat Work pushes to an app ("event" is routed by ``event_handle``).
MESSAGE_TYPES: Final = ("text", "image", "voice", "video", "location", "link", "file", "event")

H = TypeVar("H", bound="Callable[[Request], Any]")
Handler = Callable[["Request"], Any]


class _Route(NamedTuple):
    """The routes of one type: ``(matcher, handler)`` pairs in order, then the plain handler."""

    matched: tuple[tuple[re.Pattern[str] | str, Handler], ...] = ()
    plain: Handler | None = None


def _with(route: _Route, matcher: re.Pattern[str] | str | None, handler: Handler) -> _Route:
    """Return ``route`` with ``handler`` registered under ``matcher``."""
    if matcher is None:
        return route._replace(plain=handler)
    matched = list(route.matched)
    for i, (existing, _) in enumerate(matched):
        if type(existing) is type(matcher) and existing == matcher:
            matched[i] = (matcher, handler)
            break
    else:
        matched.append((matcher, handler))
    return route._replace(matched=tuple(matched))


def _matches(matcher: re.Pattern[str] | str, text: str) -> bool:
    """An exact (str) or ``re.search`` (pattern) match of ``text``."""
    if isinstance(matcher, str):
        return matcher == text
    return matcher.search(text) is not None


def _pick(
    routes: dict[str, _Route], type_name: str, text: str, default: Handler | None
) -> Handler | None:
    """Return the handler of ``type_name`` for ``text``: matched, else plain, else ``default``."""
    route = routes.get(type_name)
    if route is not None:
        for matcher, handler in route.matched:
            if _matches(matcher, text):
                return handler
        if route.plain is not None:
            return route.plain
    return default


def _type_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty str")
    return value.lower()


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise TypeError("handler must be callable")


class MessageServeMux:
    """A message handler that dispatches to other handlers by message and event type."""

    __slots__ = ("_messages", "_events", "_default_message", "_default_event", "_lock")

    def __init__(self) -> None:
        self._messages: dict[str, _Route] = {}
        self._events: dict[str, _Route] = {}
        self._default_message: Handler | None = None
        self._default_event: Handler | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"MessageServeMux(messages={sorted(self._messages)!r}, events={sorted(self._events)!r})"
        )

    # -- registration ---------------------------------------------------------------------

    def message_handle(
        self, msg_type: str, handler: Handler, *, match: re.Pattern[str] | str | None = None
    ) -> None:
        """Route messages of ``msg_type`` (whose Content ``match`` searches, if given).

        ``match`` is a compiled regular expression or a str pattern (compiled here). A type
        WeChat never sends (a typo such as ``"txt"``) draws a ``UserWarning`` naming the
        known types.
        """
        self._add_message(msg_type, handler, match)

    def _add_message(
        self, msg_type: str, handler: Handler, match: re.Pattern[str] | str | None
    ) -> None:
        """Register a message route (called by the public forms, hence the stack level)."""
        name = _type_name(msg_type, "msg_type")
        _check_handler(handler)
        if name not in MESSAGE_TYPES:
            warnings.warn(
                f"MessageServeMux: WeChat Work sends no message of type {msg_type!r}; the known"
                f" types are {', '.join(MESSAGE_TYPES)} (events: use event_handle)",
                UserWarning,
                stacklevel=3,  # the user's line: it called message_handle or decorated
            )
        if isinstance(match, str):
            match = re.compile(match)
        elif match is not None and not isinstance(match, re.Pattern):
            raise TypeError("match must be a str pattern or a compiled regular expression")
        with self._lock:
            table = dict(self._messages)
            table[name] = _with(table.get(name, _Route()), match, handler)
            self._messages = table

    def event_handle(
        self, event_type: str, handler: Handler, *, key: re.Pattern[str] | str | None = None
    ) -> None:
        """Route events of ``event_type`` (whose EventKey equals or ``key`` searches, if given)."""
        name = _type_name(event_type, "event_type")
        _check_handler(handler)
        if key is not None and not isinstance(key, (str, re.Pattern)):
            raise TypeError("key must be a str or a compiled regular expression")
        with self._lock:
            table = dict(self._events)
            table[name] = _with(table.get(name, _Route()), key, handler)
            self._events = table

    def default_message_handle(self, handler: Handler) -> None:
        """Handle messages no route matches."""
        _check_handler(handler)
        self._default_message = handler

    def default_event_handle(self, handler: Handler) -> None:
        """Handle events no route matches."""
        _check_handler(handler)
        self._default_event = handler

    # -- decorator forms ------------------------------------------------------------------

    def message(
        self, msg_type: str, match: re.Pattern[str] | str | None = None
    ) -> Callable[[H], H]:
        """Decorator form of ``message_handle``."""

        def register(handler: H) -> H:
            self._add_message(msg_type, handler, match)
            return handler

        return register

    def event(self, event_type: str, key: re.Pattern[str] | str | None = None) -> Callable[[H], H]:
        """Decorator form of ``event_handle``."""

        def register(handler: H) -> H:
            self.event_handle(event_type, handler, key=key)
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

    # -- dispatch -------------------------------------------------------------------------

    def handler_for(self, request: Request) -> Handler | None:
        """Return the handler that would serve ``request`` (``None``: an empty answer)."""
        msg = request.msg
        msg_type = msg.msg_type.lower()
        if msg_type == "event":
            return _pick(self._events, msg.event.lower(), msg.event_key, self._default_event)
        return _pick(self._messages, msg_type, msg.content, self._default_message)

    def __call__(self, request: Request) -> Any:
        """Serve ``request`` with its handler; return its reply (``None`` if there is none)."""
        handler = self.handler_for(request)
        return None if handler is None else handler(request)
