"""message/send cases shared by the CorpClient and AsyncCorpClient tests.

Each case is (method name, args, kwargs); ``PAYLOADS`` is what FakeWorkServer must have
received for them, in order.
"""

from __future__ import annotations

from typing import Any

SENDS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    (
        "send_message",
        (1000002, "textcard", {"title": "t", "url": "https://x"}),
        {"touser": ["a", "b"], "toparty": "1|2", "totag": ("9",)},
    ),
    ("send_text", (1000002, "你好"), {"touser": "@all"}),
    ("send_markdown", (1000002, "**bold**"), {"toparty": ["3"]}),
]

PAYLOADS: list[dict[str, Any]] = [
    {
        "touser": "a|b",
        "toparty": "1|2",
        "totag": "9",
        "msgtype": "textcard",
        "agentid": 1000002,
        "textcard": {"title": "t", "url": "https://x"},
    },
    {"touser": "@all", "msgtype": "text", "agentid": 1000002, "text": {"content": "你好"}},
    {
        "toparty": "3",
        "msgtype": "markdown",
        "agentid": 1000002,
        "markdown": {"content": "**bold**"},
    },
]
