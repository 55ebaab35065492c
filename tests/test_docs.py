"""docs/reference.md covers every public name, with the signature the code has.

A class or function is documented when the reference shows it as `Name(parameters)`,
parameters as ``inspect.signature`` gives them without annotations (defaults as their repr,
callables by their dotted name); a constant, a protocol or a type alias when its name stands
in backticks. Nothing in the package's docstrings or the README cites a file users cannot see.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import wxcorp_fast

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"
PACKAGE_DIR = Path(wxcorp_fast.__file__).parent

#: the modules whose ``__all__`` is the public API (each room's door)
PUBLIC_MODULES = (
    "wxcorp_fast",
    "wxcorp_fast.crypto",
    "wxcorp_fast.errors",
    "wxcorp_fast.messages",
    "wxcorp_fast.replies",
    "wxcorp_fast.callback",
    "wxcorp_fast.api",
    "wxcorp_fast.aibot",
    "wxcorp_fast.testing",
    "wxcorp_fast.compat.wechatpy",
)


def _default(value: Any) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def rendered(obj: Any) -> str | None:
    """Return ``Name(parameters)`` as the reference writes it, or None (no signature)."""
    if (
        inspect.isclass(obj)
        and (getattr(obj, "_is_protocol", False) or obj.__init__ is object.__init__)
        and not hasattr(obj, "_fields")
    ):
        return None  # protocols and classes without an __init__ of their own: the name
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    parts: list[str] = []
    star = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            parts.append(f"*{param.name}")
            star = True
        elif param.kind is param.VAR_KEYWORD:
            parts.append(f"**{param.name}")
        else:
            if param.kind is param.KEYWORD_ONLY and not star:
                parts.append("*")
                star = True
            if param.default is param.empty:
                parts.append(param.name)
            else:
                parts.append(f"{param.name}={_default(param.default)}")
    return f"{obj.__name__}({', '.join(parts)})"


def public_names() -> list[tuple[str, str, Any]]:
    found = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        # the async API names are lazy (not in __all__: a star import must not need aiohttp)
        for name in [*module.__all__, *getattr(module, "ASYNC_NAMES", ())]:
            if name.startswith("__"):
                continue
            found.append((module_name, name, getattr(module, name)))
    return found


@pytest.mark.parametrize(("module", "name", "obj"), public_names(), ids=lambda x: str(x))
def test_every_public_name_is_in_the_reference(module: str, name: str, obj: Any) -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    if (inspect.isclass(obj) or inspect.isroutine(obj)) and (shown := rendered(obj)):
        assert f"`{shown}`" in text or f"{shown}`" in text, shown
    else:
        assert re.search(rf"`[^`]*\b{re.escape(name)}\b[^`]*`", text), name


def test_the_rendering_is_what_the_check_needs() -> None:
    assert rendered(wxcorp_fast.pkcs7_pad) == "pkcs7_pad(data, block_size=32)"
    assert rendered(wxcorp_fast.MultiAgentServerFrontend).startswith(
        "MultiAgentServerFrontend(invalid_request_handler=None, *, max_body_size=1048576"
    )


def _sources() -> list[Path]:
    return [*PACKAGE_DIR.rglob("*.py"), *PACKAGE_DIR.rglob("*.pyi"), ROOT / "README.md"]


def test_no_reference_to_a_file_users_cannot_see() -> None:
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for cited in re.findall(r"\b[\w/.-]+\.md\b", text):
            if "://" in cited:
                continue
            assert (ROOT / cited).exists() or (path.parent / cited).exists(), (path, cited)
