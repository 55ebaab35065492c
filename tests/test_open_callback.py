"""The callback server's one-call POST path, ``_open_callback`` of both twins, against the
checks one by one (``wxcorp_fast.callback.checks``).

``serve``'s ``_admit`` first asks the core to verify and open a POST callback at once; when
that says no (``None``), it runs each check in turn to raise the error that names what is
wrong. So the fast path must accept exactly what every check accepts, with the same message,
and never more: each test here runs ``_admit`` twice on the same input, once with the twin's
``_open_callback`` and once with it switched off, and wants the same answer (the verified
``Request`` field by field, or the same rejected error and message).
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxcorp_fast import _core_py
from wxcorp_fast.callback import serve
from wxcorp_fast.callback.agent import AgentSettings
from wxcorp_fast.callback.request import Request, Response

from _samples import SAMPLE_MESSAGES, canonical

TOKEN = "OpenCallbackToken"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CORP = "wwOpenCallbackCorp"
AGENT = 1000002
NONCE = "1372623149"


def _handler(request: Request) -> None:
    raise AssertionError("never called by _admit")


def agent(corp_id: str = CORP, agent_id: int = AGENT, *, current: bytes = KEY, last: bytes = KEY):
    return AgentSettings(corp_id, agent_id, TOKEN, current, last, _handler)


def inner_xml(to: str = CORP, agent_id: int | str = AGENT, msg_type: str = "text", tail: str = ""):
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[zhangsan]]>"
        f"</FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[{msg_type}]]>"
        f"</MsgType>{tail}<AgentID>{agent_id}</AgentID></xml>"
    ).encode()


def callback(
    xml: bytes,
    *,
    env_to: str | None = CORP,
    env_agent: str | None = str(AGENT),
    frame_corp: str = CORP,
    key: bytes = KEY,
    token: str = TOKEN,
    timestamp: str | None = None,
    nonce: str = NONCE,
) -> tuple[dict[str, str], bytes]:
    """A sealed POST callback: (query, body), each part chosen."""
    ts = str(int(time.time())) if timestamp is None else timestamp
    encrypt = _core_py.encrypt_msg(xml, frame_corp, key)
    sig = _core_py.msg_signature(token, ts, nonce, encrypt)
    parts = ["<xml>"]
    if env_to is not None:
        parts.append(f"<ToUserName><![CDATA[{env_to}]]></ToUserName>")
    parts.append(f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>")
    if env_agent is not None:
        parts.append(f"<AgentID><![CDATA[{env_agent}]]></AgentID>")
    parts.append("</xml>")
    return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}, "".join(parts).encode()


def _rejected(http_request: Any, error: Exception) -> Response:
    return Response(400, [], f"{type(error).__name__}: {error}".encode())


def admit(fast: Any, query: Any, body: Any, settings_: AgentSettings) -> Any:
    """``_admit`` with ``fast`` as the core's one-call path, as a comparable value."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serve, "_open_callback", fast)
        result = serve._admit("POST", query, body, settings_, _rejected, None, 300)
    if isinstance(result, Request):
        fields = {name: getattr(result, name) for name in Request.__dataclass_fields__}
        fields["msg"] = canonical(fields["msg"])
        return ("request", fields)
    return ("response", result.status, result.body)


def _off(*args: Any) -> None:
    return None


def check_same(core_impl: Any, query: Any, body: Any, settings_: AgentSettings) -> Any:
    """Assert the fast path changes nothing; return the answer."""
    slow = admit(_off, query, body, settings_)
    assert admit(core_impl._open_callback, query, body, settings_) == slow
    return slow


def opens(core_impl: Any, query: Any, body: Any, settings_: AgentSettings) -> bool:
    return (
        core_impl._open_callback(
            query,
            body,
            settings_.token,
            settings_.current_aes_key,
            settings_.corp_id,
            settings_.agent_id,
        )
        is not None
    )


