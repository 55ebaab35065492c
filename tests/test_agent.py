"""DefaultAgentServer and the AgentServer protocol."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast import AgentServer, DefaultAgentServer, InvalidAESKeyError
from wxcorp_fast.testing import vectors as v

KEY = wxcorp_fast.decode_aes_key(v.ENCODING_AES_KEY)


def handler(request: object) -> None:
    return None


def test_properties_and_key_forms() -> None:
    for form in (v.ENCODING_AES_KEY, KEY, bytearray(KEY)):
        agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, form, handler)
        assert agent.current_aes_key == agent.last_aes_key == KEY
        assert isinstance(agent.current_aes_key, bytes)
    assert (agent.corp_id, agent.agent_id, agent.token, agent.message_handler) == (
        v.CORP_ID,
        218,
        v.TOKEN,
        handler,
    )
    assert isinstance(agent, AgentServer)
    assert v.TOKEN not in repr(agent) and v.ENCODING_AES_KEY not in repr(agent)


def test_properties_are_read_only() -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, KEY, handler)
    with pytest.raises(AttributeError):
        agent.token = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad", ["short", v.ENCODING_AES_KEY + "A", "!" * 43, b"\x00" * 31, b"\x00" * 33]
)
def test_invalid_keys(bad: str | bytes) -> None:
    with pytest.raises(InvalidAESKeyError):
        DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, bad, handler)
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, KEY, handler)
    with pytest.raises(InvalidAESKeyError):
        agent.update_aes_key(bad)
    assert agent.aes_keys == (KEY, KEY)


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, 12345, handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DefaultAgentServer(v.CORP_ID, "218", v.TOKEN, KEY, handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, KEY, "not callable")  # type: ignore[arg-type]


def test_rotation() -> None:
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, KEY, handler)
    second, third = bytes(range(32)), bytes(range(1, 33))
    agent.update_aes_key(second)
    assert (agent.current_aes_key, agent.last_aes_key) == (second, KEY)
    agent.update_aes_key(base64.b64encode(third).decode()[:43])
    assert agent.aes_keys == (third, second)
    agent.update_aes_key(third)  # the current key again: nothing changes
    assert agent.aes_keys == (third, second)


def test_rotation_under_concurrent_readers() -> None:
    keys = [bytes([i]) * 32 for i in range(200)]
    agent = DefaultAgentServer(v.CORP_ID, 218, v.TOKEN, keys[0], handler)
    order = {k: i for i, k in enumerate(keys)}
    torn: list[tuple[bytes, bytes]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            current, last = agent.aes_keys
            if current != last and order[current] != order[last] + 1:
                torn.append((current, last))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for key in keys[1:]:
            agent.update_aes_key(key)
    finally:
        done.set()
        for t in readers:
            t.join(timeout=10)
    assert torn == []
    assert agent.aes_keys == (keys[-1], keys[-2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": ""}, "token is empty: set the Token shown in the admin console"),
        ({"agent_id": -1}, "agent_id must be the app's AgentID"),
        ({"aes_key": "too-short"}, "EncodingAESKey must be 43 characters"),
    ],
)
def test_settings_are_checked_at_construction(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "corp_id": v.CORP_ID,
        "agent_id": 218,
        "token": v.TOKEN,
        "aes_key": v.ENCODING_AES_KEY,
        "message_handler": lambda r: None,
        **kwargs,
    }
    with pytest.raises((ValueError, InvalidAESKeyError), match=message):
        DefaultAgentServer(**settings)
