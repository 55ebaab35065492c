"""The frontends under real servers, over real HTTP, driven by CallbackSimulator.

- ``MultiAgentServerFrontend`` as WSGI under gunicorn and as ``.asgi`` under uvicorn, each in a
  subprocess on an ephemeral 127.0.0.1 port (``wxcorp_fast.testing.runners``): every kind of
  message and event, the URL check, and hostile requests that must get the right 4xx without
  the handler ever running (it appends to a file the test reads), after which the server still
  answers good requests.
- The README's "Mounting in Flask / FastAPI" blocks, run as they stand: the Flask route under
  gunicorn, the FastAPI mount under uvicorn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast.testing import KINDS, CallbackSimulator
from wxcorp_fast.testing import vectors as v
from wxcorp_fast.testing.runners import ServerProcess, gunicorn, uvicorn

import _callback_apps

TESTS = Path(__file__).resolve().parent
README = TESTS.parent / "README.md"
SECRETS = (v.TOKEN, v.ENCODING_AES_KEY)


def _server_env(calls: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": str(TESTS) + (os.pathsep + path if path else ""),
        _callback_apps.CALLS_ENV: str(calls),
        _callback_apps.README_ENV: str(README),
    }


SERVERS: dict[str, Callable[[dict[str, str]], ServerProcess]] = {
    "gunicorn-wsgi": lambda env: gunicorn("_callback_apps:wsgi_app()", env=env),
    "uvicorn-asgi": lambda env: uvicorn("_callback_apps:asgi_app", env=env),
}


@pytest.fixture
def sim() -> CallbackSimulator:
    return CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calls") / "calls.log"


@pytest.fixture(scope="module", params=list(SERVERS))
def endpoint(request: pytest.FixtureRequest, calls_file: Path) -> Iterator[str]:
    """The callback URL (agent key in the query) of a running server."""
    with SERVERS[request.param](_server_env(calls_file)) as server:
        yield f"{server.url}?agent_server={_callback_apps.AGENT_KEY}"


def calls(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_every_kind_over_http(endpoint: str, sim: CallbackSimulator, calls_file: Path) -> None:
    before = len(calls(calls_file))
    check = sim.get(endpoint)
    assert (check.status, check.reply is not None) == (200, True)
    for kind, selector in KINDS.items():
        fields: dict[str, Any] = dict(selector)
        msg_type = fields.pop("msg_type")
        result = sim.post(endpoint, msg_type, **fields)
        assert result.status == 200, kind
        assert result.reply is not None
        reply = wxcorp_fast.parse_message(result.reply)
        sender = wxcorp_fast.parse_message(result.sent or b"").from_user_name
        assert (reply.msg_type, reply.to_user_name, reply.from_user_name) == (
            "text",
            sender,
            v.CORP_ID,
        )
        said = "hello from the simulator" if kind == "text" else fields.get("event", msg_type)
        assert reply.content == f"got {said}", kind
    assert len(calls(calls_file)) - before == len(KINDS)


def _hostile(sim: CallbackSimulator, url: str) -> dict[str, tuple[Callable[[], Any], int, str]]:
    """name -> (send the request, expected status, expected error class in the answer)."""

    def post(query: dict[str, str], body: bytes, target: str = url) -> Any:
        return sim.send(target, query, body)

    good_query, good_body = sim.message("text")
    bad_sig = {**good_query, "msg_signature": "0" * 40}
    stale = sim.message("text", timestamp=int(time.time()) - 3600)
    future = sim.message("text", timestamp=int(time.time()) + 3600)
    wrong_agent = sim.message("text", agent_id=v.AGENT_ID + 1)
    wrong_corp = sim.message("text", to_user_name="wwANOTHERCORP")
    big = b"<xml><Encrypt>" + b"A" * (5 * 1024 * 1024) + b"</Encrypt></xml>"
    check = sim.url_verification()
    base = url.split("?")[0]
    return {
        "bad signature": (lambda: post(bad_sig, good_body), 400, "SignatureError"),
        "no signature": (lambda: post({}, good_body), 400, "SignatureError"),
        "stale timestamp": (lambda: post(*stale), 400, "StaleRequestError"),
        "future timestamp": (lambda: post(*future), 400, "StaleRequestError"),
        "5 MB body": (lambda: post(good_query, big), 413, ""),
        "5 MB chunked body": (lambda: sim.send(url, good_query, big, chunked=True), 413, ""),
        "wrong agent": (lambda: post(*wrong_agent), 400, "CorpIdMismatchError"),
        "wrong corp": (lambda: post(*wrong_corp), 400, "CorpIdMismatchError"),
        "unknown agent_server": (
            lambda: post(good_query, good_body, base + "?agent_server=nope"),
            400,
            "UnknownAgentError",
        ),
        "no agent_server": (lambda: post(good_query, good_body, base), 400, "UnknownAgentError"),
        "garbage XML": (
            lambda: post(good_query, b"<xml><Encrypt>\x00garbage"),
            400,
            "XMLParseError",
        ),
        "not XML": (lambda: post(good_query, b"\xff\xfe not xml at all"), 400, "XMLParseError"),
        "GET bad echostr signature": (
            lambda: sim.send(url, {**check.query, "msg_signature": "1" * 40}, method="GET"),
            400,
            "SignatureError",
        ),
        "PUT": (lambda: sim.send(url, good_query, good_body, method="PUT"), 405, ""),
        "DELETE": (lambda: sim.send(url, good_query, method="DELETE"), 405, ""),
        "HEAD": (lambda: sim.send(url, check.query, method="HEAD"), 405, ""),
    }


def test_hostile_requests_get_4xx_and_never_reach_the_handler(
    endpoint: str, sim: CallbackSimulator, calls_file: Path
) -> None:
    before = calls(calls_file)
    cases = _hostile(sim, endpoint)
    answers = {}
    for name, (send, _, _) in cases.items():
        result = send()
        text = result.body.decode("utf-8", "replace")
        answers[name] = (result.status, text.split(" ")[0] if result.status == 400 else "")
        assert not any(secret in text for secret in SECRETS), name
        if result.status == 405:
            assert result.headers.get("Allow") == "GET, POST", name
        assert calls(calls_file) == before, f"the handler ran for: {name}"
    assert answers == {name: (status, error) for name, (_, status, error) in cases.items()}

    # the server keeps answering good requests
    for _ in range(3):
        result = sim.post(endpoint, "text", content="still there?")
        assert result.status == 200 and result.reply is not None
        assert wxcorp_fast.parse_message(result.reply).content == "got still there?"
    assert len(calls(calls_file)) == len(before) + 3


# --------------------------------------------------------------------------- README mounts

MOUNTS: dict[str, Callable[[dict[str, str]], ServerProcess]] = {
    "flask-route-gunicorn": lambda env: gunicorn(
        "_callback_apps:flask_app()", env=env, path="/wechat/callback"
    ),
    "fastapi-mount-uvicorn": lambda env: uvicorn(
        "_callback_apps:fastapi_app", env=env, path="/wechat/callback/"
    ),
}


def test_readme_has_both_mount_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_callback_apps.README_ENV, str(README))
    for name in ("flask", "fastapi"):
        assert "app = " in _callback_apps.readme_block(name)


@pytest.mark.parametrize("mount", list(MOUNTS))
def test_readme_mounts_over_http(mount: str, sim: CallbackSimulator, tmp_path: Path) -> None:
    with MOUNTS[mount](_server_env(tmp_path / "calls.log")) as server:
        check = sim.get(server.url)
        assert check.status == 200 and check.reply is not None
        result = sim.post(server.url, "text", content="你好, README")
        assert result.status == 200 and result.reply is not None
        assert wxcorp_fast.parse_message(result.reply).content == "你好, README"
        assert sim.post(server.url, "event", event="click").status == 200  # no route: empty 200
        query, body = sim.message("text")
        assert sim.send(server.url, {**query, "msg_signature": "0" * 40}, body).status == 400
        assert sim.send(server.url, query, b"x" * (2 << 20)).status == 413
