"""docs/reference.md section 2: the message types themselves (``MixedMessage``, ``Envelope``, the
``*Info`` groups), as produced by both twins' parsers.

Field-by-field parsing lives in ``test_core_contract.py``; this file covers the objects:
field set and types, immutability, equality, repr, pickling, ``to_dict`` and the public
re-exports.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re

import pytest

import wxcorp_fast
from wxcorp_fast.messages import (
    FIELDS,
    Envelope,
    MixedMessage,
    ScanCodeInfo,
    SendLocationInfo,
    SendPicsInfo,
)

from _samples import SAMPLE_MESSAGES

# docs/reference.md section 2, in its order, with the type each field must have.
API_FIELDS = {
    "to_user_name": str,
    "from_user_name": str,
    "create_time": int,
    "msg_type": str,
    "agent_id": int,
    "msg_id": int,
    "content": str,
    "media_id": str,
    "pic_url": str,
    "format": str,
    "thumb_media_id": str,
    "location_x": float,
    "location_y": float,
    "scale": int,
    "label": str,
    "title": str,
    "description": str,
    "url": str,
    "event": str,
    "event_key": str,
    "change_type": str,
    "user_id": str,
    "external_user_id": str,
    "task_id": str,
    "response_code": str,
    "scan_code_info": ScanCodeInfo,
    "send_pics_info": SendPicsInfo,
    "send_location_info": SendLocationInfo,
    "latitude": float,
    "longitude": float,
    "precision": float,
}


def test_fields_are_apis():
    assert [name for name, _, _ in FIELDS] == list(API_FIELDS)


def test_info_groups():
    assert ScanCodeInfo._fields == ("scan_type", "scan_result")
    assert SendPicsInfo._fields == ("count", "pic_list")
    assert SendLocationInfo._fields == ("location_x", "location_y", "scale", "label", "poiname")
    assert ScanCodeInfo() == ("", "")
    assert SendLocationInfo() == (0.0, 0.0, 0, "", "")
    assert Envelope._fields == ("to_user_name", "agent_id", "encrypt")


def test_public_exports():
    for cls in (Envelope, MixedMessage, ScanCodeInfo, SendPicsInfo, SendLocationInfo):
        assert getattr(wxcorp_fast, cls.__name__) is cls
        assert cls.__name__ in wxcorp_fast.__all__


@pytest.mark.parametrize("name", list(SAMPLE_MESSAGES))
def test_every_field_has_its_type(core_impl, name):
    msg = core_impl.parse_message(SAMPLE_MESSAGES[name])
    for field, kind in API_FIELDS.items():
        assert type(getattr(msg, field)) is kind, field
    info = msg.send_location_info
    assert [type(x) for x in info] == [float, float, int, str, str]
    assert type(msg.send_pics_info.count) is int and type(msg.send_pics_info.pic_list) is list
    assert all(type(x) is str for x in msg.send_pics_info.pic_list)
    assert type(msg.raw) is dict


def test_empty_message(core_impl):
    msg = core_impl.parse_message(b"<xml/>")
    for field, kind in API_FIELDS.items():
        value = getattr(msg, field)
        assert type(value) is kind
        if kind in (str, int, float):
            assert value == kind()
    assert msg.send_pics_info == SendPicsInfo(0, [])
    assert msg.raw == {}


def test_immutable(core_impl):
    msg = core_impl.parse_message(SAMPLE_MESSAGES["text"])
    with pytest.raises(AttributeError):
        msg.content = "changed"
    with pytest.raises(AttributeError):
        del msg.content
    with pytest.raises(AttributeError):
        msg.new_attribute = 1
    assert msg.content == "this is a test"
    with pytest.raises(AttributeError):
        msg.send_location_info.label = "x"


def test_pic_lists_are_not_shared(core_impl):
    a = core_impl.parse_message(b"<xml/>")
    b = core_impl.parse_message(b"<xml/>")
    a.send_pics_info.pic_list.append("x")
    assert b.send_pics_info.pic_list == []
    assert core_impl.parse_message(b"<xml/>").send_pics_info.pic_list == []


def test_equality_and_hash(core_impl):
    a = core_impl.parse_message(SAMPLE_MESSAGES["pics"])
    b = core_impl.parse_message(SAMPLE_MESSAGES["pics"].encode())
    c = core_impl.parse_message(SAMPLE_MESSAGES["text"])
    assert a == b and a != c
    assert a != "not a message" and (a == object()) is False
    with pytest.raises(TypeError):
        hash(a)
    # raw differences count too, even when typed fields agree
    x = core_impl.parse_message(b"<xml><Content>x</Content><Other>1</Other></xml>")
    y = core_impl.parse_message(b"<xml><Content>x</Content><Other>2</Other></xml>")
    assert x.to_dict() == y.to_dict() and x != y


def test_repr_shows_set_fields(core_impl):
    msg = core_impl.parse_message(SAMPLE_MESSAGES["text"])
    text = repr(msg)
    assert text.startswith("MixedMessage(") and "content='this is a test'" in text
    assert "media_id" not in text and "latitude" not in text
    assert repr(core_impl.parse_message(b"<xml/>")) == "MixedMessage()"
    assert re.search(
        r"scan_code_info=ScanCodeInfo\(scan_type='qrcode', scan_result='1'\)",
        repr(core_impl.parse_message(SAMPLE_MESSAGES["scancode"])),
    )


@pytest.mark.parametrize("name", list(SAMPLE_MESSAGES))
def test_pickle_and_copy(core_impl, name):
    msg = core_impl.parse_message(SAMPLE_MESSAGES[name])
    for clone in (pickle.loads(pickle.dumps(msg)), copy.copy(msg), copy.deepcopy(msg)):
        assert type(clone) is MixedMessage
        assert clone == msg and clone.raw == msg.raw and clone.to_dict() == msg.to_dict()


def test_to_dict_is_plain_and_fresh(core_impl):
    msg = core_impl.parse_message(SAMPLE_MESSAGES["location-select"])
    d = msg.to_dict()
    assert list(d) == list(API_FIELDS)
    for value in d.values():
        assert type(value) in (str, int, float, dict)
    for group in ("scan_code_info", "send_pics_info", "send_location_info"):
        assert type(d[group]) is dict
    assert d["send_location_info"]["scale"] == 15
    d["send_location_info"]["scale"] = 0
    assert msg.to_dict()["send_location_info"]["scale"] == 15
    assert msg.to_dict() is not d


def test_raw_is_stable(core_impl):
    msg = core_impl.parse_message(SAMPLE_MESSAGES["change-contact"])
    assert msg.raw is msg.raw  # built once
    assert msg.raw["ExtAttr"]["Item"][1]["Web"]["Title"] == "企业微信"


def test_raw_survives_the_source(core_impl):
    """A message keeps what it needs: its raw dict does not depend on the caller's buffer."""
    data = bytearray(SAMPLE_MESSAGES["template-card"].encode())
    msg = core_impl.parse_message(bytes(data))
    data[:] = b"x" * len(data)
    assert msg.raw["SelectedItems"]["SelectedItem"][0]["QuestionKey"] == "Q1"


def test_twins_build_equal_messages(core_impl):
    """Messages from either twin compare equal to the pure twin's (cross-twin equality)."""
    from wxcorp_fast import _core_py

    for doc in SAMPLE_MESSAGES.values():
        assert core_impl.parse_message(doc) == _core_py.parse_message(doc)


def test_envelope_is_a_named_tuple(core_impl):
    env = core_impl.parse_envelope(
        b"<xml><ToUserName>t</ToUserName><AgentID>5</AgentID><Encrypt>e</Encrypt></xml>"
    )
    assert (
        env == Envelope("t", 5, "e")
        and env.to_user_name == "t"
        and env.agent_id == 5
        and env.encrypt == "e"
    )
    assert env._asdict() == {"to_user_name": "t", "agent_id": 5, "encrypt": "e"}
    assert pickle.loads(pickle.dumps(env)) == env
    with pytest.raises(AttributeError):
        env.encrypt = "x"


def test_messages_are_not_dataclasses_with_mutable_defaults():
    """``SendPicsInfo`` has no default list that parsers could share."""
    assert not dataclasses.is_dataclass(SendPicsInfo)
    with pytest.raises(TypeError):
        SendPicsInfo()  # count and pic_list are required
