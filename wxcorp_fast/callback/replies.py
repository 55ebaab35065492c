"""Passive replies to a callback: text, image, voice, video and news (docs/reference.md section 2).

Each reply is a frozen slotted dataclass with ``render(to_user_name, from_user_name,
create_time) -> bytes``, the inner XML that the server encrypts into the reply envelope
(WeChat Work doc "被动回复消息格式"). Every text goes into a CDATA section and stays
well-formed whatever it holds: ``]]>`` is split across two sections. A character XML 1.0
cannot carry (a control other than tab/LF/CR, a lone surrogate, U+FFFE/U+FFFF) is refused
with ``ValueError`` when the reply is built, and for the user names when it is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .._core import core
from ._xml import cdata, check_text

__all__ = ["TextReply", "ImageReply", "VoiceReply", "VideoReply", "NewsReply", "Article"]

_text_reply = core._text_reply

#: WeChat Work accepts 1 to 8 articles in a news reply.
MAX_ARTICLES: Final = 8


#: User and corp names already checked -> their CDATA text, so that a busy agent checks and
#: escapes each name once. Bounded: cleared when full.
_NAMES: dict[str, str] = {}
_MAX_NAMES: Final = 4096


def _name(name: str, what: str) -> str:
    cached = _NAMES.get(name)
    if cached is None:
        cached = cdata(check_text(name, what))
        if len(_NAMES) >= _MAX_NAMES:
            _NAMES.clear()
        _NAMES[name] = cached
    return cached


def _head(to_user_name: str, from_user_name: str, create_time: int, msg_type: str) -> str:
    if type(create_time) is not int:
        raise TypeError("create_time must be int")
    return (
        f"<xml><ToUserName><![CDATA[{_name(to_user_name, 'to_user_name')}]]></ToUserName>"
        f"<FromUserName><![CDATA[{_name(from_user_name, 'from_user_name')}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
    )


@dataclass(frozen=True, slots=True)
class TextReply:
    """A text reply."""

    content: str

    def __post_init__(self) -> None:
        check_text(self.content, "content")

    def render(self, to_user_name: str, from_user_name: str, create_time: int) -> bytes:
        """Return the inner XML of this reply."""
        xml = _text_reply(to_user_name, from_user_name, create_time, self.content)
        if xml is not None:  # written by the core in one pass: nothing to escape or refuse
            return xml
        return (
            f"{_head(to_user_name, from_user_name, create_time, 'text')}"
            f"<Content><![CDATA[{cdata(self.content)}]]></Content></xml>"
        ).encode()


@dataclass(frozen=True, slots=True)
class ImageReply:
    """An image reply: the media_id of an uploaded image."""

    media_id: str

    def __post_init__(self) -> None:
        check_text(self.media_id, "media_id")

    def render(self, to_user_name: str, from_user_name: str, create_time: int) -> bytes:
        """Return the inner XML of this reply."""
        return (
            f"{_head(to_user_name, from_user_name, create_time, 'image')}"
            f"<Image><MediaId><![CDATA[{cdata(self.media_id)}]]></MediaId></Image></xml>"
        ).encode()


@dataclass(frozen=True, slots=True)
class VoiceReply:
    """A voice reply: the media_id of an uploaded voice clip."""

    media_id: str

    def __post_init__(self) -> None:
        check_text(self.media_id, "media_id")

    def render(self, to_user_name: str, from_user_name: str, create_time: int) -> bytes:
        """Return the inner XML of this reply."""
        return (
            f"{_head(to_user_name, from_user_name, create_time, 'voice')}"
            f"<Voice><MediaId><![CDATA[{cdata(self.media_id)}]]></MediaId></Voice></xml>"
        ).encode()


@dataclass(frozen=True, slots=True)
class VideoReply:
    """A video reply: the media_id of an uploaded video, with an optional title and description."""

    media_id: str
    title: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        check_text(self.media_id, "media_id")
        check_text(self.title, "title")
        check_text(self.description, "description")

    def render(self, to_user_name: str, from_user_name: str, create_time: int) -> bytes:
        """Return the inner XML of this reply."""
        return (
            f"{_head(to_user_name, from_user_name, create_time, 'video')}"
            f"<Video><MediaId><![CDATA[{cdata(self.media_id)}]]></MediaId>"
            f"<Title><![CDATA[{cdata(self.title)}]]></Title>"
            f"<Description><![CDATA[{cdata(self.description)}]]></Description></Video></xml>"
        ).encode()


@dataclass(frozen=True, slots=True)
class Article:
    """One article of a news reply."""

    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        check_text(self.title, "title")
        check_text(self.description, "description")
        check_text(self.pic_url, "pic_url")
        check_text(self.url, "url")

    def _item(self) -> str:
        return (
            f"<item><Title><![CDATA[{cdata(self.title)}]]></Title>"
            f"<Description><![CDATA[{cdata(self.description)}]]></Description>"
            f"<PicUrl><![CDATA[{cdata(self.pic_url)}]]></PicUrl>"
            f"<Url><![CDATA[{cdata(self.url)}]]></Url></item>"
        )


@dataclass(frozen=True, slots=True)
class NewsReply:
    """A news reply: 1 to 8 articles (any iterable of ``Article``, kept as a tuple)."""

    articles: tuple[Article, ...]

    def __post_init__(self) -> None:
        articles = tuple(self.articles)
        if not 1 <= len(articles) <= MAX_ARTICLES:
            raise ValueError(f"a news reply holds 1 to {MAX_ARTICLES} articles")
        if not all(isinstance(a, Article) for a in articles):
            raise TypeError("articles must be Article instances")
        object.__setattr__(self, "articles", articles)

    def render(self, to_user_name: str, from_user_name: str, create_time: int) -> bytes:
        """Return the inner XML of this reply."""
        items = "".join(a._item() for a in self.articles)
        return (
            f"{_head(to_user_name, from_user_name, create_time, 'news')}"
            f"<ArticleCount>{len(self.articles)}</ArticleCount>"
            f"<Articles>{items}</Articles></xml>"
        ).encode()
