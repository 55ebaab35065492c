"""The echo bots of ``python -m wxcorp_fast serve``: one agent, text echoed, the rest summarized;
with ``--aibot``, an AI bot that streams the echo back word by word.

``build_app()`` is also a WSGI application factory for any server
(``gunicorn 'wxcorp_fast.cli.echobot:build_app()'``), and ``build_asgi_app()`` the ASGI one
(``uvicorn --factory wxcorp_fast.cli.echobot:build_asgi_app``); both default to the WeChat Work
docs' example credentials. ``build_aibot_app()`` / ``build_aibot_asgi_app()`` are the AI bot's
(credentials from ``WXCORP_TOKEN`` / ``WXCORP_ENCODING_AES_KEY`` / ``WXCORP_RECEIVE_ID`` when
set; streams in Redis when ``WXCORP_REDIS_URL`` is set, so several workers can serve it).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from .. import aibot
from ..aibot import (
    AIBotMux,
    AIBotRequest,
    AIBotServer,
    RedisStreamStore,
    StreamReply,
    UpdateTemplateCardReply,
)
from ..callback import (
    AgentServerFrontend,
    DefaultAgentServer,
    MessageServeMux,
    Request,
    TextReply,
)
from ..messages import MixedMessage
from ..testing import vectors

__all__ = [
    "build_app",
    "build_asgi_app",
    "build_mux",
    "summary",
    "build_aibot_app",
    "build_aibot_asgi_app",
    "build_aibot_mux",
    "AIBOT_WELCOME",
    "echo_words",
]


def summary(msg: MixedMessage) -> str:
    """Describe a message or event in one short line (no media content, just ids and keys)."""
    if msg.msg_type == "event":
        details = {
            "key": msg.event_key,
            "change": msg.change_type,
            "user": msg.user_id,
            "scan": msg.scan_code_info.scan_result,
            "pics": str(msg.send_pics_info.count or ""),
            "place": msg.send_location_info.label,
        }
        if msg.event.upper() == "LOCATION":
            details["at"] = f"{msg.latitude},{msg.longitude}"
        head = f"event {msg.event}"
    else:
        details = {
            "media": msg.media_id,
            "title": msg.title,
            "url": msg.url,
            "place": msg.label,
        }
        head = f"{msg.msg_type} message"
    extra = " ".join(f"{name}={value}" for name, value in details.items() if value)
    return f"{head} {extra}" if extra else head


def _echo_text(request: Request) -> TextReply:
    return TextReply(request.msg.content)


def _summarize(request: Request) -> TextReply:
    return TextReply(summary(request.msg))


def build_mux() -> MessageServeMux:
    """Return the bot's handler: text answered with the same text, the rest with a summary."""
    mux = MessageServeMux()
    mux.message_handle("text", _echo_text)
    mux.default_message_handle(_summarize)
    mux.default_event_handle(_summarize)
    return mux


def build_app(
    corp_id: str = vectors.CORP_ID,
    agent_id: int = vectors.AGENT_ID,
    token: str = vectors.TOKEN,
    encoding_aes_key: str = vectors.ENCODING_AES_KEY,
    **frontend_options: Any,
) -> AgentServerFrontend:
    """Build the echo bot as a WSGI application (``.asgi`` is the ASGI one).

    ``frontend_options`` go to ``AgentServerFrontend`` (``replay_window``, ``dedupe``, ...).
    """
    server = DefaultAgentServer(corp_id, agent_id, token, encoding_aes_key, build_mux())
    return AgentServerFrontend(server, **frontend_options)


def build_asgi_app(**options: Any) -> Any:
    """Build the echo bot as an ASGI application (arguments as ``build_app``)."""
    return build_app(**options).asgi


# --------------------------------------------------------------------------- the AI bot

AIBOT_WELCOME: Final = "Hello! I am an echo bot: send me anything and I stream it back."
#: Seconds between two streamed words (so that WeChat's refreshes see the answer grow).
ECHO_WORD_DELAY: Final = 0.03


