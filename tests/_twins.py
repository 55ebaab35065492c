"""The project's test machinery: the two twins of the crypto core as one fixture.

``core_impl`` is a session fixture parametrized over the twins, ids ``compiled`` and
``python``, the compiled one marked ``compiled``. The facade follows multidict's and
propcache's ``tests/conftest.py``: a frozen dataclass that imports its module lazily, so a
broken build is an *error* of every compiled test, never a skip. ``--no-compiled`` or a truthy
``WXCORP_FAST_NO_EXTENSIONS`` *deselects* the compiled params instead. ``bench/`` imports
the same hooks.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from types import ModuleType
from typing import Any

import pytest

from wxcorp_fast._spec import truthy

__all__ = [
    "CoreImplementation",
    "CORE_IMPLEMENTATIONS",
    "core_impl",
    "compiled_disabled",
    "pytest_addoption",
    "pytest_configure",
    "pytest_collection_modifyitems",
]

NO_COMPILED_OPTION = "--no-compiled"
COMPILED_MARKER = "compiled: runs against the compiled core (deselected by --no-compiled)"


@dataclasses.dataclass(frozen=True)
class CoreImplementation:
    """One twin of the crypto core; attribute access reaches into its module.

    ``core_impl.decrypt_msg`` is the twin's own function object, so the tests call
    exactly what ``wxcorp_fast`` re-exports.
    """

    is_pure_python: bool

    @property
    def tag(self) -> str:
        """Return the test id: ``"python"`` or ``"compiled"``."""
        return "python" if self.is_pure_python else "compiled"

    @property
    def module_name(self) -> str:
        """Return the dotted name of the twin."""
        return "wxcorp_fast._core_py" if self.is_pure_python else "wxcorp_fast._core_c"

    @property
    def imported_module(self) -> ModuleType:
        """Import the twin (an ``ImportError`` here fails the test)."""
        return importlib.import_module(self.module_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.imported_module, name)


CORE_IMPLEMENTATIONS = [
    pytest.param(
        CoreImplementation(is_pure_python=False), id="compiled", marks=pytest.mark.compiled
    ),
    pytest.param(CoreImplementation(is_pure_python=True), id="python"),
]


@pytest.fixture(scope="session", params=CORE_IMPLEMENTATIONS)
def core_impl(request: pytest.FixtureRequest) -> CoreImplementation:
    """Return each twin of the crypto core in turn (compiled first)."""
    impl: CoreImplementation = request.param
    impl.imported_module  # noqa: B018 - a compiled core that fails to import is an error
    return impl


def compiled_disabled(config: pytest.Config) -> bool:
    """Tell whether the compiled params are deselected in this run."""
    return bool(config.getoption(NO_COMPILED_OPTION)) or truthy("WXCORP_FAST_NO_EXTENSIONS")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--no-compiled``."""
    parser.addoption(
        NO_COMPILED_OPTION,
        action="store_true",
        default=False,
        help="deselect the tests of the compiled core (also: WXCORP_FAST_NO_EXTENSIONS=1)",
    )


INSTALLED_MARKER = "installed: needs wxcorp_fast imported from an installed distribution"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers (also declared in pyproject for --strict-markers)."""
    config.addinivalue_line("markers", COMPILED_MARKER)
    config.addinivalue_line("markers", INSTALLED_MARKER)


def _from_installed_distribution() -> bool:
    import sysconfig

    import wxcorp_fast

    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    return os.path.realpath(wxcorp_fast.__file__).startswith(site + os.sep)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the tests marked ``compiled`` when the compiled core is off,
    and those marked ``installed`` in a run from a source tree."""
    drop_compiled = compiled_disabled(config)
    drop_installed = not _from_installed_distribution()
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        drop = (drop_compiled and item.get_closest_marker("compiled")) or (
            drop_installed and item.get_closest_marker("installed")
        )
        (dropped if drop else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
