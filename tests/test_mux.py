"""MessageServeMux routing (docs/reference.md section 3)."""

from __future__ import annotations

import asyncio
import re
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast import DefaultAgentServer, MessageServeMux, serve_http, serve_http_async
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v


def simulator() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


def req(msg_type: str = "text", **fields: Any) -> Any:
    """A request carrying a parsed message (the mux only reads ``request.msg``).

    An event has no EventKey unless ``event_key`` is given.
    """
    if msg_type == "event":
        fields.setdefault("event_key", None)
    xml = simulator().message_xml(msg_type, **fields)
    return SimpleNamespace(msg=wxcorp_fast.parse_message(xml))


def named(name: str) -> Any:
    def handler(request: Any) -> str:
        return name

    handler.__name__ = name
    return handler


def test_routes_by_type_case_insensitively() -> None:
    mux = MessageServeMux()
    mux.message_handle("TEXT", named("text"))
    mux.message_handle("image", named("image"))
    mux.event_handle("Click", named("click"))
    assert mux(req("text", content="x")) == "text"
    assert mux(req("Text", content="x")) == "text"
    assert mux(req("IMAGE")) == "image"
    assert mux(req("event", event="CLICK", event_key="k")) == "click"
    assert mux(req("EVENT", event="click")) == "click"


def test_no_route_and_no_default_is_none() -> None:
    mux = MessageServeMux()
    mux.event_handle("click", named("click"))
    assert mux(req("text", content="x")) is None
    assert mux(req("event", event="view")) is None
    assert mux.handler_for(req("voice")) is None


def test_defaults_are_separate_for_messages_and_events() -> None:
    mux = MessageServeMux()
    mux.default_message_handle(named("default message"))
    assert mux(req("voice")) == "default message"
    assert mux(req("event", event="click")) is None
    mux.default_event_handle(named("default event"))
    assert mux(req("event", event="click")) == "default event"


def test_most_specific_wins_then_first_registered() -> None:
    mux = MessageServeMux()
    mux.default_message_handle(named("default"))
    mux.message_handle("text", named("plain"))
    mux.message_handle("text", named("digits"), match=re.compile(r"\d"))
    mux.message_handle("text", named("hello"), match=re.compile("^hello"))
    assert mux(req("text", content="hello 1")) == "digits"  # both match: first registered
    assert mux(req("text", content="hello")) == "hello"
    assert mux(req("text", content="other")) == "plain"
    assert mux(req("image")) == "default"


def test_event_keys_exact_and_regex() -> None:
    mux = MessageServeMux()
    mux.event_handle("click", named("plain"))
    mux.event_handle("click", named("exact"), key="MENU_1")
    mux.event_handle("click", named("regex"), key=re.compile(r"^MENU_\d+$"))
    assert mux(req("event", event="click", event_key="MENU_1")) == "exact"
    assert mux(req("event", event="click", event_key="MENU_22")) == "regex"
    # keys are case-sensitive
    assert mux(req("event", event="click", event_key="menu_1")) == "plain"
    assert mux(req("event", event="click")) == "plain"


def test_registering_again_replaces_in_place() -> None:
    mux = MessageServeMux()
    mux.message_handle("text", named("first any"), match=re.compile("a"))
    mux.message_handle("text", named("b"), match=re.compile("b"))
    mux.message_handle("text", named("second any"), match=re.compile("a"))
    mux.message_handle("TEXT", named("plain 1"))
    mux.message_handle("text", named("plain 2"))
    assert mux(req("text", content="ab")) == "second any"  # kept its place before "b"
    assert mux(req("text", content="c")) == "plain 2"
    mux.event_handle("click", named("k1"), key="K")
    mux.event_handle("click", named("k2"), key="K")
    mux.event_handle("click", named("re"), key=re.compile("K"))  # a regex is another key
    assert mux(req("event", event="click", event_key="K")) == "k2"
    mux.default_message_handle(named("d1"))
    mux.default_message_handle(named("d2"))
    assert mux(req("voice")) == "d2"


