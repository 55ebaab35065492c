"""Text that mixes scripts: CJK among ASCII words, digits and punctuation, with emoji.

The compiled core scans such text 16 bytes a step: at the first non-ASCII byte of character
data it checks the rest of the document for Chars in one pass (the exact rules of UTF-8 and
XML 1.0, each byte checked against the three before it), then copies character data without
looking at its non-ASCII bytes; typed str fields are decoded 16 bytes a step, for each kind
of str (ASCII, Latin-1, UCS-2, UCS-4). These tests put every kind of UTF-8 sequence, valid
and not, at every position of a 16-byte step, in CDATA, in text and in markup, and demand of
both twins what the pure twin (the specification) gives: the same message, or the same error.
"""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _samples import outcome

needs_both = pytest.mark.compiled


@pytest.fixture(scope="session")
def twins():
    """Return ``(compiled, pure)``; an unimportable compiled core errors the test."""
    return importlib.import_module("wxcorp_fast._core_c"), importlib.import_module(
        "wxcorp_fast._core_py"
    )


def same(twins, name, *args):
    """Assert both twins give the same outcome for ``name(*args)``; return it."""
    compiled, pure = (getattr(m, name) for m in twins)
    expected = outcome(pure, *args)
    got = outcome(compiled, *args)
    assert got == expected, f"{name}({args!r}): compiled={got!r} python={expected!r}"
    return expected


# --------------------------------------------------------------------------- text


def _chars(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(chr)


WORDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12
)
NUMBERS = st.integers(0, 10**9).map(str)
ASCII_PUNCTUATION = st.sampled_from(list(",.!?:;()-/@#%+='\" ") + ["\t", "\n", "\r", "\r\n"])
CJK = st.lists(_chars(0x4E00, 0x9FFF), min_size=1, max_size=6).map("".join)
CJK_PUNCTUATION = st.sampled_from(list("，。！？、：；“”（）《》【】…￥"))
# one character of each UTF-8 lead byte class, at the edges of what is a Char
OTHER = st.one_of(
    _chars(0x80, 0x7FF),  # 2 bytes: C2..DF
    _chars(0x800, 0xFFF),  # E0 (its second byte from A0)
    _chars(0xD000, 0xD7FF),  # ED (its second byte up to 9F): Hangul
    _chars(0xE000, 0xFFFD),  # EE, EF: private use, full-width forms, up to U+FFFD
    _chars(0x10000, 0x3FFFF),  # F0 (its second byte from 90): emoji, CJK extension B
    _chars(0x40000, 0xFFFFF),  # F1..F3
    _chars(0x100000, 0x10FFFF),  # F4 (its second byte up to 8F)
    st.sampled_from(["😀", "👍", "👨\u200d👩\u200d👧", "\u00e9", "\u00a0", "\x85", "\u2028"]),
)
MARKUP = st.sampled_from(["<", ">", "&", "]", "]]", "]]>", "&amp;", "<![CDATA["])


@st.composite
def mixed_texts(draw, max_tokens: int = 120) -> str:
    """Chat-like text: mostly ASCII words and CJK runs, some of everything else."""
    weights = draw(st.sampled_from(["ascii", "cjk", "even", "other"]))
    pick = {
        "ascii": st.one_of(WORDS, WORDS, NUMBERS, ASCII_PUNCTUATION, CJK, OTHER, MARKUP),
        "cjk": st.one_of(CJK, CJK, CJK, CJK_PUNCTUATION, WORDS, NUMBERS, OTHER, MARKUP),
        "even": st.one_of(WORDS, CJK, NUMBERS, ASCII_PUNCTUATION, CJK_PUNCTUATION, MARKUP),
        "other": st.one_of(OTHER, OTHER, WORDS, CJK, ASCII_PUNCTUATION, MARKUP),
    }[weights]
    return "".join(draw(st.lists(pick, max_size=max_tokens)))


def as_cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def as_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def message(content: str, title: str = "", extra: str = "") -> str:
    return (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        f"<MsgType>text</MsgType><Content>{content}</Content><Title>{title}</Title>"
        f"{extra}<MsgId>1234567890123456</MsgId></xml>"
    )


# ------------------------------------------------------------------ round trips (each twin)


