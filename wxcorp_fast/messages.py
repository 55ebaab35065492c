"""Parsed callback documents: the POST envelope and the decrypted message.

The parsers themselves live in the crypto twins (``parse_envelope``, ``parse_message``,
``parse_aibot_message``); this module holds the result types and the tables that map
WeChat's XML tags and AI-bot JSON paths to typed fields. Both twins read ``FIELDS`` and
``AIBOT_FIELDS`` so each mapping exists once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from ._spec import MSG_JSON_FIELD
from .errors import JSONParseError

__all__ = [
    "Envelope",
    "MixedMessage",
    "ScanCodeInfo",
    "SendPicsInfo",
    "SendLocationInfo",
    "FIELDS",
    "AIBotMessage",
    "AIBotItem",
    "SelectedItem",
    "AIBOT_FIELDS",
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


# --------------------------------------------------------------------------- AI bots
#
# The decrypted JSON of an AI-bot (智能机器人) callback: messages (接收消息: text, image,
# mixed, voice, file, and the stream refresh) and events (接收事件: enter_chat,
# template_card_event, feedback_event). Typed fields are read at fixed key paths; a path
# that is absent (or null) gives the field's empty value, a value of another JSON type is
# a JSONParseError naming the path. The compiled twin reads the plain kinds straight from
# its scan and leaves ``raw`` to be parsed on first access; both twins convert anything
# else (and every error) with ``aibot_values`` below.

# Kinds of AI-bot fields beyond STR and INT: lists, read from the parsed document.
AI_ITEMS: Final = 10
AI_SELECTED: Final = 11
AI_INTS: Final = 12


class AIBotItem(NamedTuple):
    """One item of a mixed (图文混排) message: its msgtype, text content or image url."""

    msgtype: str = ""
    content: str = ""
    image_url: str = ""


class SelectedItem(NamedTuple):
    """One answer of a template card event: the question key and the chosen option ids."""

    question_key: str = ""
    option_ids: tuple[str, ...] = ()


# (attribute, JSON key path, kind) of every typed field, in AIBotMessage order.
AIBOT_FIELDS: Final[tuple[tuple[str, tuple[str, ...], int], ...]] = (
    ("msgid", ("msgid",), STR),
    ("aibotid", ("aibotid",), STR),
    ("chatid", ("chatid",), STR),
    ("chattype", ("chattype",), STR),
    ("from_userid", ("from", "userid"), STR),
    ("from_corpid", ("from", "corpid"), STR),
    ("response_url", ("response_url",), STR),
    ("msgtype", ("msgtype",), STR),
    ("create_time", ("create_time",), INT),
    ("content", ("text", "content"), STR),
    ("image_url", ("image", "url"), STR),
    ("items", ("mixed", "msg_item"), AI_ITEMS),
    ("voice_content", ("voice", "content"), STR),
    ("file_url", ("file", "url"), STR),
    ("stream_id", ("stream", "id"), STR),
    ("event_type", ("event", "eventtype"), STR),
    ("card_type", ("event", "template_card_event", "card_type"), STR),
    ("event_key", ("event", "template_card_event", "event_key"), STR),
    ("task_id", ("event", "template_card_event", "task_id"), STR),
    ("selected_items", ("event", "template_card_event", "selected_items"), AI_SELECTED),
    ("feedback_id", ("event", "feedback_event", "id"), STR),
    ("feedback_type", ("event", "feedback_event", "type"), INT),
    ("feedback_content", ("event", "feedback_event", "content"), STR),
    ("inaccurate_reasons", ("event", "feedback_event", "inaccurate_reason_list"), AI_INTS),
)

_AI_EMPTY: Final[dict[int, Any]] = {STR: "", INT: 0, AI_ITEMS: (), AI_SELECTED: (), AI_INTS: ()}

#: The stored values of an AI-bot message with no fields at all, in AIBOT_FIELDS order.
AIBOT_EMPTY_VALUES: Final[tuple[Any, ...]] = tuple(_AI_EMPTY[k] for _, _, k in AIBOT_FIELDS)

_RESPONSE_CODE: Final = re.compile(r"(response_code=)[^&#]*")


def _wrong(path: tuple[str, ...]) -> JSONParseError:
    return JSONParseError(MSG_JSON_FIELD.format(".".join(path)))


def _lookup(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` (None when absent or null); a non-object on the way is an error."""
    node: Any = raw
    for i, key in enumerate(path):
        if type(node) is not dict:
            raise _wrong(path[:i])
        node = node.get(key)
        if node is None:
            return None
    return node


def _text_of(node: Any, key: str, path: tuple[str, ...]) -> str:
    """``node[key]`` as str ("" when absent or null), node being an object."""
    value = node.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise _wrong(path)
    return value


def _items(value: Any, path: tuple[str, ...]) -> tuple[AIBotItem, ...]:
    if type(value) is not list:
        raise _wrong(path)
    items = []
    for item in value:
        if type(item) is not dict:
            raise _wrong(path)
        text = item.get("text")
        image = item.get("image")
        if (text is not None and type(text) is not dict) or (
            image is not None and type(image) is not dict
        ):
            raise _wrong(path)
        items.append(
            AIBotItem(
                _text_of(item, "msgtype", path),
                "" if text is None else _text_of(text, "content", path),
                "" if image is None else _text_of(image, "url", path),
            )
        )
    return tuple(items)


