"""No secret in any repr, str or traceback local: every public class is built with known
secrets (Token, EncodingAESKey, the raw AES key, corp secret, access_token) and shown.

Every public class of the package must be listed here, either with a factory or as holding
no secret, so that a new class cannot slip past the check.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import pkgutil
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio

import wxcorp_fast
from wxcorp_fast import (
    AgentServerFrontend,
    CorpClient,
    DefaultAccessTokenServer,
    DefaultAgentServer,
    MultiAgentServerFrontend,
    RedisAccessTokenServer,
    serve_http,
)
from wxcorp_fast.aibot import AIBotServer
from wxcorp_fast.api import (
    AsyncCorpClient,
    AsyncDefaultAccessTokenServer,
    AsyncRedisAccessTokenServer,
    _token_flows,
)
from wxcorp_fast.callback import DeferredReplies
from wxcorp_fast.callback.agent import AgentSettings, agent_settings
from wxcorp_fast.compat.wechatpy import WeChatCrypto
from wxcorp_fast.testing import AIBotSimulator, CallbackSimulator, FakeWorkServer, RecordedRequest

from _http import call_wsgi, environ

TOKEN = "tokSECRETx9"
ENCODING_AES_KEY = "kSECRETq5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
RAW_KEY = base64.b64decode(ENCODING_AES_KEY + "=")
CORP_ID = "wwcorp0001"
CORP_SECRET = "corpSECRET-7f3a"


def secrets_in(text: str, access_token: str | None = None) -> list[str]:
    """Return the secrets ``text`` shows, in any of the forms they could take."""
    forms = {
        "token": TOKEN,
        "EncodingAESKey": ENCODING_AES_KEY,
        "raw key (repr)": repr(RAW_KEY)[2:-1],
        "raw key (hex)": RAW_KEY.hex(),
        "corp secret": CORP_SECRET,
    }
    if access_token:
        forms["access_token"] = access_token
    return [name for name, form in forms.items() if form in text]


def handler(request: Any) -> str:
    return "pong"


def agent() -> DefaultAgentServer:
    return DefaultAgentServer(CORP_ID, 1000002, TOKEN, ENCODING_AES_KEY, handler)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWorkServer]:
    with FakeWorkServer(CORP_ID, CORP_SECRET) as server:
        yield server


def _sim() -> CallbackSimulator:
    return CallbackSimulator(CORP_ID, 1000002, TOKEN, ENCODING_AES_KEY)


def _request() -> Any:
    """A verified Request, as a handler gets it."""
    seen: list[Any] = []
    server = DefaultAgentServer(CORP_ID, 1000002, TOKEN, ENCODING_AES_KEY, seen.append)
    query, body = _sim().message("text", content="hi")
    assert serve_http("POST", query, body, server).status == 200
    return seen[0]


def _multi() -> MultiAgentServerFrontend:
    frontend = MultiAgentServerFrontend()
    frontend.set_agent_server("a", agent())
    return frontend


def _token_server(fake: FakeWorkServer) -> DefaultAccessTokenServer:
    server = DefaultAccessTokenServer(CORP_ID, CORP_SECRET, base_url=fake.base_url)
    server.token()
    return server


def _redis_token_server(fake: FakeWorkServer, redis_client: Any) -> RedisAccessTokenServer:
    server = RedisAccessTokenServer(CORP_ID, CORP_SECRET, redis_client, base_url=fake.base_url)
    server.token()
    return server


def _client(fake: FakeWorkServer) -> CorpClient:
    client = CorpClient(_token_server(fake), base_url=fake.base_url)
    client.get_callback_ip()
    return client


def _async_token_server(fake: FakeWorkServer) -> Any:
    async def build() -> Any:
        async with AsyncDefaultAccessTokenServer(
            CORP_ID, CORP_SECRET, base_url=fake.base_url
        ) as server:
            await server.token()
            return server

    return asyncio.run(build())


def _async_redis_token_server(fake: FakeWorkServer, redis_client: Any) -> Any:
    url = "redis://{host}:{port}/{db}".format(**redis_client.connection_pool.connection_kwargs)

    async def build() -> Any:
        client = redis.asyncio.Redis.from_url(url)
        try:
            async with AsyncRedisAccessTokenServer(
                CORP_ID, CORP_SECRET, client, base_url=fake.base_url
            ) as server:
                await server.token()
                return server
        finally:
            await client.aclose()

    return asyncio.run(build())


def _async_client(fake: FakeWorkServer) -> Any:
    async def build() -> Any:
        async with (
            AsyncDefaultAccessTokenServer(CORP_ID, CORP_SECRET, base_url=fake.base_url) as tokens,
            AsyncCorpClient(tokens, base_url=fake.base_url) as client,
        ):
            await client.get_callback_ip()
            return client

    return asyncio.run(build())


def _ticket_server(cls: Any, fake: FakeWorkServer, *args: Any) -> Any:
    server = cls(_token_server(fake), *args)
    server.ticket()
    return server


def _async_ticket_server(cls: Any, fake: FakeWorkServer, redis_client: Any = None) -> Any:
    async def build() -> Any:
        client = None
        args: tuple[Any, ...] = ()
        if redis_client is not None:
            url = "redis://{host}:{port}/{db}".format(
                **redis_client.connection_pool.connection_kwargs
            )
            client = redis.asyncio.Redis.from_url(url)
            args = (client,)
        try:
            async with (
                AsyncDefaultAccessTokenServer(
                    CORP_ID, CORP_SECRET, base_url=fake.base_url
                ) as tokens,
                cls(tokens, *args) as server,
            ):
                await server.ticket()
                return server
        finally:
            if client is not None:
                await client.aclose()

    return asyncio.run(build())


def _tickets(name: str) -> Callable[..., Any]:
    cls = getattr(importlib.import_module("wxcorp_fast.api"), name)
    if name.startswith("AsyncRedis"):
        return lambda fake, redis_client: _async_ticket_server(cls, fake, redis_client)
    if name.startswith("Async"):
        return lambda fake: _async_ticket_server(cls, fake)
    if name.startswith("Redis"):
        return lambda fake, redis_client: _ticket_server(cls, fake, redis_client)
    return lambda fake: _ticket_server(cls, fake)


TICKET_SERVERS = {
    f"wxcorp_fast.api.{'async_tokens' if name.startswith('Async') else 'tokens'}.{name}": _tickets(
        name
    )
    for prefix in ("", "Async")
    for name in (
        f"{prefix}JsapiTicketServer",
        f"{prefix}AgentJsapiTicketServer",
        f"{prefix}RedisJsapiTicketServer",
        f"{prefix}RedisAgentJsapiTicketServer",
    )
}


#: public classes that hold a secret -> a factory building one with the secrets above
HOLDERS: dict[str, Callable[..., Any]] = {
    "wxcorp_fast._core_c.MsgCrypto": lambda: importlib.import_module(
        "wxcorp_fast._core_c"
    ).MsgCrypto(TOKEN, ENCODING_AES_KEY, CORP_ID),
    "wxcorp_fast._core_py.MsgCrypto": lambda: importlib.import_module(
        "wxcorp_fast._core_py"
    ).MsgCrypto(TOKEN, ENCODING_AES_KEY, CORP_ID),
    "wxcorp_fast.callback.agent.AgentSettings": lambda: agent_settings(agent()),
    "wxcorp_fast.callback.agent.DefaultAgentServer": agent,
    "wxcorp_fast.callback.request.Request": _request,
    "wxcorp_fast.callback.frontends.AgentServerFrontend": lambda: AgentServerFrontend(agent()),
    "wxcorp_fast.callback.frontends.MultiAgentServerFrontend": _multi,
    "wxcorp_fast.compat.wechatpy.WeChatCrypto": lambda: WeChatCrypto(
        TOKEN, ENCODING_AES_KEY, CORP_ID
    ),
    "wxcorp_fast.testing.simulator.CallbackSimulator": _sim,
    "wxcorp_fast.testing.fake_work.FakeWorkServer": lambda fake: fake,
    "wxcorp_fast.testing.fake_work.RecordedRequest": lambda fake, client: fake.requests[-1],
    "wxcorp_fast.api.tokens.DefaultAccessTokenServer": _token_server,
    "wxcorp_fast.api.tokens.RedisAccessTokenServer": _redis_token_server,
    "wxcorp_fast.api.client.CorpClient": _client,
    "wxcorp_fast.callback.deferred.DeferredReplies": lambda client: DeferredReplies(
        client, reply_deadline=1.0
    ),
    "wxcorp_fast.api.async_tokens.AsyncDefaultAccessTokenServer": _async_token_server,
    "wxcorp_fast.api.async_tokens.AsyncRedisAccessTokenServer": _async_redis_token_server,
    "wxcorp_fast.api.async_client.AsyncCorpClient": _async_client,
    # JS-SDK ticket servers: a token server (the secret), and the ticket
    **TICKET_SERVERS,
    "wxcorp_fast.api._token_flows.TicketCore": lambda fake: _token_flows.TicketCore(
        _token_server(fake), None, 1.0, time.monotonic
    ),
    "wxcorp_fast.api._token_flows.AgentTicketCore": lambda fake: _token_flows.AgentTicketCore(
        _token_server(fake), None, 1.0, time.monotonic
    ),
    # the token servers' I/O-free cores (bases of the servers above) hold the secret too
    "wxcorp_fast.api._token_flows.TokenCore": lambda: _token_flows.TokenCore(
        CORP_ID, CORP_SECRET, "http://127.0.0.1", 1.0, time.monotonic
    ),
    "wxcorp_fast.api._token_flows.LocalCore": lambda: _token_flows.LocalCore(
        CORP_ID, CORP_SECRET, "http://127.0.0.1", 1.0, time.monotonic
    ),
    "wxcorp_fast.api._token_flows.RedisCore": lambda redis_client: _token_flows.RedisCore(
        CORP_ID,
        CORP_SECRET,
        "http://127.0.0.1",
        1.0,
        time.monotonic,
        redis_client,
        "wxcorp_fast:",
        15.0,
        0.02,
    ),
    "wxcorp_fast._core_c.AIBotCrypto": lambda: importlib.import_module(
        "wxcorp_fast._core_c"
    ).AIBotCrypto(TOKEN, ENCODING_AES_KEY),
    "wxcorp_fast._core_py.AIBotCrypto": lambda: importlib.import_module(
        "wxcorp_fast._core_py"
    ).AIBotCrypto(TOKEN, ENCODING_AES_KEY),
    "wxcorp_fast.aibot.server.AIBotServer": lambda: AIBotServer(
        TOKEN, ENCODING_AES_KEY, lambda request: "hi"
    ),
    "wxcorp_fast.testing.aibot_simulator.AIBotSimulator": lambda: AIBotSimulator(
        TOKEN, ENCODING_AES_KEY
    ),
}

#: public classes that never hold a secret (results, replies, errors, protocols, helpers)
NO_SECRET: set[str] = {
    "wxcorp_fast.api._http.MultipartBody",
    "wxcorp_fast.api._http.RedactingFilter",
    "wxcorp_fast.callback._asgi.Disconnected",
    "wxcorp_fast.callback._wsgi.BadContentLength",
    "wxcorp_fast.callback.agent.AgentServer",
    "wxcorp_fast.callback.dedupe.MemoryDedupeStore",
    "wxcorp_fast.callback.dedupe.RedisDedupeStore",
    "wxcorp_fast.callback.dedupe.AsyncDedupeStore",
    "wxcorp_fast.callback.dedupe.AsyncRedisDedupeStore",
    "wxcorp_fast.callback.deferred.Deferred",
    "wxcorp_fast.callback.mux.MessageServeMux",
    "wxcorp_fast.callback.replies.Article",
    "wxcorp_fast.callback.replies.ImageReply",
    "wxcorp_fast.callback.replies.NewsReply",
    "wxcorp_fast.callback.replies.TextReply",
    "wxcorp_fast.callback.replies.VideoReply",
    "wxcorp_fast.callback.replies.VoiceReply",
    "wxcorp_fast.callback.request.DedupeStore",
    "wxcorp_fast.callback.request.Response",
    "wxcorp_fast.cli.loadgen.Progress",
    "wxcorp_fast.cli.loadgen.Summary",
    "wxcorp_fast.messages.Envelope",
    "wxcorp_fast.messages.MixedMessage",
    "wxcorp_fast.messages.ScanCodeInfo",
    "wxcorp_fast.messages.SendLocationInfo",
    "wxcorp_fast.messages.SendPicsInfo",
    "wxcorp_fast.testing.fake_work.Upload",
    "wxcorp_fast.testing.runners.ServerProcess",
    "wxcorp_fast.testing.simulator.HTTPResult",
    "wxcorp_fast.testing.simulator.UrlVerification",
    "wxcorp_fast.api.tokens.AccessTokenServer",
    "wxcorp_fast.api.async_tokens.AsyncAccessTokenServer",
    # the API's machinery: calls without I/O (the token is added at send time), sessions
    "wxcorp_fast.api._aiohttp.Session",
    "wxcorp_fast.api._aiohttp.SessionUser",
    "wxcorp_fast.api._calls.Call",
    "wxcorp_fast.api._calls.MultipartFormField",
    # the cached-credential machinery without a credential source (no secret to hold)
    "wxcorp_fast.api._token_flows.CredentialCore",
    "wxcorp_fast.api._token_flows.LocalCache",
    "wxcorp_fast.api._token_flows.RedisCache",
    # typed answers: what WeChat answered (a SendResult's response_code is not in its repr)
    "wxcorp_fast.api.results.Department",
    "wxcorp_fast.api.results.Media",
    "wxcorp_fast.api.results.SendResult",
    "wxcorp_fast.api.results.User",
    "wxcorp_fast.api.results.UserInfo",
    # AI bots: routing, replies, requests (what WeChat sent), streams, results
    "wxcorp_fast.aibot.mux.AIBotMux",
    "wxcorp_fast.aibot.replies.MarkdownReply",
    "wxcorp_fast.aibot.replies.StreamReply",
    "wxcorp_fast.aibot.replies.StreamWithTemplateCardReply",
    "wxcorp_fast.aibot.replies.TemplateCardReply",
    "wxcorp_fast.aibot.replies.TextReply",
    "wxcorp_fast.aibot.replies.UpdateTemplateCardReply",
    "wxcorp_fast.aibot.request.AIBotRequest",
    "wxcorp_fast.aibot.streaming.StreamProducer",
    "wxcorp_fast.aibot.streams.MemoryStreamStore",
    "wxcorp_fast.aibot.streams.RedisStreamStore",
    "wxcorp_fast.aibot.streams.StreamState",
    "wxcorp_fast.aibot.streams.StreamStore",
    "wxcorp_fast.cli.aibot_load.AIBotSummary",
    "wxcorp_fast.messages.AIBotItem",
    "wxcorp_fast.messages.AIBotMessage",
    "wxcorp_fast.messages.SelectedItem",
    "wxcorp_fast.testing.aibot_simulator.AIBotResult",
    "wxcorp_fast.testing.aibot_simulator.Conversation",
    "wxcorp_fast.testing.aibot_simulator.SimulatorError",
}


def public_classes() -> set[str]:
    """Return every class some module of the package lists in ``__all__``."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(wxcorp_fast.__path__, "wxcorp_fast."):
        if info.name.endswith("._core_c") and wxcorp_fast.IMPLEMENTATION == "python":
            continue  # not importable in a pure-only run
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and not issubclass(obj, wxcorp_fast.WXCorpError):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    return found


