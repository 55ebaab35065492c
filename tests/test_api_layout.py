"""The ``wxcorp_fast.api`` room: one door, no import cycle, type hints that resolve.

Each module is imported alone in a fresh interpreter (``-W error``), so that a name bound
only under ``TYPE_CHECKING`` or an import cycle broken by import order shows up here.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import wxcorp_fast.api

MODULES = sorted(
    f"wxcorp_fast.api.{info.name}" for info in pkgutil.iter_modules(wxcorp_fast.api.__path__)
) + ["wxcorp_fast.api", "wxcorp_fast.errors"]

CHECK = """
import importlib, inspect, sys, typing
module = importlib.import_module(sys.argv[1])
checked = 0
for name in getattr(module, "__all__", ()):
    obj = getattr(module, name)
    if inspect.isclass(obj):
        typing.get_type_hints(obj)
        for attr, member in vars(obj).items():
            if inspect.isfunction(member) and (attr == "__init__" or not attr.startswith("_")):
                typing.get_type_hints(member)
                checked += 1
    elif inspect.isfunction(obj):
        typing.get_type_hints(obj)
        checked += 1
print(checked)
"""


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_and_its_hints_resolve(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHECK, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_one_door() -> None:
    """The room's names come from ``wxcorp_fast.api``; the everyday ones also from the top
    level (imported there on first use), as the very same objects."""
    import wxcorp_fast

    assert wxcorp_fast.LAZY_API_NAMES <= set(wxcorp_fast.api.__all__)
    assert wxcorp_fast.LAZY_API_NAMES <= set(wxcorp_fast.__all__)
    for name in wxcorp_fast.LAZY_API_NAMES:
        assert getattr(wxcorp_fast, name) is getattr(wxcorp_fast.api, name)
    assert not hasattr(wxcorp_fast, "JsapiTicketServer")  # the room's own: wxcorp_fast.api


def _new_modules(statement: str) -> set[str]:
    """Return the modules ``statement`` loads in a fresh interpreter beyond what ``-c pass``
    has (``site``, a ``sitecustomize``)."""
    code = f"import sys; before = set(sys.modules); {statement}; print(*set(sys.modules) - before)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(proc.stdout.split())


def test_import_wxcorp_fast_loads_the_errors_only() -> None:
    """Every top-level name but the errors comes on first use (``LAZY_NAMES``): no room, no
    ``typing``, ``asyncio``, ``logging`` nor urllib3 at ``import wxcorp_fast``."""
    assert _new_modules("import wxcorp_fast") <= {"wxcorp_fast", "wxcorp_fast.errors", "__future__"}


def test_every_top_level_name_is_eager_or_lazy() -> None:
    eager = {"__version__"} | {name for name in wxcorp_fast.__all__ if name.endswith("Error")}
    assert set(wxcorp_fast.LAZY_NAMES) | eager == set(wxcorp_fast.__all__)
    assert not set(wxcorp_fast.LAZY_NAMES) & eager
    assert set(wxcorp_fast.__all__) <= set(dir(wxcorp_fast))
    for name, room in wxcorp_fast.LAZY_NAMES.items():
        module = sys.modules[f"wxcorp_fast{room}"] if room != "._core" else wxcorp_fast._core
        assert getattr(wxcorp_fast, name) is getattr(module, name), name
    with pytest.raises(AttributeError, match="Nope"):
        wxcorp_fast.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_a_room_loads_on_first_attribute_access() -> None:
    loaded = _new_modules("import wxcorp_fast; wxcorp_fast.crypto.MsgCrypto")
    assert "wxcorp_fast.crypto" in loaded and "wxcorp_fast.callback" not in loaded


def test_import_wxcorp_fast_leaves_the_api_room_unloaded() -> None:
    code = (
        "import sys, wxcorp_fast;"
        "print(sorted(m for m in ('urllib3', 'wxcorp_fast.api') if m in sys.modules));"
        "wxcorp_fast.CorpClient;"
        "print('wxcorp_fast.api' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split("\n")[:2] == ["[]", "True"]


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        # the crypto primitives alone: no callback server, no API client, no logging
        (
            "from wxcorp_fast import MsgCrypto",
            {"wxcorp_fast.callback", "wxcorp_fast.api", "urllib3", "asyncio", "logging"},
        ),
        # a WSGI callback server: asyncio comes with the ASGI path or a reply deadline only
        (
            "from wxcorp_fast import AgentServerFrontend, MsgCrypto;"
            "from wxcorp_fast.replies import TextReply",
            {"wxcorp_fast.api", "urllib3", "asyncio"},
        ),
        ("from wxcorp_fast.aibot import AIBotServer", {"wxcorp_fast.api", "urllib3", "asyncio"}),
    ],
    ids=["crypto", "callback", "aibot"],
)
def test_the_common_imports_leave_asyncio_and_the_api_unloaded(
    statement: str, absent: set[str]
) -> None:
    assert not _new_modules(statement) & absent


def test_errcode_constants_live_beside_the_errors() -> None:
    from wxcorp_fast import errors
    from wxcorp_fast.api import client

    for name in (
        "ERR_CODE_OK",
        "ERR_CODE_ACCESS_TOKEN_EXPIRED",
        "ERR_CODE_SUITE_ACCESS_TOKEN_EXPIRED",
    ):
        assert getattr(client, name) is getattr(errors, name) is getattr(wxcorp_fast.api, name)


def test_async_names_are_imported_on_first_use() -> None:
    code = (
        "import sys, wxcorp_fast, wxcorp_fast.api as api\n"
        "assert 'aiohttp' not in sys.modules, 'the blocking side imported aiohttp'\n"
        "assert set(api.ASYNC_NAMES) <= set(dir(api))\n"
        "from wxcorp_fast.api import AsyncCorpClient\n"
        "from wxcorp_fast.api.async_client import AsyncCorpClient as same\n"
        "assert AsyncCorpClient is same and 'aiohttp' in sys.modules\n"
        "try:\n"
        "    api.Nope\n"
        "except AttributeError as exc:\n"
        "    assert 'Nope' in str(exc)\n"
        "else:\n"
        "    raise AssertionError\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_lazy_module_resolves_once() -> None:
    """The stand-in imports on first attribute access and rebinds the global to the module,
    so the per-request paths look ``asyncio`` up as they did with an eager import."""
    code = (
        "import sys\n"
        "import wxcorp_fast.callback.deferred as d\n"
        "assert 'asyncio' not in sys.modules and 'imported on first use' in repr(d.asyncio)\n"
        "d.asyncio.Event\n"
        "assert d.asyncio is sys.modules['asyncio']\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], timeout=60, check=True)