@given(text=mixed_texts(), cdata=st.booleans())
def test_mixed_text_round_trip(core_impl, text, cdata):
    content = as_cdata(text) if cdata else as_escaped(text)
    doc = message(content, as_escaped(text), f"<Other>{content}</Other>")
    for data in (doc, doc.encode()):
        msg = core_impl.parse_message(data)
        assert msg.content == msg.title == normalised(text)
        assert msg.raw["Other"] == normalised(text)
        assert msg.msg_id == 1234567890123456


@given(unit=mixed_texts(max_tokens=12), count=st.integers(1, 400), cdata=st.booleans())
def test_long_mixed_text_round_trip(core_impl, unit, count, cdata):
    text = unit * count
    content = as_cdata(text) if cdata else as_escaped(text)
    msg = core_impl.parse_message(message(content).encode())
    assert msg.content == normalised(text)


@pytest.mark.parametrize(
    "alphabet",
    [
        "ab",  # ASCII
        "a\u00e9",  # Latin-1
        "a\u00e9\u4e2d",  # UCS-2 with 2-byte sequences
        "a\u4e2d\uff0c",  # UCS-2, CJK and full-width punctuation
        "\u4e2d",  # UCS-2, CJK only
        "a\u00e9\u4e2d\U0001f600",  # UCS-4
        "\U0001f600\U0010fffd",  # UCS-4, astral only
    ],
)
@given(data=st.data())
def test_typed_str_of_every_kind_and_length(core_impl, alphabet, data):
    """Every length from 0 to 200 characters, around the decoder's 16-byte steps."""
    text = data.draw(st.text(alphabet=alphabet, max_size=200))
    msg = core_impl.parse_message(message(as_cdata(text)).encode())
    assert msg.content == text
    assert max(map(ord, msg.content), default=0) == max(map(ord, text), default=0)


@pytest.mark.parametrize(
    "unit", ["\u00e9", "\u4e2d", "\U0001f600", "a\U0001f600", "\u00e9\u4e2d\U0001f600"]
)
@pytest.mark.parametrize("count", [1000, 3000])
def test_long_runs_of_one_sequence_length(core_impl, unit, count):
    """Over 4 KB where the same byte of every 16 is a continuation byte."""
    text = unit * count
    for content in (as_cdata(text), text):
        assert core_impl.parse_message(message(content).encode()).content == text


# --------------------------------------------------------------------------- differential

# UTF-8 sequences at the edges of the rules, valid and not
SEQUENCES = [
    b"a",
    b"\t",
    b"\n",
    b"\r",
    b"\r\n",
    b"\xc2\x80",  # U+0080
    b"\xdf\xbf",  # U+07FF
    b"\xe0\xa0\x80",  # U+0800
    b"\xe4\xb8\xad",  # U+4E2D
    b"\xed\x9f\xbf",  # U+D7FF
    b"\xee\x80\x80",  # U+E000
    b"\xef\xbf\xbd",  # U+FFFD
    b"\xef\xbb\xbf",  # U+FEFF
    b"\xf0\x90\x80\x80",  # U+10000
    b"\xf0\x9f\x98\x80",  # U+1F600
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
    # not Chars
    b"\x00",
    b"\x01",
    b"\x0b",
    b"\x1f",
    b"\x80",  # a stray continuation byte
    b"\xbf",
    b"\xc0\x80",  # overlong
    b"\xc1\xbf",
    b"\xc2",  # truncated
    b"\xc2a",
    b"\xe0\x80\x80",  # overlong
    b"\xe0\x9f\xbf",
    b"\xe4\xb8",  # truncated
    b"\xe4a\xad",
    b"\xe4\xb8\xad\xad",  # one continuation byte too many
    b"\xed\xa0\x80",  # surrogates
    b"\xed\xbf\xbf",
    b"\xef\xbf\xbe",  # U+FFFE
    b"\xef\xbf\xbf",  # U+FFFF
    b"\xf0\x80\x80\x80",  # overlong
    b"\xf0\x8f\xbf\xbf",
    b"\xf0\x9f\x98",  # truncated
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfe",
    b"\xff",
    # markup
    b"]]>",
    b"]]",
    b"<",
    b"&",
    b"&#x4e2d;",
    b"&#xD800;",
]
PREFIX = "中文abc，123 混合text😀 test".encode() * 3  # 87 bytes, non-ASCII from its start
SUFFIX = " 后面还有 more text 和文字。".encode() * 2