def test_every_public_class_is_classified() -> None:
    assert public_classes() - HOLDERS.keys() - NO_SECRET == set()


def _build(
    name: str, fake: FakeWorkServer, request: pytest.FixtureRequest
) -> tuple[Any, str | None]:
    factory = HOLDERS[name]
    params = inspect.signature(factory).parameters
    args: list[Any] = []
    for param in params:
        if param == "fake":
            args.append(fake)
        elif param == "client":
            args.append(_client(fake))
        elif param == "redis_client":
            args.append(request.getfixturevalue("redis_client"))
    obj = factory(*args)
    return obj, (fake.tokens[-1] if fake.tokens else None)


HOLDER_PARAMS = [
    pytest.param(name, marks=pytest.mark.compiled) if "_core_c." in name else name
    for name in sorted(HOLDERS)
]


@pytest.mark.parametrize("name", HOLDER_PARAMS)
def test_repr_and_str_show_no_secret(
    name: str, fake: FakeWorkServer, request: pytest.FixtureRequest
) -> None:
    obj, access_token = _build(name, fake, request)
    assert secrets_in(repr(obj), access_token) == []
    assert secrets_in(str(obj), access_token) == []


class Boom(BaseException):
    """Escapes serve_http (a BaseException is re-raised), with the whole stack."""


def raising(request: Any) -> None:
    raise Boom("handler failed")


def _locals_traceback(exc: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def test_handler_traceback_locals_show_no_secret() -> None:
    server = DefaultAgentServer(CORP_ID, 1000002, TOKEN, ENCODING_AES_KEY, raising)
    query, body = _sim().message("text", content="hi")
    with pytest.raises(Boom) as caught:
        serve_http("POST", query, body, server)
    text = _locals_traceback(caught.value)
    assert "agent = AgentSettings(" in text and "request = Request(" in text  # locals shown
    assert secrets_in(text) == []

    app = AgentServerFrontend(server)
    with pytest.raises(Boom) as caught:
        call_wsgi(app, environ("POST", query, body))
    text = _locals_traceback(caught.value)
    assert "self = AgentServerFrontend(" in text
    assert secrets_in(text) == []


def test_the_check_can_fail() -> None:
    assert secrets_in(repr(AgentSettings(CORP_ID, 1, TOKEN, RAW_KEY, RAW_KEY, handler)._asdict()))
    assert secrets_in(f"x{RAW_KEY!r}") == ["raw key (repr)"]
    assert RecordedRequest("GET", "/p", {"access_token": "AT"}).query == {"access_token": "AT"}
