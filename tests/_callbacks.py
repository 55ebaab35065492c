"""Build signed, encrypted callbacks the way WeChat does, and open the replies (test helper).

Built on the crypto core only, so the server's tests do not depend on the server.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import wxcorp_fast
from wxcorp_fast.testing import vectors as v

NONCE = "1372623149"


def inner_xml(
    msg_type: str = "text",
    *,
    to_user_name: str = v.CORP_ID,
    from_user_name: str = "zhangsan",
    create_time: int = 1409659813,
    agent_id: int | None = v.AGENT_ID,
    **fields: Any,
) -> bytes:
    """A message's inner XML; ``fields`` are WeChat tags (``Content="hi"``, ``MsgId=1``)."""
    parts = [
        f"<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName>",
        f"<FromUserName><![CDATA[{from_user_name}]]></FromUserName>",
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    for tag, value in fields.items():
        text = str(value).replace("]]>", "]]]]><![CDATA[>")
        parts.append(f"<{tag}><![CDATA[{text}]]></{tag}>")
    if agent_id is not None:
        parts.append(f"<AgentID>{agent_id}</AgentID>")
    parts.append("</xml>")
    return "".join(parts).encode()


@dataclass
class WeChat:
    """WeChat's side of one agent's callbacks."""

    corp_id: str = v.CORP_ID
    agent_id: int = v.AGENT_ID
    token: str = v.TOKEN
    encoding_aes_key: str = v.ENCODING_AES_KEY
    nonce: str = NONCE
    random: bytes = field(default=b"0123456789abcdef")

    @property
    def aes_key(self) -> bytes:
        return wxcorp_fast.decode_aes_key(self.encoding_aes_key)

    def query(
        self, encrypt: str, timestamp: int | str | None = None, **extra: str
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = wxcorp_fast.msg_signature(self.token, ts, self.nonce, encrypt)
        return {"msg_signature": sig, "timestamp": ts, "nonce": self.nonce, **extra}

    def post(
        self,
        xml: bytes,
        *,
        timestamp: int | str | None = None,
        envelope_to: str | None = None,
        envelope_agent: int | None = None,
        frame_corp_id: str | None = None,
        aes_key: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Return ``(query, body)`` of a POST callback carrying ``xml``."""
        encrypt = wxcorp_fast.encrypt_msg(
            xml,
            self.corp_id if frame_corp_id is None else frame_corp_id,
            self.aes_key if aes_key is None else aes_key,
            self.random,
        )
        to = self.corp_id if envelope_to is None else envelope_to
        agent = self.agent_id if envelope_agent is None else envelope_agent
        body = (
            f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{agent}]]></AgentID></xml>"
        ).encode()
        return self.query(encrypt, timestamp), body

    def text(self, content: str = "hello", **kw: Any) -> tuple[dict[str, str], bytes]:
        """A text message with MsgId 1 (``kw`` goes to ``post``)."""
        xml = inner_xml(
            "text", to_user_name=self.corp_id, agent_id=self.agent_id, Content=content, MsgId=1
        )
        return self.post(xml, **kw)

    def get(
        self,
        echo: bytes = b"1616140317555161061",
        *,
        timestamp: int | str | None = None,
        aes_key: bytes | None = None,
        frame_corp_id: str | None = None,
    ) -> dict[str, str]:
        """Return the query of a GET URL verification whose echostr opens to ``echo``."""
        echostr = wxcorp_fast.encrypt_msg(
            echo,
            self.corp_id if frame_corp_id is None else frame_corp_id,
            self.aes_key if aes_key is None else aes_key,
            self.random,
        )
        return self.query(echostr, timestamp, echostr=echostr)

    def open_reply(self, body: bytes, query: dict[str, str], aes_key: bytes | None = None) -> bytes:
        """Verify a reply envelope (signature, reused timestamp and nonce) and decrypt it."""
        fields = {
            tag: re.search(rb"<%s>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</%s>" % (tag, tag), body).group(1)
            for tag in (b"Encrypt", b"MsgSignature", b"TimeStamp", b"Nonce")
        }
        assert fields[b"TimeStamp"].decode() == query["timestamp"]
        assert fields[b"Nonce"].decode() == query["nonce"]
        encrypt = fields[b"Encrypt"].decode()
        expected = wxcorp_fast.msg_signature(
            self.token, query["timestamp"], query["nonce"], encrypt
        )
        assert fields[b"MsgSignature"].decode() == expected
        random, xml, corp_id = wxcorp_fast.decrypt_msg(
            encrypt, self.aes_key if aes_key is None else aes_key
        )
        assert corp_id == self.corp_id
        assert random != self.random  # a fresh random, not the request's
        return xml
