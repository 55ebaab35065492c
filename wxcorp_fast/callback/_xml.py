"""CDATA-safe XML text for replies.

Every text value goes into a CDATA section. ``]]>`` cannot appear inside one, so it is
split across two sections (``]]]]><![CDATA[>``), which parses back to the same text. A
carriage return is written as ``&#13;`` between two sections: a parser turns a literal CR
(or CRLF) into LF even inside CDATA, so only the character reference keeps it.
Characters that XML 1.0 does not allow at all (controls other than tab, LF and CR,
lone surrogates, U+FFFE and U+FFFF) cannot be written in any form, so they are refused
with ``ValueError`` rather than silently dropped: a reply that says something other than
what its handler wrote is a bug the handler's author should see.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["check_text", "cdata"]

# the characters outside XML 1.0's Char production, listed (its negated form, "[^\t\n\r\x20-
# \ud7ff...]", takes the re module ~20x longer to compile: ~10 ms of the package's import)
_NOT_XML_CHAR: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CDATA_END: Final = "]]>"
_CDATA_SPLIT: Final = "]]]]><![CDATA[>"
_CR_REF: Final = "]]>&#13;<![CDATA["


def check_text(text: str, what: str) -> str:
    """Return ``text`` if XML 1.0 can carry it, else raise ``ValueError`` naming ``what``."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    if not (text.isascii() and text.isprintable()) and _NOT_XML_CHAR.search(text) is not None:
        raise ValueError(f"{what} contains a character XML 1.0 does not allow")
    return text


def cdata(text: str) -> str:
    """Return the body of a CDATA section holding ``text`` (already checked)."""
    if _CDATA_END in text:
        text = text.replace(_CDATA_END, _CDATA_SPLIT)
    if "\r" in text:
        text = text.replace("\r", _CR_REF)
    return text
