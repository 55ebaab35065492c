"""The command line, ``python -m wxcorp_fast`` / ``wxcorp-fast`` (docs/reference.md section 8).

Subprocess tests run ``sys.executable -m wxcorp_fast``: the package the test run imports (the
installed wheel under scripts/test.sh and cibuildwheel), with a chosen selection environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata

import pytest

import wxcorp_fast
from wxcorp_fast import _core, cli
from wxcorp_fast.cli import info, server
from wxcorp_fast.testing import KINDS, vectors

_SELECTION = ("WXCORP_FAST_NO_EXTENSIONS", "WXCORP_FAST_REQUIRE_COMPILED")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wxcorp_fast ARGS``; ``env`` replaces the inherited selection variables."""
    environ = dict(os.environ)
    if env is not None:
        for name in _SELECTION:
            environ.pop(name, None)
        environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "wxcorp_fast", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def info_fields(output: str) -> dict[str, str]:
    """Return the ``key: value`` lines of ``info`` output as a dict (first occurrence wins)."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, value)
    return fields


def check_info_ok(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Assert a successful ``info`` run and return its fields."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fields = info_fields(proc.stdout)
    assert proc.stdout.startswith(f"wxcorp_fast {wxcorp_fast.__version__}\n")
    assert fields["self-check"].startswith("ok")
    # the known-answer check must not print the example's secrets or plaintext
    for secret in (vectors.ENCODING_AES_KEY, vectors.TOKEN, "1616140317555161061"):
        assert secret not in proc.stdout + proc.stderr
    return fields


def test_info_reports_the_implementation_this_run_uses() -> None:
    fields = check_info_ok(run_cli("info"))
    assert fields["implementation"] == wxcorp_fast.IMPLEMENTATION
    # the subprocess imports the very package this test run imports
    assert os.path.realpath(fields["location"]) == os.path.realpath(wxcorp_fast.__file__)
    if wxcorp_fast.IMPLEMENTATION == "compiled":
        assert "compiled core missing" not in fields
        assert fields["openssl"] == _core.core.OPENSSL_VERSION
    else:
        assert fields["compiled core missing"] == _core.IMPORT_ERROR


def test_info_pure_names_the_reason() -> None:
    fields = check_info_ok(run_cli("info", env={"WXCORP_FAST_NO_EXTENSIONS": "1"}))
    assert fields["implementation"] == "python"
    assert fields["compiled core missing"] == "disabled by WXCORP_FAST_NO_EXTENSIONS"
    assert "(via cryptography " in fields["openssl"]
    assert fields["openssl linkage"] == "cryptography's own (the pure-Python core)"


@pytest.mark.compiled
def test_info_compiled_names_openssl() -> None:
    from wxcorp_fast import _core_c  # a missing extension is an error here, not a skip

    proc = run_cli("info", env={"WXCORP_FAST_REQUIRE_COMPILED": "1"})
    fields = check_info_ok(proc)
    assert fields["implementation"] == "compiled"
    assert fields["openssl"] == _core_c.OPENSSL_VERSION
    assert fields["openssl"].startswith("OpenSSL ")
    assert "compiled core missing" not in fields
    if _core_c.OPENSSL_LINKAGE == "static":
        assert fields["openssl linkage"] == "bundled, static"
    else:
        assert _core_c.OPENSSL_LINKAGE == "shared"
        assert fields["openssl linkage"] == "system, shared"
        if sys.platform.startswith("linux"):
            assert "libcrypto" in fields, proc.stdout


def test_require_compiled_with_extensions_disabled_fails_loudly() -> None:
    proc = run_cli(
        "info", env={"WXCORP_FAST_NO_EXTENSIONS": "1", "WXCORP_FAST_REQUIRE_COMPILED": "1"}
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "WXCORP_FAST_REQUIRE_COMPILED" in proc.stderr


def test_self_check_passes_in_process() -> None:
    assert info.self_check() == []


def test_self_check_failure_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(info, "KNOWN_ECHO_PLAIN", b"not the answer")
    assert cli.main(["info"]) == 1
    out = capsys.readouterr().out
    assert "self-check: FAILED (verify_url: wrong result)" in out


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wxcorp-fast {wxcorp_fast.__version__}"


def test_no_command_is_a_usage_error() -> None:
    proc = run_cli()
    assert proc.returncode == 2
    assert "usage: wxcorp-fast" in proc.stderr
    with pytest.raises(SystemExit) as exc_info:
        cli.main([])
    assert exc_info.value.code == 2


def test_help_lists_info(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        cli.main(["--help"])
    assert exc_info.value.code == 0
    assert "info" in capsys.readouterr().out


@pytest.mark.installed
def test_console_script_is_declared() -> None:
    dist = metadata.distribution("wxcorp-fast")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"wxcorp-fast": "wxcorp_fast.cli:main"}


# --------------------------------------------------------------------------- serve, simulate, demo

OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _credentials_env(**values: str) -> dict[str, str]:
    """The environment with the WXCORP_* credential variables replaced by ``values``."""
    env = {
        k: val
        for k, val in os.environ.items()
        if not k.startswith("WXCORP_") or k.startswith("WXCORP_FAST_")
    }
    env.update(values)
    return env


@contextlib.contextmanager
def running_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Run ``serve --port 0`` and yield (callback URL, what it printed before the URL)."""
    with subprocess.Popen(
        [sys.executable, "-m", "wxcorp_fast", "serve", "--port", "0", "--workers", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env if env is not None else dict(os.environ),
    ) as proc:
        try:
            lines: list[str] = []
            deadline = time.monotonic() + 60
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                assert line, f"serve exited early ({proc.poll()}): {lines}"
                lines.append(line)
                if line.startswith(server.URL_LINE):
                    break
            yield lines[-1][len(server.URL_LINE) :].strip(), "".join(lines)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0  # a clean stop on SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def test_help_lists_the_server_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("serve", "simulate", "demo"))


def test_demo_verifies_every_reply() -> None:
    proc = run_cli("demo", "--count", "40", "--concurrency", "3", "--workers", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "40 requests to http://127.0.0.1:" in proc.stdout
    assert "40 verified, 0 failed" in proc.stdout
    assert "failures by kind: none" in proc.stdout
    assert re.search(r"requests/s: \d+\.\d", proc.stdout)
    assert re.search(r"latency: p50 \d+\.\d\d ms, p99 \d+\.\d\d ms", proc.stdout)
    assert "[" + "#" * 30 + "] 40/40" in proc.stderr  # the progress bar ends full
    assert "callback URL: http://127.0.0.1:" in proc.stderr
    for secret in (vectors.TOKEN, vectors.ENCODING_AES_KEY):
        assert secret not in proc.stdout + proc.stderr


def test_demo_passes_its_credentials_to_serve() -> None:
    proc = run_cli(
        "demo",
        "--count",
        "18",
        "--workers",
        "1",
        "-q",
        "--corp-id",
        "wwDEMO",
        "--agent-id",
        "5",
        "--token",
        "demo-token",
        "--encoding-aes-key",
        OTHER_KEY,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "serve: echo bot for corp wwDEMO, agent 5" in proc.stderr
    assert "docs' example" not in proc.stderr
    assert "18 verified, 0 failed" in proc.stdout


def test_serve_then_simulate_and_a_failing_simulation() -> None:
    with running_serve() as (url, banner):
        assert "corp wx5823bf96d3bd56c7, agent 218" in banner
        assert "docs' example" in banner
        ok = run_cli("simulate", url, "--count", str(len(KINDS) + 1), "--echo", "-q")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{len(KINDS) + 1} verified, 0 failed" in ok.stdout
        assert ok.stderr == ""  # -q: no progress bar

        # another token: every request refused, counted by kind, exit 1
        bad = run_cli("simulate", url, "--count", "3", "--token", "not-the-token", "-q")
        assert bad.returncode == 1
        assert "0 verified, 3 failed" in bad.stdout
        failures = bad.stdout.split("failures by kind:\n")[1].splitlines()
        assert failures == [  # each with the body of the refused answer
            "  image: 1 x HTTP 400: SignatureError (-40001)",
            "  text: 1 x HTTP 400: SignatureError (-40001)",
            "  url_verification: 1 x HTTP 400: SignatureError (-40001)",
        ]

        one = run_cli("simulate", url, "--text", "notify")
        assert (one.returncode, one.stdout) == (0, "HTTP 200: text reply: notify\n")
        scheduled = run_cli("simulate", url, "--text", "notify", "--retries")
        assert scheduled.stdout == "HTTP 200 (try 1 of WeChat's schedule): text reply: notify\n"
        refused = run_cli("simulate", url, "--text", "notify", "--token", "not-the-token")
        assert refused.returncode == 1
        assert refused.stdout == "refused: HTTP 400: SignatureError (-40001)\n"


def test_credentials_from_the_environment() -> None:
    env = _credentials_env(
        WXCORP_CORP_ID="wwTESTCORP",
        WXCORP_AGENT_ID="7",
        WXCORP_TOKEN="env-token",
        WXCORP_ENCODING_AES_KEY=OTHER_KEY,
    )
    with running_serve(env=env) as (url, banner):
        assert "corp wwTESTCORP, agent 7" in banner and "docs' example" not in banner
        proc = subprocess.run(
            [sys.executable, "-m", "wxcorp_fast", "simulate", url, "--count", "5", "--echo", "-q"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # flags win over the environment; the docs' example is refused here
        wrong = run_cli(
            "simulate",
            url,
            "--count",
            "2",
            "-q",
            "--token",
            vectors.TOKEN,
            "--encoding-aes-key",
            vectors.ENCODING_AES_KEY,
        )
        assert wrong.returncode == 1


def test_bad_agent_id_in_the_environment_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wxcorp_fast", "serve"],
        env=_credentials_env(WXCORP_AGENT_ID="abc"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "must be an integer (flag or WXCORP_AGENT_ID), not 'abc'" in proc.stderr
    # other commands do not read the credentials
    info = subprocess.run(
        [sys.executable, "-m", "wxcorp_fast", "info"],
        env=_credentials_env(WXCORP_AGENT_ID="abc"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert info.returncode == 0, info.stderr


def test_simulate_against_nothing_fails() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_cli("simulate", f"http://127.0.0.1:{port}/", "--count", "2", "-q", "--timeout", "5")
    assert proc.returncode == 1
    assert "0 verified, 2 failed" in proc.stdout


def test_serve_without_gunicorn_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gunicorn" else real_find_spec(name, *a),
    )
    assert cli.main(["serve"]) == 2
    assert "pip install 'wxcorp-fast[server]'" in capsys.readouterr().err


# --------------------------------------------------------------------------- in-process parts


def test_echo_bot_summaries() -> None:
    from wxcorp_fast.cli.echobot import summary
    from wxcorp_fast.testing import CallbackSimulator

    sim = CallbackSimulator(
        vectors.CORP_ID, vectors.AGENT_ID, vectors.TOKEN, vectors.ENCODING_AES_KEY
    )

    def line(**selector: str) -> str:
        return summary(wxcorp_fast.parse_message(sim.message_xml(**selector)))

    assert line(**KINDS["click"]) == "event click key=MENU_CLICK_1"
    assert line(**KINDS["LOCATION"]) == "event LOCATION at=23.104105,113.320107"
    assert line(**KINDS["pic_weixin"]) == "event pic_weixin key=MENU_PIC pics=1"
    assert line(**KINDS["change_contact"]) == (
        "event change_contact change=update_user user=zhangsan"
    )
    assert line(**KINDS["subscribe"]) == "event subscribe"
    assert line(**KINDS["voice"]) == (
        "voice message media=1oIyqJq2iBZCNvKNkTqGWP7F7bHv1ijV4Jmmb48Fwcv8"
    )
    assert line(**KINDS["link"]).startswith("link message title=企业微信开发文档 url=https://")


def test_summary_percentiles_and_failures() -> None:
    from wxcorp_fast.cli.loadgen import Outcome, Summary

    outcomes = [Outcome("text", i / 1000, None) for i in range(1, 101)]
    outcomes += [
        Outcome("click", 0.5, "HTTP 400"),
        Outcome("click", 0.5, "HTTP 400"),
        Outcome("text", 0.2, "SignatureError (-40001)"),
    ]
    summary = Summary("http://x/", outcomes, elapsed=2.0)
    assert summary.percentile(0.5) == 0.052
    assert summary.percentile(0.99) == 0.5
    assert summary.failed == 3
    text = summary.format()
    assert "103 requests to http://x/ in 2.00 s: 100 verified, 3 failed" in text
    assert "requests/s: 51.5" in text
    assert text.endswith(
        "failures by kind:\n  click: 2 x HTTP 400\n  text: 1 x SignatureError (-40001)"
    )


def test_progress_bar_without_a_terminal() -> None:
    import io

    from wxcorp_fast.cli.loadgen import Progress

    stream = io.StringIO()
    progress = Progress(20, stream)
    for i in range(20):
        progress.advance(failed=i == 3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # the first request, then every tenth
    assert lines[-1].startswith("[" + "#" * 30 + "] 20/20 ")
    assert lines[-1].endswith(" req/s, 1 failed")
    assert "\r" not in stream.getvalue()


# --------------------------------------------------------------------------- fake-work


@contextlib.contextmanager
def running_fake_work(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """Run ``fake-work`` and yield the process and what it printed (``name: value`` lines)."""
    from wxcorp_fast.cli import fake_work

    with subprocess.Popen(
        [sys.executable, "-m", "wxcorp_fast", "fake-work", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            printed: dict[str, str] = {}
            deadline = time.monotonic() + 60
            while "corp_secret" not in printed:
                assert time.monotonic() < deadline
                line = proc.stdout.readline()
                assert line, f"fake-work exited early ({proc.poll()})"
                name, sep, value = line.partition(": ")
                if sep:
                    printed[name] = value.strip()
            assert fake_work.BASE_URL_LINE == "base_url: "
            yield proc, printed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_fake_work_serves_the_api_until_stopped(stop: signal.Signals) -> None:
    with running_fake_work() as (proc, printed):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", printed["base_url"])
        tokens = wxcorp_fast.DefaultAccessTokenServer(
            printed["corp_id"], printed["corp_secret"], base_url=printed["base_url"]
        )
        client = wxcorp_fast.CorpClient(tokens, base_url=printed["base_url"])
        assert client.send_text(1000002, "hello", touser="zhangsan")["msgid"] == "fake-msg-1"
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped; calls: /cgi-bin/gettoken 1, /cgi-bin/message/send 1" in out


def test_fake_work_on_a_chosen_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with running_fake_work("--port", str(port)) as (proc, printed):
        assert printed["base_url"] == f"http://127.0.0.1:{port}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_fake_work_refuses_a_bad_port() -> None:
    proc = run_cli("fake-work", "--port", "70000")
    assert proc.returncode == 2
    assert "must be from 0 to 65535" in proc.stderr
