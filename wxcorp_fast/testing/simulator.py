"""CallbackSimulator: plays WeChat Work's side of the callback protocol.

It builds signed, encrypted callbacks — the GET URL check and POSTed messages and events,
with the field sets of WeChat Work's docs (接收消息, 接收事件, 通讯录回调通知, 异步任务完成
通知) — sends them over real HTTP, and verifies and decrypts the replies. The crypto is
``wxcorp_fast.MsgCrypto``; the HTTP client is urllib3.

``send(..., retries=True)`` and ``post(..., retries=True)`` play WeChat's retry schedule
(接收消息与事件: "如果企业在五秒内没有响应，企业微信会断掉连接，重新发起请求，总共重试三次"):
a try that gets no answer within ``retry_interval`` seconds (5) is dropped and the same
request sent again, three tries in all (the first and two more, as WeChat is seen to run a
slow handler three times); any answer, an empty 200 included, ends the schedule.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NamedTuple, Union
from urllib.parse import urlencode

import urllib3

from wxcorp_fast import MsgCrypto, decode_aes_key, encrypt_msg, msg_signature, parse_message
from wxcorp_fast.errors import SignatureError
from wxcorp_fast.messages import FIELDS, LOCATION_INFO_FIELDS, SCAN_INFO_FIELDS

__all__ = [
    "CallbackSimulator",
    "HTTPResult",
    "KINDS",
    "UrlVerification",
]

_log = logging.getLogger(__name__)

#: A field value: text, a number, a nested element (dict), repeated elements (list), or
#: ``None`` to leave the element out.
FieldValue = Union[str, int, float, "dict[str, Any]", "list[Any]", None]

#: Every kind the simulator knows -> the ``message()`` arguments that select it.
KINDS: Final[dict[str, dict[str, str]]] = {
    **{
        kind: {"msg_type": kind} for kind in ("text", "image", "voice", "video", "location", "link")
    },
    **{
        kind: {"msg_type": "event", "event": kind}
        for kind in (
            "subscribe",
            "unsubscribe",
            "enter_agent",
            "LOCATION",
            "click",
            "view",
            "scancode_push",
            "pic_weixin",
            "location_select",
            "change_contact",
            "batch_job_result",
        )
    },
}

_CHUNK: Final = 65536
#: WeChat's schedule: three tries in all, each dropped after 5 seconds without an answer.
TRIES: Final = 3
RETRY_INTERVAL: Final = 5.0
MSG_REPLY_FIELDS: Final = "reply envelope lacks MsgSignature, TimeStamp or Nonce"
MSG_REPLY_NOT_FOR_REQUEST: Final = "reply envelope does not reuse the request's timestamp and nonce"

# snake_case keyword -> XML tag, for the typed fields of MixedMessage and its groups.
_TAGS: Final[dict[str, str]] = {
    name: tag for name, tag, _ in (*FIELDS, *SCAN_INFO_FIELDS, *LOCATION_INFO_FIELDS)
}
_TAG_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")

# Fields of each message type and event beyond ToUserName, FromUserName, CreateTime, MsgType
# (and Event), in the docs' order; AgentID goes last. ``MsgId`` is drawn per message.
_MESSAGE_FIELDS: Final[dict[str, dict[str, FieldValue]]] = {
    "text": {"Content": "hello from the simulator"},
    "image": {
        "PicUrl": "https://wework.qpic.cn/wwpic/simulated/0",
        "MediaId": "1L3zRxmVWEmRr6Qb0cS5aeVNS3i5ms9bF0ezz_fHXfCY",
    },
    "voice": {"MediaId": "1oIyqJq2iBZCNvKNkTqGWP7F7bHv1ijV4Jmmb48Fwcv8", "Format": "amr"},
    "video": {
        "MediaId": "1fRxnKPjjhtDQiBTHqw8uW7JRdkfbx1Y6Nc2Sb34fzTU",
        "ThumbMediaId": "1tq6S4Vd7ikTFSNpsrmDJk6WxXOqLmvk5q4AJdOnRvwk",
    },
    "location": {
        "Location_X": 23.134521,
        "Location_Y": 113.358803,
        "Scale": 20,
        "Label": "广州市海珠区新港中路397号",
    },
    "link": {
        "Title": "企业微信开发文档",
        "Description": "接收消息与事件",
        "Url": "https://developer.work.weixin.qq.com/document/path/90239",
        "PicUrl": "https://wework.qpic.cn/wwpic/simulated/1",
    },
}
_EVENT_FIELDS: Final[dict[str, dict[str, FieldValue]]] = {
    "subscribe": {},
    "unsubscribe": {},
    "enter_agent": {"EventKey": ""},
    "LOCATION": {
        "Latitude": 23.104105,
        "Longitude": 113.320107,
        "Precision": 65.0,
        "AppType": "wxwork",
    },
    "click": {"EventKey": "MENU_CLICK_1"},
    "view": {"EventKey": "https://work.weixin.qq.com/"},
    "scancode_push": {
        "EventKey": "MENU_SCAN",
        "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "https://example.com/scan/1"},
    },
    "pic_weixin": {
        "EventKey": "MENU_PIC",
        "SendPicsInfo": {
            "Count": 1,
            "PicList": {"item": [{"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"}]},
        },
    },
    "location_select": {
        "EventKey": "MENU_LOCATION",
        "SendLocationInfo": {
            "Location_X": 23.0,
            "Location_Y": 113.5,
            "Scale": 15,
            "Label": "广州市海珠区客村艺苑路 106号",
            "Poiname": "",
        },
    },
    "change_contact": {
        "ChangeType": "update_user",
        "UserID": "zhangsan",
        "Name": "张三",
        "Department": "1,2,3",
        "MainDepartment": 1,
        "IsLeaderInDept": "1,0,0",
        "Position": "产品经理",
        "Gender": 1,
        "Email": "zhangsan@example.com",
        "Status": 1,
        "Alias": "zhangsan",
        "ExtAttr": {
            "Item": [
                {"Name": "爱好", "Type": 0, "Text": {"Value": "旅游"}},
                {
                    "Name": "卡号",
                    "Type": 1,
                    "Web": {"Title": "企业微信", "Url": "https://work.weixin.qq.com"},
                },
            ]
        },
    },
    "batch_job_result": {
        "BatchJob": {
            "JobId": "S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4",
            "JobType": "sync_user",
            "ErrCode": 0,
            "ErrMsg": "ok",
        }
    },
}
# Events sent by the system rather than by a member.
_SYSTEM_EVENTS: Final = frozenset({"change_contact", "batch_job_result"})


class UrlVerification(NamedTuple):
    """A signed GET URL check: send ``query``; a correct server answers ``echo``."""

    query: dict[str, str]
    echo: bytes


@dataclasses.dataclass(frozen=True)
class HTTPResult:
    """One HTTP exchange: the status, headers (case-insensitive) and body, and the opened reply.

    ``reply`` is the decrypted inner XML of a POST's reply envelope, or for a GET the
    answer itself; it is ``None`` when the status is not 200 or the body is empty.
    ``sent`` is the inner XML ``post`` sent (``None`` for other requests); ``tries`` the
    number of times the request was sent (more than 1 only with ``retries=True``).
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    reply: bytes | None = None
    sent: bytes | None = None
    tries: int = 1


