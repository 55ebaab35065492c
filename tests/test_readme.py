"""The README's callback-server example runs as shown and answers WeChat's requests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import wxcorp_fast
from wxcorp_fast.testing import CallbackSimulator
from wxcorp_fast.testing import vectors as v

from _http import call_wsgi, environ

README = Path(__file__).resolve().parent.parent / "README.md"


def callback_server_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Callback server", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_readme_callback_server_example() -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(callback_server_example(), str(README), "exec"), namespace)
    app = namespace["app"]
    wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)

    query, body = wechat.message("text", content="hello")
    status, _, out = call_wsgi(app, environ("POST", query, body))
    assert status == 200
    reply = wechat.open_reply(out, query=query)
    assert wxcorp_fast.parse_message(reply).content == "you said: hello"

    query, body = wechat.message("event", event="click", event_key="MENU_HELP")
    status, _, out = call_wsgi(app, environ("POST", query, body))
    assert "repeat it" in wxcorp_fast.parse_message(wechat.open_reply(out, query=query)).content

    query, body = wechat.message("image", pic_url="http://x", media_id="m", msg_id=7)
    assert call_wsgi(app, environ("POST", query, body))[1:] == (
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "0"},
        b"",
    )

    assert call_wsgi(app, environ("GET", wechat.url_verification(b"echo").query))[2] == b"echo"
    bad = {**wechat.url_verification().query, "msg_signature": "0" * 40}
    assert call_wsgi(app, environ("GET", bad))[:3:2] == (400, b"SignatureError (-40001)\n")


def test_readme_testing_your_app_runs_as_a_users_suite(tmp_path: Path) -> None:
    import subprocess
    import sys

    section = README.read_text(encoding="utf-8").split("## Testing your app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["wxcorp_fast.testing.fixtures"]\n')
    (tmp_path / "test_bot.py").write_text(match.group(1))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


# --------------------------------------------------------------------------- AI bots


def aibot_block(name: str) -> str:
    """The README's python block marked ``<!-- aibot: name -->``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- aibot: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match is not None, name
    return match.group(1)


def test_readme_aibot_example(capsys) -> None:
    import asyncio

    from wxcorp_fast.testing import AIBotSimulator

    namespace: dict[str, Any] = {"__name__": "readme_aibot"}
    exec(compile(aibot_block("server"), str(README), "exec"), namespace)  # noqa: S102
    exec(compile(aibot_block("simulator"), str(README), "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out.splitlines()
    expected = "You asked: What is WeChat Work? Here is the answer, token by token. "
    assert printed[0] == expected
    assert printed[2] == "{'msgtype': 'text', 'text': {'content': 'Hi! Ask me anything.'}}"
    app, bot = namespace["app"], namespace["bot"]
    sim = AIBotSimulator("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")
    card = asyncio.run(
        sim.apost_json(app, sim.event_json("template_card_event", event_key="OK", task_id="T7"))
    ).json()
    assert card["template_card"]["task_id"] == "T7"
    assert card["template_card"]["main_title"]["title"] == "You pressed OK"
    # the WSGI side: a sync call of an async generator handler streams on a loop of its own
    assert sim.conversation(bot, "again", interval=0).content.startswith("You asked: again ")


# --------------------------------------------------------------------------- slow handlers


def deferred_block(name: str) -> str:
    """The README's python block marked ``<!-- deferred: name -->``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- deferred: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match is not None, name
    return match.group(1)


def test_readme_deferred_wsgi_example(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_deferred"}
    exec(compile(deferred_block("wsgi"), str(README), "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.splitlines() == [
        "200 b'' 1",
        "zhangsan the answer to 'why?'",
    ]


def test_readme_deferred_asgi_example(redis_server: Any) -> None:
    import asyncio

    import redis.asyncio

    from wxcorp_fast.testing import CallbackSimulator, FakeWorkServer
    from wxcorp_fast.testing import vectors as v

    from _http import ASGICall, body_messages, http_scope

    namespace: dict[str, Any] = {"__name__": "readme_deferred_asgi"}
    exec(compile(deferred_block("asgi"), str(README), "exec"), namespace)  # noqa: S102

    async def scenario(fake: FakeWorkServer) -> bytes:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        app = namespace["build_app"](fake.base_url, fake.corp_secret, client)
        wechat = CallbackSimulator(v.CORP_ID, v.AGENT_ID, v.TOKEN, v.ENCODING_AES_KEY)
        query, body = wechat.message("text", content="hi")
        call = ASGICall(body_messages(body))
        await app(http_scope("POST", query), call.receive, call.send)
        lifespan = ASGICall([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        await app({"type": "lifespan"}, lifespan.receive, lifespan.send)
        await client.aclose()
        assert call.status == 200
        return wechat.open_reply(call.body, query=query)

    with FakeWorkServer() as fake:
        reply = asyncio.run(asyncio.wait_for(scenario(fake), 30))
    assert wxcorp_fast.parse_message(reply).content == "the answer"  # in time: answered at once
