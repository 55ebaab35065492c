"""AIBotSimulator: plays WeChat Work's side of an AI bot's (智能机器人) JSON callbacks.

It builds signed, encrypted callbacks — the GET URL check, each message type (text, image,
mixed, voice, file), the stream refresh and each event (enter_chat, template_card_event,
feedback_event), with the field sets of WeChat Work's docs — and sends them to a WSGI
application or an ASGI application in process, or to a URL over real HTTP; it verifies and
decrypts every reply. ``conversation`` plays a whole streamed exchange: a message, then
refreshes of its stream until the bot says ``finish``, every reply checked.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import secrets
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode

import urllib3

from wxcorp_fast import decode_aes_key, encrypt_msg, msg_signature
from wxcorp_fast.aibot import AIBotCrypto
from wxcorp_fast.errors import JSONParseError, SignatureError

from .simulator import UrlVerification

__all__ = ["AIBotSimulator", "AIBotResult", "Conversation", "AIBOT_KINDS", "SimulatorError"]

#: The callbacks the simulator knows: messages by msgtype, events by event type.
AIBOT_KINDS: Final = (
    "text",
    "image",
    "mixed",
    "voice",
    "file",
    "enter_chat",
    "template_card_event",
    "feedback_event",
)
_EVENTS: Final = frozenset({"enter_chat", "template_card_event", "feedback_event"})
_IMAGE_URL: Final = "https://ww-aibot-img-1258476243.cos.ap-guangzhou.myqcloud.com/simulated/0"
_RESPONSE_URL: Final = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code="
MSG_REPLY_FIELDS: Final = "reply envelope lacks encrypt, msgsignature, timestamp or nonce"

App = Callable[..., Any]


class SimulatorError(AssertionError):
    """A reply that breaks the protocol (wrong type, changed stream id, never finished)."""


@dataclasses.dataclass(frozen=True)
class AIBotResult:
    """One exchange: status, headers (lower-case names), body, and the opened reply.

    ``reply`` is the verified, decrypted inner JSON of a non-empty 200 POST answer (for a
    GET: the answer itself), else ``None``; ``sent`` the inner JSON that was posted.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    reply: bytes | None = None
    sent: bytes | None = None

    def json(self) -> Any:
        """The opened reply, parsed (``None`` when there is none)."""
        return None if self.reply is None else json.loads(self.reply)


@dataclasses.dataclass(frozen=True)
class Conversation:
    """A streamed exchange: the stream's id, every reply (parsed), the final content."""

    stream_id: str
    replies: list[dict[str, Any]]
    content: str
    refreshes: int

    @property
    def contents(self) -> list[str]:
        """The content of each reply, in order."""
        return [reply["stream"].get("content", "") for reply in self.replies]


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(query)


