"""The installed distribution: what the wheel ships (STYLE 3.2, 4.2).

These tests read the installed ``wxcorp-fast`` metadata; they are marked ``installed`` and a
run from a source tree deselects them (scripts/test.sh runs them against the built wheel).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import PurePosixPath

import pytest

import wxcorp_fast


pytestmark = pytest.mark.installed


@pytest.fixture(scope="module")
def dist() -> metadata.Distribution:
    """Return the installed distribution that ``wxcorp_fast`` was imported from."""
    dist = metadata.distribution("wxcorp-fast")
    assert dist.read_text("WHEEL") is not None, "metadata not from an installed wheel"
    installed = os.path.realpath(dist.locate_file("wxcorp_fast/__init__.py"))
    assert installed == os.path.realpath(wxcorp_fast.__file__)
    return dist


@pytest.fixture(scope="module")
def files(dist: metadata.Distribution) -> list[PurePosixPath]:
    """Return the files the installed wheel's RECORD lists."""
    assert dist.files is not None
    return [PurePosixPath(str(f)) for f in dist.files]


def test_version_matches_metadata(dist: metadata.Distribution) -> None:
    assert dist.version == wxcorp_fast.__version__


def test_ships_the_package_and_its_markers(files: list[PurePosixPath]) -> None:
    names = {str(f) for f in files}
    for needed in (
        "wxcorp_fast/__init__.py",
        "wxcorp_fast/__main__.py",
        "wxcorp_fast/cli.py",
        "wxcorp_fast/api/__init__.py",
        "wxcorp_fast/_core_py.py",
        "wxcorp_fast/py.typed",
        "wxcorp_fast/testing/vectors.py",
    ):
        assert needed in names


def test_ships_no_sources_or_tests(files: list[PurePosixPath]) -> None:
    for f in files:
        assert f.suffix not in {".pyx", ".pxd", ".c", ".h", ".html"}, f
        assert f.parts[0] not in {"src_c", "tests", "bench", "scripts"}, f


@pytest.mark.compiled
def test_compiled_core_is_in_the_wheel(files: list[PurePosixPath]) -> None:
    package = PurePosixPath("wxcorp_fast")
    cores = [f for f in files if f.parent == package and f.name.startswith("_core_c.")]
    assert any(f.suffix in {".so", ".pyd"} for f in cores), cores
