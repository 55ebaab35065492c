"""AI bots (智能机器人): JSON callbacks, routing, replies and streamed answers.

One door for the room. Inside, one concept per module:

- ``request``: ``AIBotRequest`` (what a handler gets);
- ``mux``: ``AIBotMux``, routing by msgtype and event type;
- ``replies``: ``StreamReply``, ``TextReply``, ``TemplateCardReply``,
  ``StreamWithTemplateCardReply``, ``UpdateTemplateCardReply``, ``MarkdownReply``;
- ``streams``: ``MemoryStreamStore`` and ``RedisStreamStore``, where streamed answers wait
  for WeChat's refreshes;
- ``streaming``: a handler's (async) generator driven and published;
- ``server``: ``AIBotServer``, the WSGI application with its ASGI twin;
- ``respond``: the request of a late reply through a ``response_url``
  (``CorpClient.respond`` sends it).

``AIBotCrypto`` and ``parse_aibot_message`` are the selected crypto core's own.
"""

from __future__ import annotations

from .._core import core
from ..messages import AIBotItem, AIBotMessage, SelectedItem
from .mux import AIBotMux
from .replies import (
    MarkdownReply,
    StreamReply,
    StreamWithTemplateCardReply,
    TemplateCardReply,
    TextReply,
    UpdateTemplateCardReply,
)
from .request import AIBotHandler, AIBotRequest
from .respond import response_request
from .server import AIBotServer
from .streams import MemoryStreamStore, RedisStreamStore, StreamState, StreamStore

AIBotCrypto = core.AIBotCrypto
parse_aibot_message = core.parse_aibot_message

__all__ = [
    # serving
    "AIBotServer",
    "AIBotMux",
    "AIBotRequest",
    "AIBotHandler",
    # replies
    "StreamReply",
    "TextReply",
    "TemplateCardReply",
    "StreamWithTemplateCardReply",
    "UpdateTemplateCardReply",
    "MarkdownReply",
    "response_request",
    # streams
    "StreamStore",
    "StreamState",
    "MemoryStreamStore",
    "RedisStreamStore",
    # the core and the message
    "AIBotCrypto",
    "parse_aibot_message",
    "AIBotMessage",
    "AIBotItem",
    "SelectedItem",
]