def _selected(value: Any, path: tuple[str, ...]) -> tuple[SelectedItem, ...]:
    if type(value) is not dict:
        raise _wrong(path)
    entries = value.get("selected_item")
    if entries is None:
        return ()
    if type(entries) is not list:
        raise _wrong(path)
    out = []
    for entry in entries:
        if type(entry) is not dict:
            raise _wrong(path)
        ids: Any = entry.get("option_ids")
        if ids is not None:
            if type(ids) is not dict:
                raise _wrong(path)
            ids = ids.get("option_id")
        if ids is None:
            ids = []
        if type(ids) is not list or any(type(i) is not str for i in ids):
            raise _wrong(path)
        out.append(SelectedItem(_text_of(entry, "question_key", path), tuple(ids)))
    return tuple(out)


def aibot_values(raw: dict[str, Any]) -> tuple[Any, ...]:
    """Return the typed values of a parsed AI-bot document, in AIBOT_FIELDS order.

    Raises:
        JSONParseError (-40002): the first field (in AIBOT_FIELDS order) whose value, or a
            value on the way to it, has the wrong JSON type.
    """
    values = list(AIBOT_EMPTY_VALUES)
    for i, (_, path, kind) in enumerate(AIBOT_FIELDS):
        value = _lookup(raw, path)
        if value is None:
            continue
        if kind == STR:
            if type(value) is not str:
                raise _wrong(path)
        elif kind == INT:
            if type(value) is not int:
                raise _wrong(path)
        elif kind == AI_ITEMS:
            value = _items(value, path)
        elif kind == AI_SELECTED:
            value = _selected(value, path)
        else:
            if type(value) is not list or any(type(v) is not int for v in value):
                raise _wrong(path)
            value = tuple(value)
        values[i] = value
    return tuple(values)


class AIBotMessage:
    """A decrypted AI-bot callback (message, stream refresh or event), typed, plus ``raw``.

    Absent fields hold the empty value of their type (``""``, ``0``, ``()``). ``raw`` is
    the whole JSON document as a dict. Instances are immutable; build them with
    ``parse_aibot_message``. The compiled core fills the typed fields straight from its
    scan and parses ``raw`` from the kept JSON on first access.
    """

    __slots__ = ("_raw", "_values", "_source")

    _raw: dict[str, Any] | None
    _values: tuple[Any, ...]
    _source: bytes | None
    # Typed fields, generated below from AIBOT_FIELDS.
    msgid: str
    aibotid: str
    chatid: str
    chattype: str
    from_userid: str
    from_corpid: str
    response_url: str
    msgtype: str
    create_time: int
    content: str
    image_url: str
    items: tuple[AIBotItem, ...]
    voice_content: str
    file_url: str
    stream_id: str
    event_type: str
    card_type: str
    event_key: str
    task_id: str
    selected_items: tuple[SelectedItem, ...]
    feedback_id: str
    feedback_type: int
    feedback_content: str
    inaccurate_reasons: tuple[int, ...]

    def __init__(self, raw: dict[str, Any], values: tuple[Any, ...]) -> None:
        if len(values) != len(AIBOT_FIELDS):
            raise ValueError(f"AIBotMessage needs {len(AIBOT_FIELDS)} values")
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_source", None)

    @property
    def raw(self) -> dict[str, Any]:
        """The whole JSON document."""
        raw = self._raw
        if raw is None:
            assert self._source is not None  # a message without raw keeps its source
            raw = json.loads(self._source)  # the scan proved it parses
            object.__setattr__(self, "_raw", raw)
        return raw

    @property
    def is_event(self) -> bool:
        """Whether this is an event (msgtype ``event``)."""
        return self.msgtype == "event"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("AIBotMessage is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("AIBotMessage is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AIBotMessage):
            return NotImplemented
        return self._values == other._values and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = []
        for (name, _, kind), value in zip(AIBOT_FIELDS, self._values):
            if value != _AI_EMPTY[kind]:
                if name == "response_url":  # its response_code is a one-hour credential
                    value = _RESPONSE_CODE.sub(r"\1***", value)
                shown.append(f"{name}={value!r}")
        return f"AIBotMessage({', '.join(shown)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (AIBotMessage, (self.raw, self._values))

    def to_dict(self) -> dict[str, Any]:
        """Return the typed fields as plain dicts, lists and scalars."""
        out: dict[str, Any] = {}
        for (name, _, kind), value in zip(AIBOT_FIELDS, self._values):
            if kind == AI_ITEMS or kind == AI_SELECTED:
                out[name] = [v._asdict() for v in value]
                if kind == AI_SELECTED:
                    for entry in out[name]:
                        entry["option_ids"] = list(entry["option_ids"])
            elif kind == AI_INTS:
                out[name] = list(value)
            else:
                out[name] = value
        return out


def aibot_message(raw: dict[str, Any]) -> AIBotMessage:
    """Build the message of a parsed AI-bot document (``aibot_values`` raises its errors)."""
    return AIBotMessage(raw, aibot_values(raw))


for _i, (_name, _path, _kind) in enumerate(AIBOT_FIELDS):
    setattr(AIBotMessage, _name, _field_getter(_i))
del _i, _name, _path, _kind
