"""Choosing the twin at import: environment flags, IMPLEMENTATION, no wrapper on the hot path.

Imports under a given environment run in fresh subprocesses (``python -I``-like: the
flags are read once, at import). Cases that need the compiled core are marked
``compiled`` so that a ``WXCORP_FAST_NO_EXTENSIONS=1`` run (the pure wheel) deselects
them; everything else holds in both CI runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wxcorp_fast
import wxcorp_fast._core

FLAGS = ("WXCORP_FAST_NO_EXTENSIONS", "WXCORP_FAST_REQUIRE_COMPILED")
PROBE = (
    "import json, wxcorp_fast, wxcorp_fast._core as i; "
    "print(json.dumps([wxcorp_fast.IMPLEMENTATION, i.IMPORT_ERROR, i.core.__name__]))"
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


def import_with(**env: str) -> subprocess.CompletedProcess[str]:
    """Import wxcorp_fast in a fresh interpreter with exactly these flags set."""
    environ = {k: val for k, val in os.environ.items() if k not in FLAGS}
    environ.update(env)
    # The package as this process sees it (source tree or installed wheel) comes first.
    root = str(Path(wxcorp_fast.__file__).resolve().parent.parent)
    environ["PYTHONPATH"] = os.pathsep.join([root, environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, timeout=120
    )


def selected(**env: str) -> list[str | None]:
    proc = import_with(**env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- this process


def test_implementation_matches_environment():
    """CI runs the suite under each flag; the selection in this process must follow it."""
    impl = wxcorp_fast.IMPLEMENTATION
    assert impl in ("compiled", "python")
    if _truthy(os.environ.get("WXCORP_FAST_NO_EXTENSIONS")):
        assert impl == "python"
        assert wxcorp_fast._core.IMPORT_ERROR == "disabled by WXCORP_FAST_NO_EXTENSIONS"
    elif _truthy(os.environ.get("WXCORP_FAST_REQUIRE_COMPILED")):
        assert impl == "compiled"
        assert wxcorp_fast._core.IMPORT_ERROR is None
    expected_module = "wxcorp_fast._core_py" if impl == "python" else "wxcorp_fast._core_c"
    assert wxcorp_fast._core.core.__name__ == expected_module


PUBLIC_CORE_NAMES = [
    "decode_aes_key",
    "msg_signature",
    "signature",
    "pkcs7_pad",
    "pkcs7_unpad",
    "pack_frame",
    "unpack_frame",
    "encrypt_msg",
    "decrypt_msg",
    "parse_envelope",
    "parse_message",
    "MsgCrypto",
]


@pytest.mark.parametrize("name", PUBLIC_CORE_NAMES)
def test_reexports_are_the_selected_functions(name):
    """``wxcorp_fast.decrypt_msg is wxcorp_fast._core.core.decrypt_msg``: no wrapper."""
    assert getattr(wxcorp_fast, name) is getattr(wxcorp_fast._core.core, name)
    assert name in wxcorp_fast.__all__


# The AI-bot names of the core are re-exported by wxcorp_fast.aibot (tests/test_aibot_core.py).
AIBOT_CORE_NAMES = ["parse_aibot_message", "AIBotCrypto"]


def test_core_all_is_the_reexported_set():
    assert list(wxcorp_fast._core.core.__all__) == PUBLIC_CORE_NAMES + AIBOT_CORE_NAMES


# --------------------------------------------------------------------------- subprocess imports


@pytest.mark.parametrize("value", ["1", "yes", "true", "TRUE", "Y", "on", " 1 "])
def test_no_extensions_forces_python(value):
    impl, error, module = selected(WXCORP_FAST_NO_EXTENSIONS=value)
    assert (impl, module) == ("python", "wxcorp_fast._core_py")
    assert error == "disabled by WXCORP_FAST_NO_EXTENSIONS"


@pytest.mark.compiled
@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "NO", " 0 "])
def test_falsy_no_extensions_keeps_compiled(value):
    assert selected(WXCORP_FAST_NO_EXTENSIONS=value) == ["compiled", None, "wxcorp_fast._core_c"]


@pytest.mark.compiled
def test_compiled_wins_by_default():
    assert selected() == ["compiled", None, "wxcorp_fast._core_c"]


@pytest.mark.compiled
@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_require_compiled(value):
    assert selected(WXCORP_FAST_REQUIRE_COMPILED=value) == ["compiled", None, "wxcorp_fast._core_c"]


@pytest.mark.parametrize("value", ["1", "true"])
def test_require_compiled_conflicts_with_no_extensions(value):
    proc = import_with(WXCORP_FAST_REQUIRE_COMPILED=value, WXCORP_FAST_NO_EXTENSIONS="1")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "WXCORP_FAST_REQUIRE_COMPILED" in proc.stderr


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_falsy_require_compiled_allows_python(value):
    impl, _, _ = selected(WXCORP_FAST_REQUIRE_COMPILED=value, WXCORP_FAST_NO_EXTENSIONS="1")
    assert impl == "python"


BLOCK_CORE = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'wxcorp_fast._core_c':\n"
    "            raise ImportError('blocked for the test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def run_blocked(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: val for k, val in os.environ.items() if k not in FLAGS}
    environ.update(env)
    root = str(Path(wxcorp_fast.__file__).resolve().parent.parent)
    environ["PYTHONPATH"] = os.pathsep.join([root, environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return subprocess.run(
        [sys.executable, "-c", BLOCK_CORE + PROBE.replace("; ", "\n")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_extension_falls_back_with_reason():
    proc = run_blocked()
    assert proc.returncode == 0, proc.stderr
    impl, error, module = json.loads(proc.stdout)
    assert (impl, module) == ("python", "wxcorp_fast._core_py")
    assert error == "ImportError: blocked for the test"


@pytest.mark.parametrize("value", ["1", "true"])
def test_missing_extension_with_require_compiled_is_an_import_error(value):
    proc = run_blocked(WXCORP_FAST_REQUIRE_COMPILED=value)
    assert proc.returncode != 0
    assert (
        "ImportError: WXCORP_FAST_REQUIRE_COMPILED is set but wxcorp_fast._core_c failed to import"
        in proc.stderr
    )
    assert "blocked for the test" in proc.stderr


def test_flags_are_read_once_at_import(monkeypatch):
    """Changing the environment after import changes nothing."""
    before = (wxcorp_fast.IMPLEMENTATION, wxcorp_fast.decrypt_msg)
    monkeypatch.setenv("WXCORP_FAST_NO_EXTENSIONS", "0" if before[0] == "python" else "1")
    assert (wxcorp_fast.IMPLEMENTATION, wxcorp_fast.decrypt_msg) == before


# `import wxcorp_fast` alone loads no twin (its names come on first use); the first name that
# needs the core loads the selected one only
LOADED = (
    "import sys, json, wxcorp_fast; "
    "assert not [m for m in sys.modules if m.startswith('wxcorp_fast._')]; "
    "wxcorp_fast.MsgCrypto; "
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wxcorp_fast._'))))"
)


@pytest.mark.parametrize(
    ("env", "loaded", "absent"),
    [
        pytest.param(
            {},
            "wxcorp_fast._core_c",
            "wxcorp_fast._core_py",
            marks=pytest.mark.compiled,
            id="compiled",
        ),
        pytest.param(
            {"WXCORP_FAST_NO_EXTENSIONS": "1"},
            "wxcorp_fast._core_py",
            "wxcorp_fast._core_c",
            id="python",
        ),
    ],
)
def test_only_the_selected_twin_is_imported(env, loaded, absent):
    environ = {k: val for k, val in os.environ.items() if k not in FLAGS}
    environ.update(env)
    environ["PYTHONPATH"] = str(Path(wxcorp_fast.__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", LOADED], env=environ, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert loaded in modules and absent not in modules
