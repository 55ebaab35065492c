"""The command line, ``python -m wxcorp_fast`` / ``wxcorp-fast`` (API.md section 8).

Subprocess tests run ``sys.executable -m wxcorp_fast``: the package the test run imports (the
installed wheel under scripts/test.sh and cibuildwheel), with a chosen selection environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest

import wxcorp_fast
from wxcorp_fast import _impl, cli
from wxcorp_fast.testing import vectors

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
        assert fields["openssl"] == _impl.core.OPENSSL_VERSION
    else:
        assert fields["compiled core missing"] == _impl.IMPORT_ERROR


def test_info_pure_names_the_reason() -> None:
    fields = check_info_ok(run_cli("info", env={"WXCORP_FAST_NO_EXTENSIONS": "1"}))
    assert fields["implementation"] == "python"
    assert fields["compiled core missing"] == "disabled by WXCORP_FAST_NO_EXTENSIONS"
    assert "(via cryptography " in fields["openssl"]


@pytest.mark.compiled
def test_info_compiled_names_openssl() -> None:
    from wxcorp_fast import _core  # a missing extension is an error here, not a skip

    proc = run_cli("info", env={"WXCORP_FAST_REQUIRE_COMPILED": "1"})
    fields = check_info_ok(proc)
    assert fields["implementation"] == "compiled"
    assert fields["openssl"] == _core.OPENSSL_VERSION
    assert fields["openssl"].startswith("OpenSSL ")
    assert "compiled core missing" not in fields
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
    assert cli.self_check() == []


def test_self_check_failure_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "KNOWN_ECHO_PLAIN", b"not the answer")
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