@pytest.mark.parametrize("name", sorted(SAMPLE_MESSAGES))
@pytest.mark.parametrize("corp_id", [CORP, ""], ids=["corp", "no-corp"])
def test_every_sample_message_takes_the_fast_path(core_impl, name, corp_id):
    doc = SAMPLE_MESSAGES[name]
    xml = doc.encode() if isinstance(doc, str) else doc
    to = core_impl.parse_message(xml).to_user_name
    agent_id = core_impl.parse_message(xml).agent_id
    query, body = callback(xml, env_to=to, env_agent=str(agent_id), frame_corp=to)
    settings_ = agent(to if corp_id else "", agent_id)
    answer = check_same(core_impl, query, body, settings_)
    # a message without ToUserName cannot match its frame: the server refuses an empty corp id
    assert answer[0] == ("request" if to else "response"), answer
    assert opens(core_impl, query, body, settings_) == bool(to)


def test_the_fast_path_gives_the_request_fields(core_impl):
    xml = inner_xml(tail="<Content><![CDATA[hi]]></Content><MsgId>7</MsgId>")
    query, body = callback(xml)
    opened = core_impl._open_callback(query, body, TOKEN, KEY, CORP, AGENT)
    assert opened is not None
    sig, ts, nonce, got_xml, msg, random, corp, agent_id = opened
    assert (sig, ts, nonce, got_xml) == (
        query["msg_signature"],
        int(query["timestamp"]),
        NONCE,
        xml,
    )
    assert (msg.content, msg.msg_id, corp, agent_id) == ("hi", 7, CORP, AGENT)
    assert type(random) is bytes and len(random) == 16


BIG = "<Content><![CDATA[" + "长" * 3000 + "]]></Content>"  # Encrypt over 2048 bytes

SUBSCRIBE = {"agent_id": 0, "msg_type": "event", "tail": "<Event>subscribe</Event>"}
OK, REFUSED = "request", "response"

