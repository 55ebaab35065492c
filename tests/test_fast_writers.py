"""Two one-call writers of the compiled core against the Python they stand in for, both twins.

``_text_reply(to, from, create_time, content)`` writes a ``TextReply``'s inner XML in one
pass, or says ``None`` where a text needs escaping (a CR, ``]]>``) or refusing (a character
XML 1.0 cannot carry), or a value is of another type: then ``TextReply.render`` writes it in
Python. ``_plain_query(query_string)`` splits WeChat's usual query (ASCII, no ``%`` or
``+``), else says ``None`` and ``parse_query`` decodes it. Whatever they write must be what
the Python path writes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wxcorp_fast.callback import replies
from wxcorp_fast.callback._query import parse_query
from wxcorp_fast.callback._xml import cdata

TEXT = st.text() | st.sampled_from(["]]>", "a\rb", "\ufffe", "\ud800", "\x7f\x85", "長い"])
TIMES = st.integers(-5, 10**19) | st.sampled_from([True, 1.0, "1"])
NEEDS_PYTHON = ["\r", "]]>", "\ufffe", "\uffff"] + [chr(c) for c in range(32) if c not in (9, 10)]


def python_text_reply(to: str, frm: str, create_time: int, content: str) -> bytes:
    """``TextReply.render``'s own path (names checked by ``_head``, texts by ``cdata``)."""
    head = replies._head(to, frm, create_time, "text")
    return f"{head}<Content><![CDATA[{cdata(content)}]]></Content></xml>".encode()


def needs_python(*texts: str) -> bool:
    return any(
        any(mark in text for mark in NEEDS_PYTHON)
        or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
        for text in texts
    )


@given(to=TEXT, frm=TEXT, create_time=TIMES, content=TEXT)
@example(to="zhangsan", frm="wwcorp", create_time=0, content="hello")
@example(to="长", frm="x", create_time=10**18 - 1, content="a\tb\nc]]")
def test_text_reply_is_the_python_path_or_none(core_impl: Any, to, frm, create_time, content):
    xml = core_impl._text_reply(to, frm, create_time, content)
    plain_time = type(create_time) is int and 0 <= create_time < 10**18
    if xml is None:
        assert needs_python(to, frm, content) or not plain_time
    else:
        assert plain_time and not needs_python(to, frm, content)
        assert xml == python_text_reply(to, frm, create_time, content)


def test_text_reply_refuses_other_types(core_impl: Any):
    assert core_impl._text_reply(b"to", "from", 1, "x") is None
    assert core_impl._text_reply("to", "from", 1, None) is None
    assert core_impl._text_reply("to", "from", 2**70, "x") is None


def test_render_takes_the_one_call_path_and_falls_back():
    reply = replies.TextReply("hi")
    assert reply.render("u", "c", 7) == python_text_reply("u", "c", 7, "hi")
    escaped = replies.TextReply("a]]>b\rc")
    assert escaped.render("u", "c", 7) == python_text_reply("u", "c", 7, "a]]>b\rc")
    with pytest.raises(ValueError, match="to_user_name contains a character"):
        reply.render("u\x00", "c", 7)
    with pytest.raises(TypeError, match="create_time must be int"):
        reply.render("u", "c", "7")  # type: ignore[arg-type]


QUERY = st.text(st.sampled_from("ab=&%+é1"), max_size=16)


def first_values(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        out.setdefault(name, value)
    return out


@given(QUERY)
@example("msg_signature=abc&timestamp=1&nonce=2&timestamp=3")
@example("a=&=b&&c=d=e&")
def test_plain_query_is_the_full_parse_or_none(core_impl: Any, query_string: str):
    split = core_impl._plain_query(query_string)
    if split is None:
        assert not query_string.isascii() or "%" in query_string or "+" in query_string
    else:
        assert split == first_values(query_string) == parse_query(query_string)


def test_plain_query_takes_str_only(core_impl: Any):
    assert core_impl._plain_query(b"a=1") is None
    assert core_impl._plain_query("") == {}
