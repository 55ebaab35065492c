"""A late reply through a callback's ``response_url`` (主动回复消息): the request, built once.

WeChat Work gives each AI-bot message and template-card event a ``response_url``: one POST
of JSON to it, within an hour, pushes one reply (``markdown`` or ``template_card``; a card
only in single chats). ``CorpClient.respond`` sends what ``response_request`` builds; the
URL carries its own credential (``response_code``), so no access_token is added.
"""

from __future__ import annotations

from typing import Final, Union
from urllib.parse import urlsplit

from .replies import MarkdownReply, TemplateCardReply

__all__ = ["RespondReply", "response_request", "RESPONSE_PATH"]

#: The path of WeChat Work's response URLs.
RESPONSE_PATH: Final = "/cgi-bin/aibot/response"

RespondReply = Union[MarkdownReply, TemplateCardReply, str]
"""What ``respond`` sends: markdown (a str is markdown) or a template card."""


def response_request(response_url: str, reply: RespondReply) -> tuple[str, bytes]:
    """Return ``(url, JSON body)`` of the POST that pushes ``reply`` to ``response_url``.

    Raises:
        ValueError: the URL is not an http(s) URL with a host, or the markdown is empty.
        TypeError: a reply of another kind (stream, text and card updates are passive
            replies only).
    """
    if not isinstance(response_url, str):
        raise TypeError("response_url must be str")
    parts = urlsplit(response_url)
    if (
        parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(c in response_url for c in " \r\n\t")
    ):
        raise ValueError("response_url must be the http(s) URL of a callback")
    if isinstance(reply, str):
        reply = MarkdownReply(reply)
    if not isinstance(reply, (MarkdownReply, TemplateCardReply)):
        raise TypeError("respond sends a MarkdownReply (or str) or a TemplateCardReply")
    return response_url, reply.render()
