"""The pure twin's regex path for flat documents gives exactly what its expat path gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wxcorp_fast import _core_py
from wxcorp_fast.errors import XMLParseError

names = st.sampled_from(["ToUserName", "Content", "MsgId", "a", "_x", "Encrypt"])
values = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\t", "\n", "\r", "]", "&", "<", ">", "\x7f", "\ufffe", "企", "😀"]),
    ),
    max_size=40,
)
cdata = st.booleans()
gaps = st.sampled_from(["", "\n", " \t", "\r\n"])


@given(st.lists(st.tuples(names, values, cdata, gaps), max_size=8), gaps)
def test_flat_path_agrees_with_expat(elements, tail):
    body = "".join(
        f"{gap}<{name}>{'<![CDATA[' + value + ']]>' if in_cdata else value}</{name}>"
        for name, value, in_cdata, gap in elements
    )
    data = f"<xml>{body}{tail}</xml>".encode("utf-8", "surrogatepass")
    flat = _core_py._parse_flat(data)
    if flat is None:
        return
    try:
        expected = _core_py._parse_expat(data)
    except XMLParseError as exc:  # the flat path must never accept what expat refuses
        raise AssertionError(f"flat path accepted a document expat refuses: {exc}") from None
    assert flat == expected


def test_real_messages_take_the_flat_path():
    from wxcorp_fast.testing import vectors as v

    assert _core_py._parse_flat(v.POST_BODY) == _core_py._parse_expat(v.POST_BODY)
    message = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
        "<Content><![CDATA[你好 😀 a&b <tag>]]></Content>\n<MsgId>1</MsgId></xml>"
    ).encode()
    assert _core_py._parse_flat(message) == {
        "ToUserName": "wx5823bf96d3bd56c7",
        "Content": "你好 😀 a&b <tag>",
        "MsgId": "1",
    }


def test_documents_outside_the_flat_subset_fall_back():
    for data in (
        b"<xml><a>x\r\ny</a></xml>",  # CR: expat normalises it
        b"<xml><a>&amp;</a></xml>",  # references
        b"<xml><a><b/></a></xml>",  # nesting
        b"<?xml version='1.0'?><xml/>",
        b"<xml><a>]</a></xml>",
    ):
        assert _core_py._parse_flat(data) is None
        _core_py._parse_tree(data)  # still parsed, by expat