# name -> (callback options, inner XML options, agent options, _admit's answer, fast path opens)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, bool]] = {
    "valid": ({}, {}, {}, OK, True),
    "no corp check": ({}, {}, {"corp_id": "", "agent_id": 0}, OK, True),
    "large": ({}, {"tail": BIG}, {}, OK, True),
    "subscribe with AgentID 0": ({"env_agent": "0"}, SUBSCRIBE, {}, OK, True),
    "subscribe without an envelope AgentID": ({"env_agent": None}, SUBSCRIBE, {}, OK, True),
    "text with AgentID 0": ({"env_agent": "0"}, {"agent_id": 0}, {}, REFUSED, False),
    "text from another agent": ({"env_agent": "5"}, {"agent_id": 5}, {}, REFUSED, False),
    "subscribe from another agent": (
        {"env_agent": "5"},
        {**SUBSCRIBE, "agent_id": 5},
        {},
        REFUSED,
        False,
    ),
    "another agent, no corp check": (
        {"env_agent": "5"},
        {"agent_id": 5},
        {"corp_id": ""},
        OK,
        True,
    ),
    "envelope AgentID with a sign": ({"env_agent": "+1000002"}, {}, {}, OK, True),
    "envelope AgentID not a number": ({"env_agent": "x1"}, {}, {}, REFUSED, False),
    "message AgentID not a number": ({}, {"agent_id": "x"}, {}, REFUSED, False),
    "envelope corp not the agent's": (
        {"env_to": "wwOther", "frame_corp": "wwOther"},
        {"to": "wwOther"},
        {},
        REFUSED,
        False,
    ),
    "no envelope ToUserName": ({"env_to": None}, {}, {"corp_id": ""}, REFUSED, False),
    "frame corp not the envelope's": ({"frame_corp": "wwOther"}, {}, {}, REFUSED, False),
    "frame corp differs, no corp check": (
        {"frame_corp": "wwOther"},
        {},
        {"corp_id": ""},
        REFUSED,
        False,
    ),
    "message ToUserName not the envelope's": ({}, {"to": "wwOther"}, {}, REFUSED, False),
    "message AgentID not the envelope's": ({}, {"agent_id": 7}, {}, REFUSED, False),
    "wrong token": ({"token": "other"}, {}, {}, REFUSED, False),
    "wrong key": ({"key": OTHER_KEY}, {}, {}, REFUSED, False),
    # the one-call path tries the current key only; the checks then open it with the last
    "the last key after a rotation": ({"key": OTHER_KEY}, {}, {"last": OTHER_KEY}, OK, False),
    # the replay window is checked by the caller, in Python
    "stale": ({"timestamp": "1000"}, {}, {}, REFUSED, True),
    "timestamp not digits": ({"timestamp": "17000000x0"}, {}, {}, REFUSED, False),
    "timestamp too long": ({"timestamp": "1" * 30}, {}, {}, REFUSED, False),
    "nonce outside ASCII": ({"nonce": "nonce-é"}, {}, {}, OK, True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_check_agrees(core_impl, name):
    cb, xml_options, agent_options, answer, fast = CASES[name]
    query, body = callback(inner_xml(**xml_options), **cb)
    settings_ = agent(**agent_options)
    assert check_same(core_impl, query, body, settings_)[0] == answer
    assert opens(core_impl, query, body, settings_) == fast


QUERY_EDITS = {
    "no signature": lambda q: q.pop("msg_signature"),
    "empty nonce": lambda q: q.update(nonce=""),
    "no timestamp": lambda q: q.pop("timestamp"),
    "signature upper case": lambda q: q.update(msg_signature=q["msg_signature"].upper()),
    "signature short": lambda q: q.update(msg_signature=q["msg_signature"][:-1]),
    "signature non-ASCII": lambda q: q.update(msg_signature="é" * 40),
    "nonce with a surrogate": lambda q: q.update(nonce="nonce-\udcff"),
}


@pytest.mark.parametrize("name", list(QUERY_EDITS))
def test_each_query_check_agrees(core_impl, name):
    query, body = callback(inner_xml())
    QUERY_EDITS[name](query)
    answer = check_same(core_impl, query, body, agent())
    assert answer[0] == "response", answer
    assert not opens(core_impl, query, body, agent())


def test_inputs_of_other_types_take_the_checks(core_impl):
    query, body = callback(inner_xml())
    assert opens(core_impl, query, body, agent())
    assert not opens(core_impl, query, bytearray(body), agent())
    assert not opens(core_impl, MappingProxyType(query), body, agent())
    assert core_impl._open_callback(query, body, TOKEN, KEY, CORP, str(AGENT)) is None
    assert core_impl._open_callback(query, body, TOKEN, b"short", CORP, AGENT) is None
    # _admit hands the core a dict copy of any other mapping
    answer = check_same(core_impl, MappingProxyType(query), body, agent())
    assert answer[0] == "request"


def pick(data: Any, usual: Any, others: list[Any]) -> Any:
    """Usually (3 times in 4) ``usual``, else one of ``others``."""
    return data.draw(st.sampled_from([usual, usual, usual, *others]))


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_combinations_of_ids_agree(core_impl, data):
    """Envelope, frame, message and agent ids, each usually consistent: same answer both ways."""
    event = pick(data, "", ["<Event>subscribe</Event>", "<Event>unsubscribe</Event>"])
    msg_type = "event" if event else pick(data, "text", ["event"])
    msg_agent = pick(data, AGENT, [0, 5])
    xml = inner_xml(pick(data, CORP, ["wwOther", ""]), msg_agent, msg_type, event)
    query, body = callback(
        xml,
        env_to=pick(data, CORP, [None, "wwOther", ""]),
        env_agent=pick(data, str(msg_agent), [None, "0", "5", str(AGENT)]),
        frame_corp=pick(data, CORP, ["wwOther"]),
    )
    settings_ = agent(pick(data, CORP, ["", "wwOther"]), pick(data, AGENT, [0, 5]))
    check_same(core_impl, query, body, settings_)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_callbacks_agree(core_impl, data):
    """Bytes of the inner XML changed before sealing, or of the body after: same answer."""
    xml = bytearray(inner_xml(tail="<Content><![CDATA[hello]]></Content><MsgId>1</MsgId>"))
    for _ in range(data.draw(st.integers(0, 2))):
        xml[data.draw(st.integers(0, len(xml) - 1))] = data.draw(st.integers(0, 255))
    query, body = callback(bytes(xml))
    raw = bytearray(body)
    for _ in range(pick(data, 0, [1, 2])):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    check_same(core_impl, query, bytes(raw), agent(pick(data, CORP, [""]), AGENT))
