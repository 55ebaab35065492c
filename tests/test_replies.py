"""Replies render to well-formed inner XML that parses back to the same values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wxcorp_fast
from wxcorp_fast.replies import (
    Article,
    ImageReply,
    NewsReply,
    TextReply,
    VideoReply,
    VoiceReply,
)

# Characters XML 1.0 can carry (lone surrogates, most C0 controls, U+FFFE/F excluded).
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if c not in (9, 10, 13)]
    + ["\ufffe", "\uffff"],
)
XML_TEXT = st.text(XML_CHARS) | st.sampled_from(["]]>", "a]]>b]]>", "]]]]>>", "\r\n", "<&>'\""])
NAMES = st.text(XML_CHARS, min_size=1, max_size=40)
TIMES = st.integers(min_value=0, max_value=2**31)


def _head_matches(msg: wxcorp_fast.MixedMessage, to: str, frm: str, ts: int, kind: str) -> None:
    assert (msg.to_user_name, msg.from_user_name, msg.create_time, msg.msg_type) == (
        to,
        frm,
        ts,
        kind,
    )


@given(XML_TEXT, NAMES, NAMES, TIMES)
def test_text_round_trip(content: str, to: str, frm: str, ts: int) -> None:
    msg = wxcorp_fast.parse_message(TextReply(content).render(to, frm, ts))
    _head_matches(msg, to, frm, ts, "text")
    assert msg.content == content


@given(XML_TEXT, NAMES, NAMES, TIMES)
def test_image_and_voice_round_trip(media_id: str, to: str, frm: str, ts: int) -> None:
    for reply, kind, tag in (
        (ImageReply(media_id), "image", "Image"),
        (VoiceReply(media_id), "voice", "Voice"),
    ):
        msg = wxcorp_fast.parse_message(reply.render(to, frm, ts))
        _head_matches(msg, to, frm, ts, kind)
        assert msg.raw[tag] == {"MediaId": media_id}


@given(XML_TEXT, XML_TEXT, XML_TEXT)
def test_video_round_trip(media_id: str, title: str, description: str) -> None:
    msg = wxcorp_fast.parse_message(VideoReply(media_id, title, description).render("u", "c", 7))
    _head_matches(msg, "u", "c", 7, "video")
    assert msg.raw["Video"] == {"MediaId": media_id, "Title": title, "Description": description}


@given(st.lists(st.tuples(XML_TEXT, XML_TEXT, XML_TEXT, XML_TEXT), min_size=1, max_size=8))
def test_news_round_trip(fields: list[tuple[str, str, str, str]]) -> None:
    reply = NewsReply([Article(*f) for f in fields])
    msg = wxcorp_fast.parse_message(reply.render("u", "c", 7))
    _head_matches(msg, "u", "c", 7, "news")
    assert msg.raw["ArticleCount"] == str(len(fields))
    items = msg.raw["Articles"]["item"]
    items = items if isinstance(items, list) else [items]
    assert [(i["Title"], i["Description"], i["PicUrl"], i["Url"]) for i in items] == fields


def test_text_exact_bytes() -> None:
    assert TextReply("a]]>b").render("user", "corp", 12) == (
        b"<xml><ToUserName><![CDATA[user]]></ToUserName>"
        b"<FromUserName><![CDATA[corp]]></FromUserName><CreateTime>12</CreateTime>"
        b"<MsgType><![CDATA[text]]></MsgType>"
        b"<Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>"
    )


def test_article_defaults_and_news_keeps_a_tuple() -> None:
    article = Article("only a title")
    assert (article.description, article.pic_url, article.url) == ("", "", "")
    reply = NewsReply([article])
    assert reply.articles == (article,)
    assert reply == NewsReply((Article("only a title"),))


@pytest.mark.parametrize("bad", ["\x00", "a\x01b", "\x1f", "\ud800", "\ufffe", "\uffff"])
def test_characters_xml_cannot_carry_are_refused(bad: str) -> None:
    for build in (TextReply, ImageReply, VoiceReply, VideoReply, Article):
        with pytest.raises(ValueError, match="XML 1.0"):
            build(bad)
    with pytest.raises(ValueError, match="description"):
        VideoReply("m", "t", bad)
    with pytest.raises(ValueError, match="to_user_name"):
        TextReply("ok").render(bad, "corp", 1)
    with pytest.raises(ValueError, match="from_user_name"):
        TextReply("ok").render("user", bad, 1)


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError):
        TextReply(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TextReply("x").render("u", "c", "12")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        NewsReply(["not an article"])  # type: ignore[list-item]


@pytest.mark.parametrize("count", [0, 9])
def test_news_article_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match="1 to 8"):
        NewsReply([Article("t")] * count)


def test_replies_are_frozen() -> None:
    reply = TextReply("x")
    with pytest.raises(AttributeError):
        reply.content = "y"  # type: ignore[misc]
