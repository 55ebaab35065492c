"""Replies of an AI bot, each rendered to the JSON WeChat Work documents.

(被动回复消息, 主动回复消息)

- ``StreamReply(content, finish=True)``: a streamed message (``msgtype: stream``); the server
  gives it a stream id unless it carries one.
- ``TextReply(content)``: the welcome text of an ``enter_chat`` event (anywhere else the
  server sends it as a finished stream: text is the welcome's format only).
- ``TemplateCardReply(card)``, ``StreamWithTemplateCardReply(content, card)``,
  ``UpdateTemplateCardReply(card, userids=())`` (the answer to a ``template_card_event``).
- ``MarkdownReply(content)``: for ``respond`` through a ``response_url`` (with
  ``TemplateCardReply``).

Each is a frozen dataclass with ``payload(stream_id="") -> dict`` and
``render(stream_id="") -> bytes`` (compact UTF-8 JSON). Contents longer than WeChat's limit
(20480 bytes of UTF-8) and feedback ids over 256 bytes are refused with ``ValueError``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .._core import core

__all__ = [
    "StreamReply",
    "TextReply",
    "TemplateCardReply",
    "StreamWithTemplateCardReply",
    "UpdateTemplateCardReply",
    "MarkdownReply",
    "MAX_CONTENT_BYTES",
    "render_stream",
]

#: The longest stream, text or markdown content WeChat Work takes (bytes of UTF-8).
MAX_CONTENT_BYTES: Final = 20480
MAX_FEEDBACK_ID_BYTES: Final = 256
MAX_IMAGES: Final = 10

_quote: Any = core._json_string  # a JSON string literal in UTF-8 (the compiled core's: C)


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_content(content: object, what: str = "content") -> None:
    if not isinstance(content, str):
        raise TypeError(f"{what} must be str")
    if len(content) * 3 > MAX_CONTENT_BYTES and len(content.encode("utf-8", "surrogatepass")) > (
        MAX_CONTENT_BYTES
    ):
        raise ValueError(f"{what} is longer than {MAX_CONTENT_BYTES} bytes of UTF-8")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not encodable as UTF-8") from None


def _check_feedback(feedback_id: str | None) -> None:
    if feedback_id is None:
        return
    if not isinstance(feedback_id, str) or not feedback_id:
        raise TypeError("feedback_id must be a non-empty str or None")
    if len(feedback_id.encode("utf-8", "surrogatepass")) > MAX_FEEDBACK_ID_BYTES:
        raise ValueError(f"feedback_id is longer than {MAX_FEEDBACK_ID_BYTES} bytes")


def _card(card: object) -> dict[str, Any]:
    if not isinstance(card, Mapping):
        raise TypeError("card must be a mapping (the template_card object)")
    copy = json.loads(_dumps(dict(card)))  # a plain, JSON-only deep copy
    assert isinstance(copy, dict)
    return copy


def render_stream(stream_id: str, content: str, finish: bool) -> bytes:
    """The JSON of a plain stream reply (the refresh answer: built without json.dumps)."""
    return b"".join(
        (
            b'{"msgtype":"stream","stream":{"id":',
            _quote(stream_id),
            b',"finish":true,"content":' if finish else b',"finish":false,"content":',
            _quote(content),
            b"}}",
        )
    )


def _stream_object(
    stream_id: str,
    content: str,
    finish: bool,
    images: tuple[bytes, ...],
    feedback_id: str | None,
) -> dict[str, Any]:
    stream: dict[str, Any] = {"id": stream_id, "finish": finish, "content": content}
    if images:
        stream["msg_item"] = [
            {
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(image).decode("ascii"),
                    "md5": hashlib.md5(image, usedforsecurity=False).hexdigest(),
                },
            }
            for image in images
        ]
    if feedback_id is not None:
        stream["feedback"] = {"id": feedback_id}
    return stream


def _check_images(images: Sequence[bytes], finish: bool) -> tuple[bytes, ...]:
    out = tuple(images)
    if not all(isinstance(image, bytes) for image in out):
        raise TypeError("images must be bytes (JPG or PNG files)")
    if len(out) > MAX_IMAGES:
        raise ValueError(f"at most {MAX_IMAGES} images")
    if out and not finish:
        raise ValueError("images go only in the last reply of a stream (finish=True)")
    return out


def _check_stream_id(stream_id: str | None) -> None:
    if stream_id is not None and (not isinstance(stream_id, str) or not stream_id):
        raise TypeError("stream_id must be a non-empty str or None")


@dataclass(frozen=True)
class StreamReply:
    """A streamed message: ``content`` so far (markdown, ``<think>`` shown as thinking).

    ``finish=False`` leaves the stream open: WeChat Work then refreshes it by its id (the
    server's stream store answers). ``images`` (JPG/PNG bytes, at most 10) only with
    ``finish=True``; ``feedback_id`` makes the user's thumbs up/down come back as a
    ``feedback_event``.
    """

    content: str = ""
    finish: bool = True
    stream_id: str | None = None
    images: tuple[bytes, ...] = ()
    feedback_id: str | None = None

    def __post_init__(self) -> None:
        _check_content(self.content)
        _check_stream_id(self.stream_id)
        object.__setattr__(self, "images", _check_images(self.images, self.finish))
        _check_feedback(self.feedback_id)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict; ``stream_id`` is used when the reply carries none."""
        sid = self.stream_id or stream_id
        return {
            "msgtype": "stream",
            "stream": _stream_object(sid, self.content, self.finish, self.images, self.feedback_id),
        }

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        if not self.images and self.feedback_id is None:
            return render_stream(self.stream_id or stream_id, self.content, self.finish)
        return _dumps(self.payload(stream_id))


@dataclass(frozen=True)
class TextReply:
    """A text message: the welcome answer to an ``enter_chat`` event."""

    content: str

    def __post_init__(self) -> None:
        _check_content(self.content)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict."""
        return {"msgtype": "text", "text": {"content": self.content}}

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        return _dumps(self.payload(stream_id))


@dataclass(frozen=True)
class MarkdownReply:
    """A markdown message, for ``respond`` through a callback's ``response_url``."""

    content: str
    feedback_id: str | None = None

    def __post_init__(self) -> None:
        _check_content(self.content)
        if not self.content:
            raise ValueError("content must not be empty")
        _check_feedback(self.feedback_id)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict."""
        markdown: dict[str, Any] = {"content": self.content}
        if self.feedback_id is not None:
            markdown["feedback"] = {"id": self.feedback_id}
        return {"msgtype": "markdown", "markdown": markdown}

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        return _dumps(self.payload(stream_id))


def _with_feedback(card: dict[str, Any], feedback_id: str | None) -> dict[str, Any]:
    return card if feedback_id is None else {**card, "feedback": {"id": feedback_id}}


@dataclass(frozen=True)
class TemplateCardReply:
    """A template card (模板卡片): ``card`` is the documented TemplateCard object."""

    card: Mapping[str, Any]
    feedback_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "card", _card(self.card))
        _check_feedback(self.feedback_id)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict."""
        return {
            "msgtype": "template_card",
            "template_card": _with_feedback(dict(self.card), self.feedback_id),
        }

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        return _dumps(self.payload(stream_id))


@dataclass(frozen=True)
class StreamWithTemplateCardReply:
    """A streamed message and a template card in one reply (流式消息+模板卡片)."""

    content: str
    card: Mapping[str, Any]
    finish: bool = True
    stream_id: str | None = None
    feedback_id: str | None = None
    card_feedback_id: str | None = None

    def __post_init__(self) -> None:
        _check_content(self.content)
        object.__setattr__(self, "card", _card(self.card))
        _check_stream_id(self.stream_id)
        _check_feedback(self.feedback_id)
        _check_feedback(self.card_feedback_id)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict; ``stream_id`` is used when the reply carries none."""
        sid = self.stream_id or stream_id
        return {
            "msgtype": "stream_with_template_card",
            "stream": _stream_object(sid, self.content, self.finish, (), self.feedback_id),
            "template_card": _with_feedback(dict(self.card), self.card_feedback_id),
        }

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        return _dumps(self.payload(stream_id))


@dataclass(frozen=True)
class UpdateTemplateCardReply:
    """The answer to a ``template_card_event``: replace the card (for ``userids``, or all).

    The card's ``task_id`` must be the event's.
    """

    card: Mapping[str, Any]
    userids: Sequence[str] = field(default=())
    feedback_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "card", _card(self.card))
        if isinstance(self.userids, str) or not all(isinstance(u, str) for u in self.userids):
            raise TypeError("userids must be a sequence of str")
        object.__setattr__(self, "userids", tuple(self.userids))
        _check_feedback(self.feedback_id)

    def payload(self, stream_id: str = "") -> dict[str, Any]:
        """The reply as a dict."""
        out: dict[str, Any] = {"response_type": "update_template_card"}
        if self.userids:
            out["userids"] = list(self.userids)
        out["template_card"] = _with_feedback(dict(self.card), self.feedback_id)
        return out

    def render(self, stream_id: str = "") -> bytes:
        """The reply's JSON."""
        return _dumps(self.payload(stream_id))