def _cdata(text: str) -> str:
    """Wrap ``text`` in CDATA, splitting any ``]]>`` so the document stays well formed."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_element(tag: str, value: FieldValue) -> str:
    """Render one element (or a run of repeated elements for a list)."""
    if not _TAG_NAME.match(tag):
        raise ValueError(f"not an XML element name: {tag!r}")
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(_xml_element(tag, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml_element(_TAGS.get(k, k), v) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"{tag}: a field is str, int, float, dict, list or None")
    text = _cdata(value) if isinstance(value, str) else str(value)
    return f"<{tag}>{text}</{tag}>"


def _xml_document(fields: Mapping[str, FieldValue]) -> bytes:
    return ("<xml>" + "".join(_xml_element(t, v) for t, v in fields.items()) + "</xml>").encode()


def _with_query(url: str, query: Mapping[str, str]) -> str:
    """Append ``query`` to ``url``, after any query the URL already has."""
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(query)


class CallbackSimulator:
    """Play WeChat Work's side of one application's callback.

    Args:
        corp_id: the CorpID (envelope ToUserName and the frame's receive id).
        agent_id: the application's AgentID.
        token: the callback Token.
        encoding_aes_key: the 43-character EncodingAESKey.
        from_user_name: the member that sends the messages.
        http: a ``urllib3.PoolManager`` for ``get``/``post``/``send`` (one is made when
            ``None``; it is thread-safe, so one simulator can drive many threads).
        clock: returns the current Unix time (``time.time``); timestamps and CreateTime.

    Raises:
        InvalidAESKeyError: ``encoding_aes_key`` is not a valid EncodingAESKey.
    """

    def __init__(
        self,
        corp_id: str,
        agent_id: int,
        token: str,
        encoding_aes_key: str,
        *,
        from_user_name: str = "zhangsan",
        http: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.from_user_name = from_user_name
        self._token = token
        self._crypto = MsgCrypto(token, encoding_aes_key, corp_id)
        self._aes_key = decode_aes_key(encoding_aes_key)
        self._http = http
        self._clock = clock
        self._msg_ids = itertools.count(secrets.randbits(52))

    def __repr__(self) -> str:
        return f"CallbackSimulator(corp_id={self.corp_id!r}, agent_id={self.agent_id!r})"

    @property
    def http(self) -> urllib3.PoolManager:
        """The urllib3 pool the HTTP methods use (made on first use)."""
        if self._http is None:
            self._http = urllib3.PoolManager(maxsize=16, retries=False)
        return self._http

    # ------------------------------------------------------------------ building requests

    def sign(
        self, encrypt: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """Sign an Encrypt text as WeChat signs a callback's query.

        ``encrypt`` is signed as given, valid or not, so that tests can send signed
        nonsense. ``timestamp`` and ``nonce`` default to now and a random number.

        Returns:
            The query's ``msg_signature``, ``timestamp`` and ``nonce``.
        """
        ts = str(int(self._clock()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10)) if nonce is None else nonce
        return {
            "msg_signature": msg_signature(self._token, ts, nonce, encrypt),
            "timestamp": ts,
            "nonce": nonce,
        }

    def _seal(
        self,
        plain: bytes,
        frame_corp_id: str | None,
        aes_key: bytes | None,
        random: bytes | None = None,
    ) -> str:
        """Encrypt ``plain`` into an Encrypt text (the simulator's corp_id and key by default)."""
        return encrypt_msg(
            plain,
            self.corp_id if frame_corp_id is None else frame_corp_id,
            self._aes_key if aes_key is None else aes_key,
            random,
        )

    def url_verification(
        self,
        echo: bytes | None = None,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        frame_corp_id: str | None = None,
        aes_key: bytes | None = None,
    ) -> UrlVerification:
        """Build the GET query of the URL check (``echostr`` encrypted and signed).

        Args:
            echo: the plain echo string (a random decimal number, as WeChat sends, by default).
            timestamp: the request's Unix time (now by default).
            nonce: the request's nonce (random by default).
            frame_corp_id: the receive id sealed in the echostr's frame (the simulator's
                corp_id by default); another one tests a server's corp_id check.
            aes_key: 32 raw bytes to encrypt with instead of the EncodingAESKey's (a key
                rotation, or a key the server does not know).

        Returns:
            The query to send and the ``echo`` a correct server answers with.

        Raises:
            InvalidAESKeyError: ``aes_key`` is not 32 bytes.
        """
        if echo is None:
            echo = str(secrets.randbits(63)).encode()
        encrypt = self._seal(echo, frame_corp_id, aes_key)
        query = self.sign(encrypt, timestamp=timestamp, nonce=nonce)
        query["echostr"] = encrypt
        return UrlVerification(query, echo)

    def message_xml(self, msg_type: str = "text", **fields: FieldValue) -> bytes:
        """Return the decrypted XML of a message or event (what ``message`` encrypts).

        ``msg_type`` is WeChat's MsgType; for ``"event"`` pass ``event=`` (one of the events
        in ``KINDS``, or any other name with only the fields you give). Each keyword sets or,
        with ``None``, removes one element: the snake_case name of a ``MixedMessage`` field
        (``content=``, ``event_key=``, ``agent_id=``, ``scan_code_info={...}``) or an XML tag
        as is (``BatchJob={...}``, ``Department="1,2"``); a dict is a nested element and a
        list repeated elements. ``MsgId`` of messages differs per call.
        """
        event = fields.get("event")
        base: dict[str, FieldValue] = {
            "ToUserName": self.corp_id,
            "FromUserName": "sys" if event in _SYSTEM_EVENTS else self.from_user_name,
            "CreateTime": int(self._clock()),
            "MsgType": msg_type,
        }
        if msg_type == "event":
            if not isinstance(event, str):
                raise ValueError("an event needs event=<its name>")
            base["Event"] = event
            base.update(_EVENT_FIELDS.get(event, {}))
        else:
            base.update(_MESSAGE_FIELDS.get(msg_type, {}))
            base["MsgId"] = next(self._msg_ids)
        base["AgentID"] = self.agent_id
        for name, value in fields.items():
            base[_TAGS.get(name, name)] = value
        return _xml_document(base)

    def message(
        self,
        msg_type: str = "text",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        envelope_to: str | None = None,
        envelope_agent_id: int | str | None = None,
        frame_corp_id: str | None = None,
        aes_key: bytes | None = None,
        random: bytes | None = None,
        **fields: FieldValue,
    ) -> tuple[dict[str, str], bytes]:
        """Build a signed, encrypted callback POST: ``(query, body)``.

        ``msg_type`` and ``fields`` are those of ``message_xml``. The envelope carries the
        message's ToUserName and AgentID (left out when the message has none), as WeChat's
        does; ``timestamp`` and ``nonce`` default to now and a random number. The tamper
        options are those of ``envelope``.
        """
        xml = self.message_xml(msg_type, **fields)
        return self.envelope(
            xml,
            timestamp=timestamp,
            nonce=nonce,
            envelope_to=envelope_to,
            envelope_agent_id=envelope_agent_id,
            frame_corp_id=frame_corp_id,
            aes_key=aes_key,
            random=random,
        )

    def envelope(
        self,
        xml: bytes,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        envelope_to: str | None = None,
        envelope_agent_id: int | str | None = None,
        frame_corp_id: str | None = None,
        aes_key: bytes | None = None,
        random: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Encrypt and sign any inner XML into a callback POST: ``(query, body)``.

        By default the envelope carries the inner message's ToUserName and AgentID (none
        when the message has none); the other options build what WeChat never sends, to
        test a server's handling of hostile or misdirected callbacks.

        Args:
            xml: the inner XML. It is parsed only for an envelope field not overridden, so
                with both overrides it may be anything.
            timestamp: the request's Unix time (now by default).
            nonce: the request's nonce (random by default).
            envelope_to: the envelope's ToUserName instead of the message's.
            envelope_agent_id: the envelope's AgentID instead of the message's.
            frame_corp_id: the receive id sealed in the frame (the simulator's corp_id by
                default).
            aes_key: 32 raw bytes to encrypt with instead of the EncodingAESKey's.
            random: the frame's 16 random bytes (fresh by default); pin it to compare
                with what a server sees, or to resend a message as WeChat's retries do.

        Raises:
            XMLParseError: ``xml`` is not XML and an envelope field follows it.
            InvalidAESKeyError: ``aes_key`` is not 32 bytes.
            ValueError: ``random`` is not 16 bytes.
        """
        to, agent = envelope_to, envelope_agent_id
        if to is None or agent is None:
            inner = parse_message(xml)
            if to is None:
                to = inner.to_user_name
            if agent is None and "AgentID" in inner.raw:
                agent = str(inner.raw["AgentID"])
        encrypt = self._seal(xml, frame_corp_id, aes_key, random)
        body = (
            f"<xml><ToUserName>{_cdata(to)}</ToUserName>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt>"
            + ("" if agent is None else f"<AgentID>{_cdata(str(agent))}</AgentID>")
            + "</xml>"
        ).encode()
        return self.sign(encrypt, timestamp=timestamp, nonce=nonce), body

    # ------------------------------------------------------------------ replies

    def open_reply(self, body: bytes | str, *, query: Mapping[str, str] | None = None) -> bytes:
        """Verify a reply envelope's signature and return the decrypted inner XML.

        Args:
            body: the reply envelope.
            query: the request's query; when given, the reply must also reuse its
                ``timestamp`` and ``nonce``, as WeChat requires.

        Raises:
            XMLParseError (-40002): the body is not XML.
            SignatureError (-40001): MsgSignature, TimeStamp or Nonce is missing, the
                signature does not match, or (with ``query``) the reply does not reuse the
                request's timestamp and nonce.
            Base64Error (-40010), DecryptError (-40007): a bad Encrypt.
            CorpIdMismatchError (-40005): the frame carries another corp_id.
        """
        raw = parse_message(body).raw
        parts = [raw.get(tag) for tag in ("MsgSignature", "TimeStamp", "Nonce")]
        if not all(isinstance(part, str) and part for part in parts):
            raise SignatureError(MSG_REPLY_FIELDS)
        signature, timestamp, nonce = (str(part) for part in parts)
        xml = self._crypto.decrypt(body, signature, timestamp, nonce)
        if query is not None and (query.get("timestamp"), query.get("nonce")) != (
            timestamp,
            nonce,
        ):
            raise SignatureError(MSG_REPLY_NOT_FOR_REQUEST)
        return xml

    # ------------------------------------------------------------------ HTTP

    def send(
        self,
        url: str,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
        timeout: float = 10.0,
        retries: bool = False,
        retry_interval: float = RETRY_INTERVAL,
    ) -> HTTPResult:
        """Send one raw request and return the answer unopened (for hostile tests too).

        ``chunked`` sends the body with ``Transfer-Encoding: chunked`` (no Content-Length).
        ``retries`` plays WeChat's schedule: each try gets ``retry_interval`` seconds (instead
        of ``timeout``) to answer, else it is dropped and the same request sent again, three
        tries in all; the result's ``tries`` counts them.

        Raises:
            urllib3.exceptions.HTTPError: the request failed (with ``retries``: every try).
        """
        tries = TRIES if retries else 1
        for attempt in range(1, tries + 1):
            data: bytes | Iterator[bytes] | None = body
            if chunked and body is not None:
                data = (body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK))
            try:
                response = self.http.request(
                    method,
                    _with_query(url, query or {}),
                    body=data,
                    headers=dict(headers or {"Content-Type": "text/xml; charset=utf-8"}),
                    chunked=chunked,
                    timeout=urllib3.Timeout(total=retry_interval) if retries else timeout,
                    retries=False,
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as error:
                if attempt == tries:
                    raise
                _log.info("no answer in try %d (%s); sending again", attempt, type(error).__name__)
                continue
            return HTTPResult(response.status, response.headers, response.data, tries=attempt)
        raise AssertionError("unreachable")  # the last try returns or raises

    def get(self, url: str, *, timeout: float = 10.0) -> HTTPResult:
        """Run the URL check against ``url``; ``reply`` is the answer when it is the echo.

        Raises:
            SignatureError (-40001): the server answered 200 with something else.
        """
        check = self.url_verification()
        result = self.send(url, check.query, method="GET", timeout=timeout)
        if result.status != 200:
            return result
        if result.body != check.echo:
            raise SignatureError("the URL check was answered with the wrong echo")
        return dataclasses.replace(result, reply=result.body)

    def post(
        self,
        url: str,
        msg_type: str = "text",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        timeout: float = 10.0,
        retries: bool = False,
        retry_interval: float = RETRY_INTERVAL,
        **fields: FieldValue,
    ) -> HTTPResult:
        """Build a callback (as ``message``), POST it to ``url`` and open the reply.

        ``retries`` and ``retry_interval`` play WeChat's retry schedule (see ``send``).

        Returns:
            The result; ``reply`` holds the verified, decrypted inner XML of a non-empty
            200 answer.

        Raises:
            CallbackError: the reply envelope fails verification (see ``open_reply``).
            urllib3.exceptions.HTTPError: the request itself failed.
        """
        xml = self.message_xml(msg_type, **fields)
        query, body = self.envelope(xml, timestamp=timestamp, nonce=nonce)
        answer = self.send(
            url, query, body, timeout=timeout, retries=retries, retry_interval=retry_interval
        )
        result = dataclasses.replace(answer, sent=xml)
        if result.status != 200 or not result.body:
            return result
        return dataclasses.replace(result, reply=self.open_reply(result.body))
