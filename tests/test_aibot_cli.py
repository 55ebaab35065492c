"""``serve --aibot``, ``simulate --aibot`` and the AI-bot half of ``demo``, as subprocesses;
the AI echo bot itself in process (WSGI and ASGI)."""

from __future__ import annotations

import asyncio
import re

import pytest
from test_cli import OTHER_KEY, _credentials_env, run_cli, running_serve

from wxcorp_fast.cli.aibot_load import run_aibot
from wxcorp_fast.cli.echobot import AIBOT_WELCOME, build_aibot_app, build_aibot_asgi_app, echo_words
from wxcorp_fast.testing import AIBOT_KINDS, AIBotSimulator, vectors

SECRETS = (vectors.TOKEN, vectors.ENCODING_AES_KEY)


def test_echo_bot_in_process():
    app = build_aibot_app(first_reply_deadline=0)
    sim = AIBotSimulator(vectors.TOKEN, vectors.ENCODING_AES_KEY)
    said = "streamed back word by word"
    assert sim.conversation(app, said, interval=0).content == "".join(echo_words(said))
    voice = sim.message_json("voice", content="spoken words")
    assert sim.conversation(app, message=voice, interval=0).content == "you said: spoken words"
    assert sim.post_event(app, "enter_chat").json()["text"]["content"] == AIBOT_WELCOME
    card = sim.post_event(
        app, "template_card_event", task_id="T1", selected_items=[("q", ["a", "b"])]
    ).json()
    assert card["template_card"]["task_id"] == "T1"
    assert card["template_card"]["main_title"]["desc"] == "you chose a, b"
    mixed = sim.conversation(app, message=sim.message_json("mixed"), interval=0)
    assert mixed.content == "got a mixed message of 2 items"
    asgi = build_aibot_asgi_app(first_reply_deadline=0)
    done = asyncio.run(sim.aconversation(asgi, said, interval=0))
    assert done.content == "".join(echo_words(said))


def test_echo_bot_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("WXCORP_TOKEN", "env-token")
    monkeypatch.setenv("WXCORP_ENCODING_AES_KEY", OTHER_KEY)
    monkeypatch.setenv("WXCORP_RECEIVE_ID", "wwenv")
    app = build_aibot_app(first_reply_deadline=0)
    sim = AIBotSimulator("env-token", OTHER_KEY, receive_id="wwenv")
    assert sim.conversation(app, "x", interval=0).content == "you said: x"
    assert "wwenv" in repr(app)


def test_run_aibot_counts_failures():
    app = build_aibot_app(first_reply_deadline=0)
    sim = AIBotSimulator(vectors.TOKEN, OTHER_KEY)  # the wrong key: every answer refused
    summary = run_aibot(sim, app, 2, echo=True)  # type: ignore[arg-type]
    assert summary.verified == 0 and summary.failed == len(AIBOT_KINDS) + 3
    assert "failures by kind:\n" in summary.format()


def test_demo_plays_both_bots():
    proc = run_cli("demo", "--count", "10", "--workers", "1", "--aibot-conversations", "4", "-q")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "10 verified, 0 failed" in out
    assert "AI bot at http://127.0.0.1:" in out
    assert f": {1 + len(AIBOT_KINDS) + 4} verified, 0 failed" in out
    assert re.search(r"streamed conversations: 9, refreshes: \d+ \(\d+\.\d refreshes/s", out)
    assert out.count("failures by kind: none") == 2
    assert "serve: AI echo bot, receive id ''" in proc.stderr
    assert not any(secret in out + proc.stderr for secret in SECRETS)


def test_demo_without_the_ai_bot():
    proc = run_cli("demo", "--count", "5", "--workers", "1", "--aibot-conversations", "0", "-q")
    assert proc.returncode == 0 and "AI bot" not in proc.stdout + proc.stderr


def test_serve_aibot_then_simulate():
    with running_serve("--aibot", "--workers", "2") as (url, banner):
        assert "1 workers x 8 threads, streams in memory" in banner
        assert "1 worker (--redis-url for more)" in banner
        ok = run_cli(
            "simulate", "--aibot", url, "--count", "3", "--concurrency", "2", "--echo", "-q"
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{1 + len(AIBOT_KINDS) + 3} verified, 0 failed" in ok.stdout
        bad = run_cli("simulate", "--aibot", url, "--count", "1", "--token", "wrong", "-q")
        assert bad.returncode == 1
        assert f"0 verified, {1 + len(AIBOT_KINDS) + 1} failed" in bad.stdout


def test_serve_aibot_with_two_workers_on_redis(redis_server):
    env = _credentials_env(
        WXCORP_TOKEN="redis-token", WXCORP_ENCODING_AES_KEY=OTHER_KEY, WXCORP_RECEIVE_ID=""
    )
    with running_serve("--aibot", "--workers", "2", "--redis-url", redis_server.url, env=env) as (
        url,
        banner,
    ):
        assert "2 workers x 8 threads, streams in Redis" in banner
        assert "docs' example" not in banner
        proc = run_cli(
            "simulate",
            "--aibot",
            url,
            "--count",
            "8",
            "--concurrency",
            "4",
            "--echo",
            "-q",
            "--token",
            "redis-token",
            "--encoding-aes-key",
            OTHER_KEY,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "failures by kind: none" in proc.stdout


def test_help_mentions_the_ai_bot(capsys):
    from wxcorp_fast import cli

    for command in ("serve", "simulate"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "--aibot" in capsys.readouterr().out