def test_decorator_forms() -> None:
    mux = MessageServeMux()

    @mux.message("text")
    def text(request: Any) -> str:
        return "text"

    @mux.message("text", match=re.compile("!$"))
    def shout(request: Any) -> str:
        return "shout"

    @mux.event("click", key="K")
    def click(request: Any) -> str:
        return "click K"

    @mux.event("view")
    def view(request: Any) -> str:
        return "view"

    @mux.default_message
    def other(request: Any) -> str:
        return "other"

    @mux.default_event
    def other_event(request: Any) -> str:
        return "other event"

    assert text(None) == "text"  # the decorators return the function itself
    assert mux(req("text", content="hi")) == "text"
    assert mux(req("text", content="hi!")) == "shout"
    assert mux(req("event", event="click", event_key="K")) == "click K"
    assert mux(req("event", event="view")) == "view"
    assert mux(req("link")) == "other"
    assert mux(req("event", event="click", event_key="J")) == "other event"


def test_registration_is_validated() -> None:
    mux = MessageServeMux()
    with pytest.raises(TypeError):
        mux.message_handle("text", named("x"), match=b"^a")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mux.event_handle("click", named("x"), key=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mux.message_handle("", named("x"))
    with pytest.raises(TypeError):
        mux.message_handle("text", "not callable")  # type: ignore[arg-type]


def test_mux_serves_sync_and_async_handlers_through_the_server() -> None:
    mux = MessageServeMux()

    @mux.message("text")
    def echo(request: Any) -> TextReply:
        return TextReply("sync " + request.msg.content)

    @mux.event("click")
    async def clicked(request: Any) -> TextReply:
        return TextReply("async " + request.msg.event_key)

    wechat = simulator()
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, mux)
    query, body = wechat.message("text", content="hi")
    response = serve_http("POST", query, body, agent)
    reply = wechat.open_reply(response.body, query=query)
    assert wxcorp_fast.parse_message(reply).content == "sync hi"
    query, body = wechat.message("event", event="click", event_key="K1")
    response = asyncio.run(serve_http_async("POST", query, body, agent))
    reply = wechat.open_reply(response.body, query=query)
    assert wxcorp_fast.parse_message(reply).content == "async K1"
    assert serve_http("POST", query, body, agent).status == 500  # async under the sync server
    query, body = wechat.message("voice", media_id="m")
    assert serve_http("POST", query, body, agent).body == b""


def test_mux_under_run_sync_in_thread() -> None:
    import threading

    ran_on: dict[str, int] = {}
    mux = MessageServeMux()

    @mux.message("text")
    def sync_route(request: Any) -> TextReply:
        ran_on["sync"] = threading.get_ident()
        return TextReply("sync")

    @mux.event("click")
    async def async_route(request: Any) -> TextReply:
        ran_on["async"] = threading.get_ident()
        return TextReply("async")

    wechat = simulator()
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, mux)

    async def serve(query: dict[str, str], body: bytes) -> tuple[str, int]:
        response = await serve_http_async("POST", query, body, agent, run_sync_in_thread=True)
        reply = wxcorp_fast.parse_message(wechat.open_reply(response.body, query=query))
        return reply.content, threading.get_ident()

    # the mux is a sync callable, so it runs in a worker thread; an async route's coroutine
    # is awaited back on the loop
    content, loop_thread = asyncio.run(serve(*wechat.message()))
    assert content == "sync" and ran_on["sync"] != loop_thread
    query, body = wechat.message("event", event="click", event_key="K")
    content, loop_thread = asyncio.run(serve(query, body))
    assert content == "async" and ran_on["async"] == loop_thread


def test_an_unknown_message_type_warns_at_the_users_line() -> None:
    mux = MessageServeMux()
    with pytest.warns(
        UserWarning, match=r"no message of type 'txt'; the known types are text,"
    ) as seen:
        mux.message_handle("txt", lambda r: None)
    assert seen[0].filename == __file__
    with pytest.warns(UserWarning, match="'Txt'") as seen:

        @mux.message("Txt")
        def handler(request: Any) -> None:
            return None

    assert seen[0].filename == __file__


def test_known_message_types_do_not_warn() -> None:
    mux = MessageServeMux()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for msg_type in ("text", "IMAGE", "voice", "video", "location", "link", "file"):
            mux.message_handle(msg_type, lambda r: None)


def test_match_accepts_a_str_pattern() -> None:
    mux = MessageServeMux()
    mux.message_handle("text", lambda r: "weather", match=r"^天气\s*\d+")
    mux.message_handle("text", lambda r: "plain")
    assert mux(req("text", content="天气 42")) == "weather"
    assert mux(req("text", content="说 天气 42")) == "plain"
    with pytest.raises(TypeError, match="str pattern or a compiled"):
        mux.message_handle("text", lambda r: None, match=42)  # type: ignore[arg-type]
