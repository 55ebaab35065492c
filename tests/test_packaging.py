"""The installed distribution: what the wheel ships (STYLE 3.2, 4.2).

These tests read the installed ``wxcorp-fast`` metadata; a run from a source tree without an
installed distribution skips them.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import PurePosixPath

import pytest

import wxcorp_fast
from wxcorp_fast import _impl


@pytest.fixture(scope="module")
def dist() -> metadata.Distribution:
    """Return the installed distribution that ``wxcorp_fast`` was imported from."""
    try:
        dist = metadata.distribution("wxcorp-fast")
    except metadata.PackageNotFoundError:
        pytest.skip("wxcorp-fast is not installed (source-tree run)")
    if dist.read_text("WHEEL") is None:  # e.g. a source tree's wxcorp_fast.egg-info
        pytest.skip("wxcorp-fast metadata does not come from an installed wheel")
    installed = os.path.realpath(dist.locate_file("wxcorp_fast/__init__.py"))
    if installed != os.path.realpath(wxcorp_fast.__file__):
        pytest.skip(f"wxcorp_fast is imported from {wxcorp_fast.__file__}, not the installed wheel")
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
        "wxcorp_fast/_pycore.py",
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
    if not _impl._truthy("WXCORP_FAST_REQUIRE_COMPILED"):
        pytest.skip("only when WXCORP_FAST_REQUIRE_COMPILED is set (the wheel must be compiled)")
    package = PurePosixPath("wxcorp_fast")
    cores = [f for f in files if f.parent == package and f.name.startswith("_core.")]
    assert any(f.suffix in {".so", ".pyd"} for f in cores), cores
