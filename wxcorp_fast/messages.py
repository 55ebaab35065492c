"""Parsed callback documents: the POST envelope and the decrypted message (docs/reference.md section 2).

The parsers themselves live in the crypto twins (``parse_envelope``, ``parse_message``);
this module holds the result types and the table that maps WeChat's XML tags to typed
fields. Both twins read ``FIELDS`` so the mapping exists once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

__all__ = [
    "Envelope",
    "MixedMessage",
    "ScanCodeInfo",
    "SendPicsInfo",
    "SendLocationInfo",
    "FIELDS",
]

# Kinds of typed field: text, integer, float, and the three nested groups.
STR: Final = 0
INT: Final = 1
FLOAT: Final = 2
SCAN_INFO: Final = 3
PICS_INFO: Final = 4
LOCATION_INFO: Final = 5


class Envelope(NamedTuple):
    """The POST body of a callback: ``<xml><ToUserName/><AgentID/><Encrypt/></xml>``."""

    to_user_name: str
    agent_id: int
    encrypt: str


class ScanCodeInfo(NamedTuple):
    """``ScanCodeInfo`` of the scancode_push / scancode_waitmsg events."""

    scan_type: str = ""
    scan_result: str = ""


class SendPicsInfo(NamedTuple):
    """``SendPicsInfo`` of the pic_* events; ``pic_list`` holds the PicMd5Sum values."""

    count: int  # type: ignore[assignment]  # the documented field name; shadows tuple.count
    pic_list: list[str]


class SendLocationInfo(NamedTuple):
    """``SendLocationInfo`` of the location_select event."""

    location_x: float = 0.0
    location_y: float = 0.0
    scale: int = 0
    label: str = ""
    poiname: str = ""


# (attribute, XML tag, kind) of every typed field, in MixedMessage order.
FIELDS: Final[tuple[tuple[str, str, int], ...]] = (
    ("to_user_name", "ToUserName", STR),
    ("from_user_name", "FromUserName", STR),
    ("create_time", "CreateTime", INT),
    ("msg_type", "MsgType", STR),
    ("agent_id", "AgentID", INT),
    ("msg_id", "MsgId", INT),
    ("content", "Content", STR),
    ("media_id", "MediaId", STR),
    ("pic_url", "PicUrl", STR),
    ("format", "Format", STR),
    ("thumb_media_id", "ThumbMediaId", STR),
    ("location_x", "Location_X", FLOAT),
    ("location_y", "Location_Y", FLOAT),
    ("scale", "Scale", INT),
    ("label", "Label", STR),
    ("title", "Title", STR),
    ("description", "Description", STR),
    ("url", "Url", STR),
    ("event", "Event", STR),
    ("event_key", "EventKey", STR),
    ("change_type", "ChangeType", STR),
    ("user_id", "UserID", STR),
    ("external_user_id", "ExternalUserID", STR),
    ("task_id", "TaskId", STR),
    ("response_code", "ResponseCode", STR),
    ("scan_code_info", "ScanCodeInfo", SCAN_INFO),
    ("send_pics_info", "SendPicsInfo", PICS_INFO),
    ("send_location_info", "SendLocationInfo", LOCATION_INFO),
    ("latitude", "Latitude", FLOAT),
    ("longitude", "Longitude", FLOAT),
    ("precision", "Precision", FLOAT),
)

# (attribute, XML tag, kind) inside the nested groups.
SCAN_INFO_FIELDS: Final = (("scan_type", "ScanType", STR), ("scan_result", "ScanResult", STR))
PICS_INFO_FIELDS: Final = (("count", "Count", INT),)  # plus PicList > item > PicMd5Sum
LOCATION_INFO_FIELDS: Final = (
    ("location_x", "Location_X", FLOAT),
    ("location_y", "Location_Y", FLOAT),
    ("scale", "Scale", INT),
    ("label", "Label", STR),
    ("poiname", "Poiname", STR),
)

EMPTY_SCAN_INFO: Final = ScanCodeInfo()
EMPTY_LOCATION_INFO: Final = SendLocationInfo()

# An absent SendPicsInfo is stored as None and read as a fresh SendPicsInfo(0, []):
# it holds a list, so no two messages may share one.
_EMPTY: Final[dict[int, Any]] = {
    STR: "",
    INT: 0,
    FLOAT: 0.0,
    SCAN_INFO: EMPTY_SCAN_INFO,
    PICS_INFO: None,
    LOCATION_INFO: EMPTY_LOCATION_INFO,
}

#: The stored values of a message with no fields at all, in FIELDS order.
EMPTY_VALUES: Final[tuple[Any, ...]] = tuple(_EMPTY[kind] for _, _, kind in FIELDS)

#: XML tag -> (index in FIELDS, kind).
TAG_INDEX: Final[dict[str, tuple[int, int]]] = {
    tag: (i, kind) for i, (_, tag, kind) in enumerate(FIELDS)
}


class MixedMessage:
    """Every field WeChat pushes in a message or event, typed, plus the whole document.

    Absent fields hold the empty value of their type. ``raw`` is the document under
    ``<xml>``: text elements map to their text, elements with children to dicts and
    repeated elements to lists. Instances are immutable; build them with
    ``parse_message``. The compiled core fills the typed fields straight from the
    scan and builds ``raw`` from the kept XML on first access.
    """

    __slots__ = ("_raw", "_values", "_source")

    _raw: dict[str, Any] | None
    _values: tuple[Any, ...]
    _source: bytes | None
    # Typed fields, generated below from FIELDS.
    to_user_name: str
    from_user_name: str
    create_time: int
    msg_type: str
    agent_id: int
    msg_id: int
    content: str
    media_id: str
    pic_url: str
    format: str
    thumb_media_id: str
    location_x: float
    location_y: float
    scale: int
    label: str
    title: str
    description: str
    url: str
    event: str
    event_key: str
    change_type: str
    user_id: str
    external_user_id: str
    task_id: str
    response_code: str
    scan_code_info: ScanCodeInfo
    send_pics_info: SendPicsInfo
    send_location_info: SendLocationInfo
    latitude: float
    longitude: float
    precision: float

    def __init__(self, raw: dict[str, Any], values: tuple[Any, ...]) -> None:
        if len(values) != len(FIELDS):
            raise ValueError(f"MixedMessage needs {len(FIELDS)} values")
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_source", None)

    @property
    def raw(self) -> dict[str, Any]:
        """The whole document under the root element, as dicts, lists and strings."""
        raw = self._raw
        if raw is None:
            assert self._source is not None  # a message without raw keeps its source
            assert _tree_parser is not None  # set when the core is selected
            raw = _tree_parser(self._source)
            object.__setattr__(self, "_raw", raw)
        return raw

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MixedMessage is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("MixedMessage is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MixedMessage):
            return NotImplemented
        return self._values == other._values and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for (name, _, kind), value in zip(FIELDS, self._values)
            if value != _EMPTY[kind]
        )
        return f"MixedMessage({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MixedMessage, (self.raw, self._values))

    def to_dict(self) -> dict[str, Any]:
        """Return the typed fields as plain dicts, lists and scalars."""
        out: dict[str, Any] = {}
        for name, _, kind in FIELDS:
            value = getattr(self, name)
            if kind == PICS_INFO:
                out[name] = {"count": value.count, "pic_list": list(value.pic_list)}
            elif kind in (SCAN_INFO, LOCATION_INFO):
                out[name] = value._asdict()
            else:
                out[name] = value
        return out


#: The raw-tree parser of the selected core (``_core`` sets it at import), for the compiled
#: core's messages, which parse their raw tree only when ``.raw`` is first read.
_tree_parser: Callable[[bytes], dict[str, Any]] | None = None


def use_tree_parser(parse_tree: Callable[[bytes], dict[str, Any]]) -> None:
    """Make ``parse_tree`` the parser of ``MixedMessage.raw`` for messages parsed lazily."""
    global _tree_parser
    _tree_parser = parse_tree


def _field_getter(index: int) -> property:
    return property(lambda self: self._values[index])


def _pics_getter(index: int) -> property:
    def get(self: MixedMessage) -> SendPicsInfo:
        value = self._values[index]
        return SendPicsInfo(0, []) if value is None else value

    return property(get)


for _i, (_name, _tag, _kind) in enumerate(FIELDS):
    setattr(MixedMessage, _name, (_pics_getter if _kind == PICS_INFO else _field_getter)(_i))
del _i, _name, _tag, _kind
