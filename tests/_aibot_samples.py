"""AI-bot sample documents (WeChat Work docs 接收消息 / 接收事件) and helpers, for tests and bench.

``AIBOT_MESSAGES`` maps a kind to the decrypted JSON of a callback as the docs show it;
``seal`` builds a POST body and its signature from inner JSON with an independent
reference (``cryptography`` directly), for any receive id, the empty one included.
"""

from __future__ import annotations

import json
import os
from typing import Any

from wxcorp_fast import _core_py
from wxcorp_fast.testing import vectors as v

from _samples import aes_cbc_encrypt

RESPONSE_URL = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RESPONSECODE"
IMAGE_URL = "https://ww-aibot-img-1258476243.cos.ap-guangzhou.myqcloud.com/BHoPdA3/757166"

AIBOT_MESSAGES: dict[str, dict[str, Any]] = {
    "text": {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        "aibotid": "AIBOTID",
        "chatid": "CHATID",
        "chattype": "group",
        "from": {"userid": "USERID"},
        "response_url": RESPONSE_URL,
        "msgtype": "text",
        "text": {"content": "@RobotA hello robot"},
        "quote": {"msgtype": "text", "text": {"content": "这是今日的测试情况"}},
    },
    "image": {
        "msgid": "CAIQz7/MjQYY/NGagIOAgAMgl8jK/gI=",
        "aibotid": "AIBOTID",
        "chattype": "single",
        "from": {"userid": "USERID"},
        "response_url": RESPONSE_URL,
        "msgtype": "image",
        "image": {"url": IMAGE_URL},
    },
    "mixed": {
        "msgid": "CAIQrcjMjQYY/NGagIOAgAMg6PDc/w0=",
        "aibotid": "AIBOTID",
        "chatid": "CHATID",
        "chattype": "group",
        "from": {"userid": "USERID"},
        "response_url": RESPONSE_URL,
        "msgtype": "mixed",
        "mixed": {
            "msg_item": [
                {"msgtype": "text", "text": {"content": "@机器人 这是今日的测试情况"}},
                {"msgtype": "image", "image": {"url": IMAGE_URL}},
            ]
        },
    },
    "voice": {
        "msgid": "CAIQrcjMjQYY/NGagIOAgAMg6PDc/w1=",
        "aibotid": "AIBOTID",
        "chattype": "single",
        "from": {"userid": "USERID"},
        "response_url": RESPONSE_URL,
        "msgtype": "voice",
        "voice": {"content": "这是语音转成文本的内容"},
    },
    "file": {
        "msgid": "CAIQrcjMjQYY/NGagIOAgAMg6PDc/w2=",
        "aibotid": "AIBOTID",
        "chattype": "single",
        "from": {"userid": "USERID"},
        "response_url": RESPONSE_URL,
        "msgtype": "file",
        "file": {"url": IMAGE_URL + "0"},
    },
    "stream": {
        "msgid": "CAIQz7/MjQYY/NGagIOAgAMgl8jK/gJ=",
        "aibotid": "AIBOTID",
        "chatid": "CHATID",
        "chattype": "group",
        "from": {"userid": "USERID"},
        "msgtype": "stream",
        "stream": {"id": "STREAMID"},
    },
    "enter_chat": {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AJ=",
        "create_time": 1700000000,
        "aibotid": "AIBOTID",
        "from": {"corpid": "wpxxxx", "userid": "USERID"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    },
    "template_card_event": {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AK=",
        "create_time": 1700000000,
        "aibotid": "AIBOTID",
        "from": {"corpid": "CORPID", "userid": "USERID"},
        "chatid": "CHATID",
        "chattype": "group",
        "response_url": RESPONSE_URL,
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "vote_interaction",
                "event_key": "button_replace_text",
                "task_id": "fBmjTL7ErRCQSNA6GZKMlcFiWX1shOvg",
                "selected_items": {
                    "selected_item": [
                        {
                            "question_key": "button_selection_key1",
                            "option_ids": {"option_id": ["one", "two"]},
                        }
                    ]
                },
            },
        },
    },
    "menu_event": {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AL=",
        "create_time": 1700000000,
        "aibotid": "AIBOTID",
        "from": {"userid": "USERID"},
        "chatid": "CHATID",
        "chattype": "group",
        "response_url": RESPONSE_URL,
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "text_notice",
                "event_key": "button_replace_text",
                "task_id": "fBmjTL7ErRCQSNA6GZKMlcFiWX1shOvg",
            },
        },
    },
    "feedback_event": {
        "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AM=",
        "create_time": 1700000000,
        "aibotid": "AIBOTID",
        "chatid": "CHATID",
        "chattype": "group",
        "from": {"userid": "USERID"},
        "msgtype": "event",
        "event": {
            "eventtype": "feedback_event",
            "feedback_event": {
                "id": "FEEDBACKID",
                "type": 2,
                "content": "能再详细一些么",
                "inaccurate_reason_list": [2, 4],
            },
        },
    },
}


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON, as WeChat sends it."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def frame_encrypt(msg: bytes, receive_id: str = "", random: bytes | None = None) -> str:
    """The base64 encrypt of ``msg`` for ``receive_id``, made without the project's AES code."""
    frame = (random or os.urandom(16)) + len(msg).to_bytes(4, "big") + msg + receive_id.encode()
    pad = 32 - len(frame) % 32
    key = _core_py.decode_aes_key(v.ENCODING_AES_KEY)
    return aes_cbc_encrypt(frame + bytes([pad]) * pad, key)


def seal(
    msg: bytes, receive_id: str = "", timestamp: str = "1700000000", nonce: str = "1372623149"
) -> tuple[bytes, str, str, str]:
    """``(body, msg_signature, timestamp, nonce)`` of an AI-bot POST carrying ``msg``."""
    encrypt = frame_encrypt(msg, receive_id)
    signature = _core_py.msg_signature(v.TOKEN, timestamp, nonce, encrypt)
    return dumps({"encrypt": encrypt}), signature, timestamp, nonce


def text_message(size: int) -> bytes:
    """A text message whose JSON is exactly ``size`` bytes (ASCII content)."""
    doc = dict(AIBOT_MESSAGES["text"])
    del doc["quote"]
    doc["text"] = {"content": ""}
    room = size - len(dumps(doc))
    doc["text"] = {"content": ("hello robot " * (room // 12 + 1))[:room]}
    data = dumps(doc)
    assert len(data) == size
    return data