def echo_words(text: str) -> list[str]:
    """The chunks the AI echo bot streams for ``text``: "you said:" and each word."""
    return ["you said:", *(f" {word}" for word in text.split())]


def _said(request: AIBotRequest) -> str:
    msg = request.msg
    return msg.content if msg.msgtype == "text" else msg.voice_content


def _stream_echo(request: AIBotRequest) -> Iterator[str]:
    for i, chunk in enumerate(echo_words(_said(request))):
        if i:
            time.sleep(ECHO_WORD_DELAY)
        yield chunk


async def _astream_echo(request: AIBotRequest) -> AsyncIterator[str]:
    for i, chunk in enumerate(echo_words(_said(request))):
        if i:
            await asyncio.sleep(ECHO_WORD_DELAY)
        yield chunk


def _aibot_summary(request: AIBotRequest) -> StreamReply:
    msg = request.msg
    if msg.msgtype == "mixed":
        return StreamReply(f"got a mixed message of {len(msg.items)} items")
    return StreamReply(f"got a {msg.msgtype} message")


def _welcome(request: AIBotRequest) -> aibot.TextReply:
    return aibot.TextReply(AIBOT_WELCOME)


def _card_clicked(request: AIBotRequest) -> UpdateTemplateCardReply:
    msg = request.msg
    chosen = ", ".join(o for item in msg.selected_items for o in item.option_ids) or msg.event_key
    return UpdateTemplateCardReply(
        {
            "card_type": "text_notice",
            "main_title": {"title": "Thanks!", "desc": f"you chose {chosen}"},
            "card_action": {"type": 1, "url": "https://work.weixin.qq.com/"},
            "task_id": msg.task_id,
        }
    )


def build_aibot_mux(asynchronous: bool = False) -> AIBotMux:
    """The AI echo bot: text and voice streamed back, the rest summarized, a welcome."""
    mux = AIBotMux()
    echo = _astream_echo if asynchronous else _stream_echo
    mux.message_handle("text", echo)
    mux.message_handle("voice", echo)
    mux.default_message_handle(_aibot_summary)
    mux.event_handle("enter_chat", _welcome)
    mux.event_handle("template_card_event", _card_clicked)
    mux.event_handle("feedback_event", lambda request: None)
    return mux


def build_aibot_app(
    token: str | None = None,
    encoding_aes_key: str | None = None,
    receive_id: str | None = None,
    *,
    redis_url: str | None = None,
    asynchronous: bool = False,
    **options: Any,
) -> AIBotServer:
    """Build the AI echo bot as a WSGI application (``.asgi`` is the ASGI one).

    Unset arguments come from ``WXCORP_TOKEN``, ``WXCORP_ENCODING_AES_KEY``,
    ``WXCORP_RECEIVE_ID`` and ``WXCORP_REDIS_URL``, else the docs' example and memory
    stores. ``options`` go to ``AIBotServer``.
    """
    env = os.environ
    token = token or env.get("WXCORP_TOKEN") or vectors.TOKEN
    key = encoding_aes_key or env.get("WXCORP_ENCODING_AES_KEY") or vectors.ENCODING_AES_KEY
    receive_id = env.get("WXCORP_RECEIVE_ID", "") if receive_id is None else receive_id
    redis_url = redis_url or env.get("WXCORP_REDIS_URL") or None
    if redis_url:
        import redis

        from ..callback import RedisDedupeStore

        client = redis.Redis.from_url(redis_url)
        options.setdefault("stream_store", RedisStreamStore(client))
        options.setdefault("dedupe", RedisDedupeStore(client, ttl=300))
    options.setdefault("first_reply_deadline", 0.05)
    return AIBotServer(token, key, build_aibot_mux(asynchronous), receive_id=receive_id, **options)


def build_aibot_asgi_app(**options: Any) -> Any:
    """Build the AI echo bot as an ASGI application (async generators; see build_aibot_app)."""
    return build_aibot_app(asynchronous=True, **options).asgi
