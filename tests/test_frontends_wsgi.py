"""AgentServerFrontend and MultiAgentServerFrontend as WSGI applications (real environs)."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest

import wxcorp_fast
from wxcorp_fast import (
    URL_QUERY_AGENT_SERVER_KEY_NAME,
    AgentServerFrontend,
    DefaultAgentServer,
    MemoryDedupeStore,
    MultiAgentServerFrontend,
    Request,
    Response,
)
from wxcorp_fast.errors import CallbackError
from wxcorp_fast.replies import TextReply
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

from _http import call_wsgi, environ

OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def echo(request: Request) -> TextReply:
    return TextReply("echo: " + request.msg.content)


@pytest.fixture
def wechat() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


@pytest.fixture
def agent() -> DefaultAgentServer:
    return DefaultAgentServer(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY, echo)


def reply_text(wechat: CallbackSimulator, body: bytes, query: dict[str, str]) -> str:
    return wxcorp_fast.parse_message(wechat.open_reply(body, query=query)).content


def test_post_and_get(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    app = AgentServerFrontend(agent)
    query, body = wechat.message("text", content="hi")
    status, headers, out = call_wsgi(app, environ("POST", query, body))
    assert status == 200
    assert headers["Content-Type"] == "application/xml; charset=utf-8"
    assert headers["Content-Length"] == str(len(out))
    assert reply_text(wechat, out, query) == "echo: hi"
    # echostr is base64 ("+", "/", "="): it arrives percent-encoded
    status, _, out = call_wsgi(app, environ("GET", wechat.url_verification(b"echo").query))
    assert (status, out) == (200, b"echo")


def test_http_request_is_the_environ(wechat: CallbackSimulator) -> None:
    seen: list[Any] = []
    agent = DefaultAgentServer(
        v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: seen.append(r.http_request)
    )
    query, body = wechat.message()
    env = environ("POST", query, body)
    call_wsgi(AgentServerFrontend(agent), env, validate=False)
    assert seen == [env]


@pytest.mark.parametrize("method", ["PUT", "HEAD", "DELETE"])
def test_other_methods_get_405_without_reading(
    wechat: CallbackSimulator, agent: DefaultAgentServer, method: str
) -> None:
    query, body = wechat.message()
    env = environ(method, query, body, content_length=str(len(body)))
    status, headers, _ = call_wsgi(AgentServerFrontend(agent), env, validate=method != "HEAD")
    assert status == 405 and headers["Allow"] == "GET, POST"
    assert env["tests.input"].bytes_read == 0


def test_body_over_the_limit_with_content_length_reads_nothing(wechat: CallbackSimulator) -> None:
    calls: list[Request] = []
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, calls.append)
    query, body = wechat.message("text", content="x" * 2000)
    app = AgentServerFrontend(agent, max_body_size=len(body) - 1)
    env = environ("POST", query, body)
    status, _, out = call_wsgi(app, env)
    assert (status, out) == (413, b"Request Entity Too Large\n")
    assert env["tests.input"].bytes_read == 0 and calls == []
    # exactly at the limit is fine
    status, _, _ = call_wsgi(
        AgentServerFrontend(agent, max_body_size=len(body)), environ("POST", query, body)
    )
    assert status == 200 and len(calls) == 1


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_body_over_the_limit_without_content_length_reads_limit_plus_one(
    wechat: CallbackSimulator, agent: DefaultAgentServer, chunk: int
) -> None:
    query, _ = wechat.message()
    limit = 500
    env = environ("POST", query, b"<" * 100_000, content_length=None, terminated=True, chunk=chunk)
    status, _, _ = call_wsgi(AgentServerFrontend(agent, max_body_size=limit), env)
    assert status == 413
    assert env["tests.input"].bytes_read == limit + 1


def test_terminated_input_without_content_length_is_read(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    query, body = wechat.message("text", content="chunked")
    env = environ("POST", query, body, content_length=None, terminated=True, chunk=10)
    status, _, out = call_wsgi(AgentServerFrontend(agent), env)
    assert status == 200 and reply_text(wechat, out, query) == "echo: chunked"


def test_no_content_length_and_no_terminated_input_is_an_empty_body(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    query, body = wechat.message()
    env = environ("POST", query, body, content_length=None)
    status, _, out = call_wsgi(AgentServerFrontend(agent), env)
    assert (status, out) == (400, b"XMLParseError (-40002)\n")
    assert env["tests.input"].bytes_read == 0


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "99999999999999999999"])
def test_bad_content_length(
    wechat: CallbackSimulator, agent: DefaultAgentServer, length: str
) -> None:
    query, body = wechat.message()
    env = environ("POST", query, body, content_length=length)
    status, _, out = call_wsgi(AgentServerFrontend(agent), env, validate=False)
    assert status in (400, 413)
    assert env["tests.input"].bytes_read == 0


def test_query_decoding(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    query, body = wechat.message()
    # a repeated parameter keeps its first value, as Go's url.Values.Get
    qs = urlencode(query) + "&nonce=other&msg_signature=" + "0" * 40
    status, _, _ = call_wsgi(AgentServerFrontend(agent), environ("POST", qs, body))
    assert status == 200
    # bytes that are not UTF-8 are refused by the signature check, not a crash
    qs = urlencode({**query, "nonce": "x"}).replace("nonce=x", "nonce=%ff%fe")
    status, _, out = call_wsgi(AgentServerFrontend(agent), environ("POST", qs, body))
    assert (status, out) == (400, b"SignatureError (-40001)\n")
    raw = urlencode(query).replace(
        f"nonce={query['nonce']}", "nonce=\xe4\xbd\xa0"
    )  # raw UTF-8 as latin-1
    status, _, out = call_wsgi(AgentServerFrontend(agent), environ("POST", raw, body))
    assert (status, out) == (400, b"SignatureError (-40001)\n")


def test_options_reach_serve_http(wechat: CallbackSimulator) -> None:
    calls: list[Request] = []
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, calls.append)
    old_query, old_body = wechat.message(timestamp=int(time.time()) - 3600)
    assert call_wsgi(AgentServerFrontend(agent), environ("POST", old_query, old_body))[0] == 400
    assert (
        call_wsgi(
            AgentServerFrontend(agent, replay_window=None), environ("POST", old_query, old_body)
        )[0]
        == 200
    )
    app = AgentServerFrontend(agent, dedupe=MemoryDedupeStore())
    query, body = wechat.message()
    call_wsgi(app, environ("POST", query, body))
    call_wsgi(app, environ("POST", query, body))
    assert len(calls) == 2  # 1 from the replay_window=None call, 1 deduped pair

    def custom(http_request: Any, error: CallbackError) -> Response:
        return Response(418, [("Content-Type", "text/plain")], b"teapot")

    status, _, out = call_wsgi(
        AgentServerFrontend(agent, custom), environ("POST", old_query, old_body)
    )
    assert (status, out) == (418, b"teapot")


def test_handler_raising_is_a_500_and_serving_goes_on(wechat: CallbackSimulator) -> None:
    state = {"fail": True}

    def flaky(request: Request) -> TextReply:
        if state["fail"]:
            raise ValueError("secret plaintext " + request.msg.content)
        return TextReply("ok")

    app = AgentServerFrontend(
        DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, flaky)
    )
    query, body = wechat.message("text", content="hush")
    status, _, out = call_wsgi(app, environ("POST", query, body))
    assert (status, out) == (500, b"Internal Server Error\n")
    state["fail"] = False
    assert call_wsgi(app, environ("POST", query, body))[0] == 200


@pytest.mark.parametrize(
    "kwargs", [{"max_body_size": -1}, {"max_body_size": 1.5}, {"replay_window": 0}]
)
def test_frontend_arguments(agent: DefaultAgentServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AgentServerFrontend(agent, **kwargs)
    with pytest.raises(ValueError):
        MultiAgentServerFrontend(**kwargs)


# -- MultiAgentServerFrontend -----------------------------------------------------------


def test_multi_routes_by_query_key(wechat: CallbackSimulator) -> None:
    assert URL_QUERY_AGENT_SERVER_KEY_NAME == "agent_server"
    other = CallbackSimulator("wx_other", 7, "tok2", OTHER_KEY)
    app = MultiAgentServerFrontend()
    app.set_agent_server(
        "a",
        DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, lambda r: TextReply("A")),
    )
    app.set_agent_server(
        "b",
        DefaultAgentServer("wx_other", 7, "tok2", OTHER_KEY, lambda r: TextReply("B")),
    )
    for sender, key, expected in ((wechat, "a", "A"), (other, "b", "B")):
        query, body = sender.message()
        status, _, out = call_wsgi(app, environ("POST", {**query, "agent_server": key}, body))
        assert status == 200 and reply_text(sender, out, query) == expected
    check = wechat.url_verification(b"e").query
    status, _, out = call_wsgi(app, environ("GET", {**check, "agent_server": "a"}))
    assert out == b"e"
    # a message for agent a sent to key b fails b's checks
    query, body = wechat.message()
    assert call_wsgi(app, environ("POST", {**query, "agent_server": "b"}, body))[0] == 400


def test_multi_unknown_or_missing_key(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    app = MultiAgentServerFrontend()
    app.set_agent_server("a", agent)
    query, body = wechat.message()
    for q in (query, {**query, "agent_server": ""}, {**query, "agent_server": "zz"}):
        env = environ("POST", q, body)
        status, _, out = call_wsgi(app, env)
        assert (status, out) == (400, b"UnknownAgentError (-40005)\n")
        assert env["tests.input"].bytes_read == 0
    assert call_wsgi(app, environ("PUT", query, b""))[0] == 405
    seen: list[CallbackError] = []

    def custom(http_request: Any, error: CallbackError) -> None:
        seen.append(error)

    app.set_invalid_request_handler(custom)
    assert call_wsgi(app, environ("POST", query, body))[0] == 400
    assert isinstance(seen[0], wxcorp_fast.UnknownAgentError) and seen[0].code == -40005


def test_multi_add_and_delete(wechat: CallbackSimulator, agent: DefaultAgentServer) -> None:
    app = MultiAgentServerFrontend()
    query, body = wechat.message()
    query = {**query, "agent_server": "a"}
    app.set_agent_server("a", agent)
    assert call_wsgi(app, environ("POST", query, body))[0] == 200
    app.delete_agent_server("a")
    app.delete_agent_server("a")  # deleting a missing key is fine
    assert call_wsgi(app, environ("POST", query, body))[0] == 400
    app.set_agent_server("a", agent)
    app.set_agent_server("b", agent)
    app.delete_all_agent_server()
    assert call_wsgi(app, environ("POST", query, body))[0] == 400
    with pytest.raises(ValueError):
        app.set_agent_server("", agent)


def test_multi_add_and_delete_while_serving(
    wechat: CallbackSimulator, agent: DefaultAgentServer
) -> None:
    app = MultiAgentServerFrontend()
    app.set_agent_server("stable", agent)
    failures: list[Any] = []
    served: list[int] = []
    done = threading.Event()

    def serve(query: dict[str, str], body: bytes) -> None:
        query = {**query, "agent_server": "stable"}
        while not done.is_set():
            status, _, out = call_wsgi(app, environ("POST", query, body), validate=False)
            served.append(status)
            if status != 200 or reply_text(wechat, out, query) != "echo: hello":
                failures.append((status, out))

    # one message per worker: copies of one message in flight at once get the dedupe
    # store's empty answer, which is not what this test is about
    messages = [wechat.message("text", content="hello") for _ in range(2)]
    workers = [threading.Thread(target=serve, args=message) for message in messages]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 30
        i = 0
        while i < 300 or len(served) < 200:
            assert time.monotonic() < deadline
            app.set_agent_server(f"k{i}", agent)
            if i % 3 == 0:
                app.delete_agent_server(f"k{i - 1}")
            i += 1
    finally:
        done.set()
        for w in workers:
            w.join(timeout=10)
    assert failures == []
    assert "stable" in repr(app) and "'k1'" in repr(app) and "'k2'" not in repr(app)


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("", {}),
        ("a=1&a=2", {"a": "1"}),
        ("echostr=ab%2Bc%2F%3D%3D&x=a+b", {"echostr": "ab+c/==", "x": "a b"}),
        ("&&flag&=v&k=", {"flag": "", "": "v", "k": ""}),
        ("n=%E4%BD%A0", {"n": "你"}),
        ("n=\xe4\xbd\xa0", {"n": "你"}),  # raw UTF-8 bytes, as PEP 3333 hands them over
        ("n=%ff", {"n": "\udcff"}),  # not UTF-8: a surrogate the signature check refuses
    ],
)
def test_parse_query(query_string: str, expected: dict[str, str]) -> None:
    from wxcorp_fast.callback._query import parse_query

    assert parse_query(query_string) == expected


@pytest.mark.parametrize("frontend", ["single", "multi"])
def test_dedupe_is_on_by_default_and_covers_the_replay_window(
    wechat: CallbackSimulator, frontend: str
) -> None:
    calls: list[Request] = []
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, v.ENCODING_AES_KEY, calls.append)

    def make(**kwargs: Any) -> Any:
        if frontend == "single":
            return AgentServerFrontend(agent, **kwargs), {}
        multi = MultiAgentServerFrontend(**kwargs)
        multi.set_agent_server("a", agent)
        return multi, {URL_QUERY_AGENT_SERVER_KEY_NAME: "a"}

    app, extra = make()
    query, body = wechat.message(timestamp=int(time.time()) - 250)  # inside the 300 s window
    for _ in range(3):  # a captured callback replayed
        assert call_wsgi(app, environ("POST", {**query, **extra}, body))[0] == 200
    assert len(calls) == 1
    assert app._dedupe.ttl >= 300

    off, extra = make(dedupe=False)
    for _ in range(2):
        assert call_wsgi(off, environ("POST", {**query, **extra}, body))[0] == 200
    assert len(calls) == 3


@pytest.mark.parametrize("cls", [AgentServerFrontend, MultiAgentServerFrontend])
def test_a_store_shorter_than_the_replay_window_is_refused(
    agent: DefaultAgentServer, cls: Any
) -> None:
    args = (agent,) if cls is AgentServerFrontend else ()
    with pytest.raises(ValueError, match=r"ttl \(60 s\) is shorter than replay_window \(300 s\)"):
        cls(*args, dedupe=MemoryDedupeStore(ttl=60))
    with pytest.raises(ValueError, match="ttl >= 120"):
        cls(*args, dedupe=MemoryDedupeStore(ttl=60), replay_window=120)
    cls(*args, dedupe=MemoryDedupeStore(ttl=60), replay_window=60)  # covers it
    cls(*args, dedupe=MemoryDedupeStore(ttl=60), replay_window=None)  # no window to cover
