"""AI-bot reply rendering: the stream reply's fast path writes what json.dumps writes."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize(
    "content",
    [
        "",
        "plain answer",
        "流式回答 streamed",
        'quote " and \\ backslash',
        "tab\tnew\nline\r",
        "\x00\x01\x1f controls",
        "\u2028 separators \u2029",
        "emoji 😀 " * 100,
        "a" * 20000,
    ],
)
@pytest.mark.parametrize("finish", [True, False])
def test_render_stream_is_what_json_dumps_writes(content: str, finish: bool) -> None:
    from wxcorp_fast.aibot.replies import render_stream

    expected = json.dumps(
        {"msgtype": "stream", "stream": {"id": 'id"1', "finish": finish, "content": content}},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    assert render_stream('id"1', content, finish) == expected