def _places(seq: bytes) -> list[bytes]:
    """Documents with seq at every offset of a 16-byte step, in CDATA, text and markup."""
    docs = []
    for cut in range(48):
        before = PREFIX[:cut]
        for open_, close in ((b"<![CDATA[", b"]]>"), (b"", b"")):
            content = open_ + before + seq + SUFFIX + close
            docs.append(b"<xml><MsgType>text</MsgType><Content>" + content + b"</Content></xml>")
            # the sequence at the end of the character data, and at the end of the document
            docs.append(b"<xml><Content>" + open_ + before + seq + close + b"</Content></xml>")
            docs.append(b"<xml><Content>" + open_ + before + seq)
        # after non-ASCII character data, in markup: an attribute value, a comment, a PI
        docs.append(b"<xml><Content>" + PREFIX + b"</Content><A b='" + before + seq + b"'/></xml>")
        docs.append(b"<xml><Content>" + PREFIX + b"</Content><!--" + before + seq + b"--></xml>")
        docs.append(b"<xml><Content>" + PREFIX + b"</Content><?pi " + before + seq + b"?></xml>")
    return docs


@needs_both
@pytest.mark.parametrize("seq", SEQUENCES, ids=lambda s: s.hex() or "empty")
def test_sequences_at_every_offset_differential(twins, seq):
    for doc in _places(seq):
        same(twins, "parse_message", doc)


@needs_both
@pytest.mark.parametrize("seq", SEQUENCES, ids=lambda s: s.hex() or "empty")
def test_sequences_after_long_mixed_text_differential(twins, seq):
    """Far into a 16 KB body: the scan has long settled on whether the rest is all Chars."""
    body = "混合 mixed 文本 text，数字 12345 和 emoji 😀！".encode() * 300
    for cut in (0, 1, 2, 3, 15, 16, 17, 8191, 8192, 8193):
        doc = b"<xml><Content><![CDATA[" + body[:cut] + seq + body + b"]]></Content></xml>"
        same(twins, "parse_message", doc)
        same(twins, "parse_message", doc.replace(b"]]></Content>", b"]]><X/></Content>"))


@needs_both
@given(text=mixed_texts(), cdata=st.booleans(), nested=st.booleans())
def test_mixed_documents_differential(twins, text, cdata, nested):
    content = as_cdata(text) if cdata else as_escaped(text)
    extra = f"<ScanCodeInfo><ScanType>{content}</ScanType></ScanCodeInfo>" if nested else ""
    doc = message(content, as_escaped(text), extra)
    same(twins, "parse_message", doc)
    same(twins, "parse_message", doc.encode())
    same(twins, "parse_envelope", doc.replace("</xml>", f"<Encrypt>{content}</Encrypt></xml>"))


@needs_both
@given(
    text=mixed_texts(),
    cdata=st.booleans(),
    seq=st.sampled_from(SEQUENCES),
    at=st.floats(0, 1),
    replace=st.booleans(),
)
def test_corrupted_mixed_documents_differential(twins, text, cdata, seq, at, replace):
    """One sequence put anywhere in a mixed document: in text, CDATA, tags or the prolog."""
    content = as_cdata(text) if cdata else as_escaped(text)
    doc = message(content, as_escaped(text)).encode()
    i = int(at * len(doc))
    doc = doc[:i] + seq + doc[i + len(seq) if replace else i :]
    same(twins, "parse_message", doc)
    same(twins, "parse_envelope", doc)


@needs_both
@given(data=st.data())
def test_mixed_bytes_differential(twins, data):
    """Byte soup of UTF-8 pieces, valid and not, as a long CDATA section and as text."""
    pieces = data.draw(
        st.lists(st.one_of(st.sampled_from(SEQUENCES), mixed_texts(8).map(str.encode)), max_size=60)
    )
    soup = b"".join(pieces)
    same(twins, "parse_message", b"<xml><Content><![CDATA[" + soup + b"]]></Content></xml>")
    same(twins, "parse_message", b"<xml><Content>" + soup + b"</Content></xml>")