class AIBotSimulator:
    """Play WeChat Work's side of one AI bot.

    Args:
        token: the bot's callback Token.
        encoding_aes_key: the bot's 43-character EncodingAESKey.
        receive_id: the receive id of the frames (``""`` for a company's own bot).
        aibotid: the bot's id in the messages.
        userid: the member who talks to the bot.
        chatid: a group chat's id; empty (the default) for single chats.
        http: a ``urllib3.PoolManager`` for URLs (made on first use).
        clock: the current Unix time (``time.time``): timestamps and create_time.
        response_urls: makes each message's ``response_url`` (e.g.
            ``FakeWorkServer.response_url``); a fake qyapi URL by default.

    Raises:
        InvalidAESKeyError: ``encoding_aes_key`` is not a valid EncodingAESKey.
    """

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        *,
        receive_id: str = "",
        aibotid: str = "AIBOTID",
        userid: str = "zhangsan",
        chatid: str = "",
        http: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
        response_urls: Callable[[], str] | None = None,
    ) -> None:
        self.aibotid = aibotid
        self.userid = userid
        self.chatid = chatid
        self._token = token
        self._crypto = AIBotCrypto(token, encoding_aes_key, receive_id)
        self._aes_key = decode_aes_key(encoding_aes_key)
        self._receive_id = receive_id
        self._http = http
        self._clock = clock
        self._response_urls = response_urls
        self._ids = itertools.count(secrets.randbits(40))

    def __repr__(self) -> str:
        return f"AIBotSimulator(aibotid={self.aibotid!r}, userid={self.userid!r})"

    @property
    def http(self) -> urllib3.PoolManager:
        """The urllib3 pool used for URLs (made on first use)."""
        if self._http is None:
            self._http = urllib3.PoolManager(maxsize=16, retries=False)
        return self._http

    # ------------------------------------------------------------------ documents

    def _msgid(self) -> str:
        return f"SIM{next(self._ids):x}{secrets.token_hex(4)}"

    def _base(self, msgtype: str, response_url: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"msgid": self._msgid(), "aibotid": self.aibotid}
        if self.chatid:
            doc["chatid"] = self.chatid
        doc["chattype"] = "group" if self.chatid else "single"
        doc["from"] = {"userid": self.userid}
        if response_url:
            doc["response_url"] = (
                self._response_urls()
                if self._response_urls is not None
                else _RESPONSE_URL + secrets.token_hex(8)
            )
        doc["msgtype"] = msgtype
        return doc

    def message_json(
        self,
        msgtype: str = "text",
        *,
        content: str = "hello from the simulator",
        url: str = _IMAGE_URL,
        items: Sequence[tuple[str, str]] = (("text", "a picture:"), ("image", _IMAGE_URL)),
        stream_id: str = "",
        quote: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> bytes:
        """The decrypted JSON of a message: ``text``/``voice`` (``content``), ``image``/``file``
        (``url``), ``mixed`` (``items``: (msgtype, text or url) pairs), ``stream`` (a refresh
        of ``stream_id``). Other keywords set (or, with ``None``, drop) top-level members."""
        doc = self._base(msgtype, response_url=msgtype != "stream")
        if msgtype in ("text", "voice"):
            doc[msgtype] = {"content": content}
        elif msgtype in ("image", "file"):
            doc[msgtype] = {"url": url}
        elif msgtype == "mixed":
            doc["mixed"] = {
                "msg_item": [
                    {"msgtype": kind, "text": {"content": value}}
                    if kind == "text"
                    else {"msgtype": kind, kind: {"url": value}}
                    for kind, value in items
                ]
            }
        elif msgtype == "stream":
            doc["stream"] = {"id": stream_id}
        if quote is not None:
            doc["quote"] = dict(quote)
        return self._finish(doc, fields)

    def event_json(
        self,
        event_type: str = "enter_chat",
        *,
        card_type: str = "button_interaction",
        event_key: str = "BUTTON_OK",
        task_id: str = "task_1",
        selected_items: Sequence[tuple[str, Sequence[str]]] = (),
        feedback_id: str = "FEEDBACKID",
        feedback_type: int = 1,
        feedback_content: str = "",
        inaccurate_reasons: Sequence[int] = (),
        **fields: Any,
    ) -> bytes:
        """The decrypted JSON of an event (``enter_chat``, ``template_card_event``,
        ``feedback_event``, or any other name with only the keywords given)."""
        doc = self._base("event", response_url=event_type == "template_card_event")
        doc["create_time"] = int(self._clock())
        event: dict[str, Any] = {"eventtype": event_type}
        if event_type == "template_card_event":
            card: dict[str, Any] = {
                "card_type": card_type,
                "event_key": event_key,
                "task_id": task_id,
            }
            if selected_items:
                card["selected_items"] = {
                    "selected_item": [
                        {"question_key": key, "option_ids": {"option_id": list(ids)}}
                        for key, ids in selected_items
                    ]
                }
            event["template_card_event"] = card
        elif event_type == "feedback_event":
            feedback: dict[str, Any] = {"id": feedback_id, "type": feedback_type}
            if feedback_content:
                feedback["content"] = feedback_content
            if inaccurate_reasons:
                feedback["inaccurate_reason_list"] = list(inaccurate_reasons)
            event["feedback_event"] = feedback
        doc["event"] = event
        return self._finish(doc, fields)

    @staticmethod
    def _finish(doc: dict[str, Any], fields: Mapping[str, Any]) -> bytes:
        for name, value in fields.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def kind_json(self, kind: str) -> bytes:
        """The JSON of one of ``AIBOT_KINDS`` with the docs' example fields."""
        if kind == "template_card_event":
            return self.event_json(kind, selected_items=[("q1", ["one", "two"])])
        if kind == "feedback_event":
            return self.event_json(
                kind, feedback_type=2, feedback_content="more detail", inaccurate_reasons=[2, 4]
            )
        if kind in _EVENTS:
            return self.event_json(kind)
        return self.message_json(kind)

    # ------------------------------------------------------------------ requests

    def _signed(self, encrypt: str, timestamp: int | None, nonce: str | None) -> dict[str, str]:
        ts = str(int(self._clock()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10)) if nonce is None else nonce
        return {
            "msg_signature": msg_signature(self._token, ts, nonce, encrypt),
            "timestamp": ts,
            "nonce": nonce,
        }

    def url_verification(
        self, echo: bytes | None = None, *, timestamp: int | None = None, nonce: str | None = None
    ) -> UrlVerification:
        """The GET query of the URL check (echostr encrypted for the receive id, signed)."""
        if echo is None:
            echo = str(secrets.randbits(63)).encode()
        encrypt = self._encrypt(echo)
        query = self._signed(encrypt, timestamp, nonce)
        query["echostr"] = encrypt
        return UrlVerification(query, echo)

    def _encrypt(self, plain: bytes) -> str:
        return encrypt_msg(plain, self._receive_id, self._aes_key)

    def envelope(
        self, data: bytes, *, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Encrypt and sign inner JSON into a callback POST: ``(query, body)``."""
        encrypt = self._encrypt(data)
        return self._signed(encrypt, timestamp, nonce), json.dumps({"encrypt": encrypt}).encode()

    def open_reply(self, body: bytes | str) -> bytes:
        """Verify a reply envelope's signature and return its inner JSON.

        Raises:
            JSONParseError (-40002): the body is not the JSON envelope.
            SignatureError (-40001): msgsignature, timestamp or nonce missing or wrong.
            Base64Error, DecryptError, CorpIdMismatchError: a bad encrypt.
        """
        try:
            doc = json.loads(body)
        except ValueError:
            raise JSONParseError("not well-formed JSON") from None
        if not isinstance(doc, dict):
            raise JSONParseError("JSON body is not an object")
        sig, ts, nonce = doc.get("msgsignature"), doc.get("timestamp"), doc.get("nonce")
        if not (isinstance(sig, str) and isinstance(ts, int) and isinstance(nonce, str)):
            raise SignatureError(MSG_REPLY_FIELDS)
        return bytes(self._crypto.decrypt_json(body, sig, ts, nonce))

    # ------------------------------------------------------------------ transports

    def send(
        self,
        target: str | App,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        method: str = "POST",
        timeout: float = 10.0,
    ) -> AIBotResult:
        """Send one raw request to a URL (over HTTP) or a WSGI application (in process)."""
        query = query or {}
        if isinstance(target, str):
            response = self.http.request(
                method,
                _with_query(target, query),
                body=body,
                headers={"Content-Type": "application/json"},
                timeout=timeout,
                retries=False,
                redirect=False,
            )
            headers = {k.lower(): v for k, v in response.headers.items()}
            return AIBotResult(response.status, headers, response.data)
        return _call_wsgi(target, method, query, body or b"")

    async def asend(
        self,
        app: App,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        method: str = "POST",
    ) -> AIBotResult:
        """Send one raw request to an ASGI application, in process."""
        return await _call_asgi(app, method, query or {}, body or b"")

    def _opened(self, result: AIBotResult, sent: bytes) -> AIBotResult:
        if result.status != 200 or not result.body:
            return dataclasses.replace(result, sent=sent)
        return dataclasses.replace(result, sent=sent, reply=self.open_reply(result.body))

    def _checked_echo(self, result: AIBotResult, echo: bytes) -> AIBotResult:
        if result.status != 200:
            return result
        if result.body != echo:
            raise SignatureError("the URL check was answered with the wrong echo")
        return dataclasses.replace(result, reply=result.body)

    def get(self, target: str | App) -> AIBotResult:
        """Run the URL check; ``reply`` is the answer when it is the echo."""
        check = self.url_verification()
        return self._checked_echo(self.send(target, check.query, method="GET"), check.echo)

    async def aget(self, app: App) -> AIBotResult:
        """``get`` against an ASGI application."""
        check = self.url_verification()
        return self._checked_echo(await self.asend(app, check.query, method="GET"), check.echo)

    def post_json(self, target: str | App, data: bytes) -> AIBotResult:
        """Encrypt, sign and POST inner JSON; open the reply."""
        query, body = self.envelope(data)
        return self._opened(self.send(target, query, body), data)

    async def apost_json(self, app: App, data: bytes) -> AIBotResult:
        """``post_json`` against an ASGI application."""
        query, body = self.envelope(data)
        return self._opened(await self.asend(app, query, body), data)

    def post(self, target: str | App, msgtype: str = "text", **fields: Any) -> AIBotResult:
        """POST a message (``message_json``'s arguments) and open the reply."""
        return self.post_json(target, self.message_json(msgtype, **fields))

    def post_event(self, target: str | App, event_type: str, **fields: Any) -> AIBotResult:
        """POST an event (``event_json``'s arguments) and open the reply."""
        return self.post_json(target, self.event_json(event_type, **fields))

    # ------------------------------------------------------------------ conversations

    def _steps(
        self, first: AIBotResult, max_refreshes: int
    ) -> Generator[bytes | Conversation, AIBotResult, None]:
        """The refreshes a conversation sends, fed the replies; ends with the Conversation."""
        reply = _stream_reply(first)
        stream_id = reply["stream"].get("id")
        if not isinstance(stream_id, str) or not stream_id:
            raise SimulatorError("the first reply of a stream has no stream id")
        replies = [reply]
        while not reply["stream"].get("finish"):
            if len(replies) > max_refreshes:
                raise SimulatorError(f"the stream did not finish in {max_refreshes} refreshes")
            result = yield self.message_json("stream", stream_id=stream_id)
            reply = _stream_reply(result)
            if reply["stream"].get("id", stream_id) != stream_id:
                raise SimulatorError("a refresh was answered for another stream")
            replies.append(reply)
        yield Conversation(
            stream_id, replies, str(reply["stream"].get("content", "")), len(replies) - 1
        )

    def conversation(
        self,
        target: str | App,
        content: str = "hello from the simulator",
        *,
        message: bytes | None = None,
        max_refreshes: int = 3000,
        interval: float = 0.01,
    ) -> Conversation:
        """Send a text message (or ``message``), then refresh its stream until it finishes.

        Every reply is verified and decrypted; it must be a stream (``stream`` or
        ``stream_with_template_card``) keeping the first reply's id. ``interval`` seconds
        pass between refreshes (WeChat Work refreshes about once a second).

        Raises:
            SimulatorError: a reply breaks the protocol, or no finish in ``max_refreshes``.
            CallbackError: a reply fails verification.
        """
        steps = self._steps(
            self.post_json(target, message or self.message_json("text", content=content)),
            max_refreshes,
        )
        step = next(steps)
        while not isinstance(step, Conversation):
            if interval > 0:
                time.sleep(interval)
            step = steps.send(self.post_json(target, step))
        return step

    async def aconversation(
        self,
        app: App,
        content: str = "hello from the simulator",
        *,
        message: bytes | None = None,
        max_refreshes: int = 3000,
        interval: float = 0.01,
    ) -> Conversation:
        """``conversation`` against an ASGI application, in process."""
        import asyncio

        first = await self.apost_json(app, message or self.message_json("text", content=content))
        steps = self._steps(first, max_refreshes)
        step = next(steps)
        while not isinstance(step, Conversation):
            await asyncio.sleep(interval)
            step = steps.send(await self.apost_json(app, step))
        return step


def _stream_reply(result: AIBotResult) -> dict[str, Any]:
    if result.status != 200:
        raise SimulatorError(f"a stream callback was answered HTTP {result.status}")
    doc = result.json()
    if (
        not isinstance(doc, dict)
        or doc.get("msgtype") not in ("stream", "stream_with_template_card")
        or not isinstance(doc.get("stream"), dict)
    ):
        raise SimulatorError("a stream callback was not answered with a stream")
    return doc


# --------------------------------------------------------------------------- in process


def _environ(method: str, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": urlencode(query),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _call_wsgi(app: App, method: str, query: Mapping[str, str], body: bytes) -> AIBotResult:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [int(status.split()[0]), {k.lower(): v for k, v in headers}]
        return lambda data: None

    chunks = app(_environ(method, query, body), start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return AIBotResult(started[0], started[1], data)


async def _call_asgi(app: App, method: str, query: Mapping[str, str], body: bytes) -> AIBotResult:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": urlencode(query).encode("latin-1"),
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0
    headers: dict[str, str] = {}
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.update(
                {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
            )
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    return AIBotResult(status, headers, b"".join(parts))
