"""Query-string parsing shared by the WSGI and ASGI adapters."""

from __future__ import annotations

from urllib.parse import unquote_plus

from .._core import core

__all__ = ["parse_query"]

_plain_query = core._plain_query


def _unquote(text: str) -> str:
    if "%" in text or "+" in text:
        return unquote_plus(text, errors="surrogateescape")
    return text


def parse_query(query_string: str) -> dict[str, str]:
    """Parse a raw query string (PEP 3333: bytes as latin-1 text) into ``{name: first value}``.

    Percent-escapes and the raw bytes are decoded as UTF-8; bytes that are not UTF-8 become
    surrogates, which the signature check then refuses. A repeated name keeps its first
    value, as Go's ``url.Values.Get`` does. WeChat's usual query (ASCII, no escapes) is
    split by the core in one call.
    """
    plain = _plain_query(query_string)
    if plain is not None:
        return plain
    if not query_string.isascii():
        try:
            query_string = query_string.encode("latin-1").decode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass  # not latin-1 text: the server already decoded it
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            name, value = _unquote(name), _unquote(value)
            if name not in out:
                out[name] = value
    return out
