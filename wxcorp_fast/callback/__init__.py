"""The callback server: WeChat Work pushes messages and events here, signed and encrypted.

One door for the room. Inside, one concept per module:

- ``request``: ``Request`` (what a handler gets), ``Response``, the handler and store types;
- ``agent``: ``AgentServer`` (a protocol) and ``DefaultAgentServer`` with AES key rotation;
- ``mux``: ``MessageServeMux``, routing by message type and event;
- ``checks``: every check a request passes before its handler runs;
- ``dedupe``: the stores that answer WeChat's retries (sync and async), and the claim/settle
  steps;
- ``replies``: the reply types (also importable as ``wxcorp_fast.replies``);
- ``responses``, ``rejections``: the answers, encrypted replies and rejected requests;
- ``serve``: ``serve_http`` / ``serve_http_async``, the framework-free core;
- ``deferred``: ``Deferred`` and ``DeferredReplies``, replies sent later through the API;
- ``frontends``: the WSGI applications with their ASGI twins (``_wsgi``, ``_asgi``).
"""

from __future__ import annotations

from .agent import AgentServer, DefaultAgentServer
from .dedupe import AsyncDedupeStore, AsyncRedisDedupeStore, MemoryDedupeStore, RedisDedupeStore
from .deferred import Deferred, DeferredReplies
from .frontends import (
    URL_QUERY_AGENT_SERVER_KEY_NAME,
    AgentServerFrontend,
    MultiAgentServerFrontend,
)
from .mux import MessageServeMux
from .rejections import default_invalid_request_handler
from .replies import Article, ImageReply, NewsReply, TextReply, VideoReply, VoiceReply
from .request import DedupeStore, InvalidRequestHandler, MessageHandler, Request, Response
from .responses import write_response
from .serve import serve_http, serve_http_async

__all__ = [
    # what a handler gets and returns
    "Request",
    "Response",
    "MessageHandler",
    "TextReply",
    "ImageReply",
    "VoiceReply",
    "VideoReply",
    "NewsReply",
    "Article",
    "Deferred",
    # agents and routing
    "AgentServer",
    "DefaultAgentServer",
    "MessageServeMux",
    # serving
    "serve_http",
    "serve_http_async",
    "write_response",
    "AgentServerFrontend",
    "MultiAgentServerFrontend",
    "URL_QUERY_AGENT_SERVER_KEY_NAME",
    "InvalidRequestHandler",
    "default_invalid_request_handler",
    "DeferredReplies",
    # retries
    "DedupeStore",
    "MemoryDedupeStore",
    "RedisDedupeStore",
    "AsyncDedupeStore",
    "AsyncRedisDedupeStore",
]
