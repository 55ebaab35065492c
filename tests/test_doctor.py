"""``python -m wxcorp_fast doctor``: each misconfiguration is named, nothing secret shown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from wxcorp_fast.cli.doctor import FAIL, OK, diagnose
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SETTINGS: dict[str, Any] = {
    "corp_id": v.CORP_ID,
    "agent_id": v.AGENT_ID,
    "token": v.TOKEN,
    "encoding_aes_key": v.ENCODING_AES_KEY,
}


def sim(**kw: Any) -> CallbackSimulator:
    args = {**SETTINGS, **kw}
    return CallbackSimulator(
        args["corp_id"], args["agent_id"], args["token"], args["encoding_aes_key"]
    )


def post(timestamp: int | None = None, **sim_kw: Any) -> tuple[str, bytes]:
    query, body = sim(**sim_kw).message("text", timestamp=timestamp, content="secret plaintext")
    return "https://bot.example.com/wechat?" + urlencode(query), body


def failed(findings: list[tuple[str, str, str]]) -> dict[str, str]:
    return {check: text for status, check, text in findings if status == FAIL}


def test_a_good_request_passes_every_check() -> None:
    url, body = post()
    findings = diagnose(url, body, **SETTINGS)
    assert [s for s, _, _ in findings] == [OK] * len(findings)
    assert [c for _, c, _ in findings] == [
        "query",
        "request",
        "envelope",
        "corp id",
        "agent id",
        "signature",
        "timestamp",
        "decrypt",
        "receive id",
        "message",
    ]


def test_wrong_token() -> None:
    url, body = post()
    found = failed(diagnose(url, body, **{**SETTINGS, "token": "not-it"}))
    assert list(found) == ["signature"]
    assert "the Token is wrong" in found["signature"]


def test_wrong_encoding_aes_key() -> None:
    url, body = post()
    found = failed(diagnose(url, body, **{**SETTINGS, "encoding_aes_key": OTHER_KEY}))
    assert list(found) == ["decrypt"]
    assert "this EncodingAESKey does not open the message" in found["decrypt"]


def test_wrong_agent_id_and_corp_id() -> None:
    url, body = post()
    found = failed(diagnose(url, body, **{**SETTINGS, "agent_id": 1000002}))
    assert list(found) == ["agent id"]
    assert "set --agent-id (WXCORP_AGENT_ID) to 218" in found["agent id"]
    found = failed(diagnose(url, body, **{**SETTINGS, "corp_id": "ww-other"}))
    assert list(found) == ["corp id"]
    assert f"set --corp-id (WXCORP_CORP_ID) to {v.CORP_ID!r}" in found["corp id"]


def test_a_request_mangled_on_the_way() -> None:
    url, body = post()
    mangled = body.replace(b"+", b" ")
    assert mangled != body
    found = failed(diagnose(url, mangled, **SETTINGS))
    assert (
        "the Token is right, but the Encrypt text's '+' characters were turned into spaces"
        in (found["signature"])
    )


def test_plain_mode_signature() -> None:
    from wxcorp_fast import signature

    url, body = post()
    query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    query["msg_signature"] = signature(v.TOKEN, query["timestamp"], query["nonce"])
    found = failed(diagnose(url.split("?")[0] + "?" + urlencode(query), body, **SETTINGS))
    assert "plain mode" in found["signature"]


def test_an_old_request_is_a_replay_unless_the_window_is_off() -> None:
    sent = int(time.time())
    url, body = post(timestamp=sent)
    later = sent + 3600
    found = failed(diagnose(url, body, **SETTINGS, now=later))
    assert list(found) == ["timestamp"] and "3600 s old" in found["timestamp"]
    assert failed(diagnose(url, body, **SETTINGS, now=later, replay_window=None)) == {}


def test_url_check() -> None:
    check = sim().url_verification()
    url = "https://bot.example.com/wechat?" + urlencode(check.query)
    assert failed(diagnose(url, None, **SETTINGS)) == {}
    assert list(failed(diagnose(url, None, **{**SETTINGS, "token": "x"}))) == ["signature"]
    raw_plus = url.replace("%2B", "+")
    if raw_plus != url:  # a '+' sent unencoded arrives as a space
        assert (
            "'+' characters were turned into spaces"
            in failed(diagnose(raw_plus, None, **SETTINGS))["signature"]
        )


@pytest.mark.parametrize(
    ("url", "body", "check", "text"),
    [
        ("https://h/cb", b"<xml/>", "query", "msg_signature"),
        (
            "https://h/cb?msg_signature=a&timestamp=1&nonce=n",
            b'{"encrypt": "x"}',
            "envelope",
            "AI-bot callbacks",
        ),
        ("https://h/cb?msg_signature=a&timestamp=1&nonce=n", None, "request", "no POST body"),
    ],
)
def test_what_is_missing_is_named(url: str, body: bytes | None, check: str, text: str) -> None:
    found = failed(diagnose(url, body, **SETTINGS))
    assert text in found[check]


def test_bad_settings() -> None:
    url, body = post()
    found = failed(diagnose(url, body, **{**SETTINGS, "encoding_aes_key": "short"}))
    assert "not 43 characters" in found["settings"]


def run_doctor(url: str, body: bytes, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxcorp_fast", "doctor", url, "--body", "-", *flags],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_command_exit_status_and_no_secret_printed(tmp_path: Path) -> None:
    url, body = post()
    good = run_doctor(url, body)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.rstrip().endswith("would be accepted with these settings")
    bad = run_doctor(url, body, "--token", "wrong-token", "--encoding-aes-key", OTHER_KEY)
    assert bad.returncode == 1
    assert "[FAIL] signature" in bad.stdout and "[FAIL] decrypt" in bad.stdout
    signature = url.split("msg_signature=")[1].split("&")[0]
    for secret in (
        v.TOKEN,
        v.ENCODING_AES_KEY,
        "wrong-token",
        OTHER_KEY,
        signature,
        "secret plaintext",
    ):
        assert secret not in good.stdout + bad.stdout + good.stderr + bad.stderr
