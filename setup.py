"""Build wxcorp_fast._core_c (Cython + libcrypto), or nothing in pure mode.

Pure mode: WXCORP_FAST_NO_EXTENSIONS truthy, or not CPython -> a py3-none-any wheel.
Otherwise the extension is attempted. When it cannot be built (no OpenSSL headers, no C
compiler, a failed compile or link) the build prints a loud warning naming what was missing
and installs the pure-Python package (msgpack's behaviour), unless
WXCORP_FAST_REQUIRE_COMPILED is truthy: then the build fails, naming libssl-dev /
openssl-devel, WXCORP_FAST_OPENSSL_PREFIX and the opt-out.

WXCORP_FAST_OPENSSL_STATIC=1 links libcrypto.a into the extension (the self-contained wheels):
OpenSSL's symbols stay private (-Wl,--exclude-libs,ALL), unused sections are dropped
(-ffunction-sections -fdata-sections -Wl,--gc-sections) and the result is stripped.
WXCORP_FAST_OPENSSL_DIR (alias: WXCORP_FAST_OPENSSL_PREFIX) names an OpenSSL prefix with
include/ and lib/ (tools/build-openssl.sh's output).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _pkg_config(*args: str) -> list[str]:
    if shutil.which("pkg-config") is None:
        return []
    try:
        out = subprocess.run(
            ["pkg-config", *args, "libcrypto"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


def _openssl_prefix() -> str | None:
    return os.environ.get("WXCORP_FAST_OPENSSL_DIR") or os.environ.get("WXCORP_FAST_OPENSSL_PREFIX")


def _openssl_paths() -> tuple[list[str], list[str]]:
    prefix = _openssl_prefix()
    if prefix:
        libdirs = [os.path.join(prefix, d) for d in ("lib", "lib64")]
        return [os.path.join(prefix, "include")], [d for d in libdirs if os.path.isdir(d)]
    includes = [flag[2:] for flag in _pkg_config("--cflags-only-I")]
    libdirs = [flag[2:] for flag in _pkg_config("--libs-only-L")]
    return includes, libdirs


MISSING_HEADERS = (
    "wxcorp_fast: OpenSSL headers (openssl/evp.h) not found. Install libssl-dev "
    "(Debian/Ubuntu), openssl-devel (RHEL/Fedora) or openssl-dev (Alpine), or point "
    "WXCORP_FAST_OPENSSL_PREFIX at an OpenSSL with include/ and lib/, or set "
    "WXCORP_FAST_NO_EXTENSIONS=1 for the pure-Python build."
)


def _has_header(include_dirs: list[str]) -> bool:
    candidates = [*include_dirs, "/usr/include", "/usr/local/include", "/opt/homebrew/include"]
    return sys.platform == "win32" or any(
        os.path.exists(os.path.join(d, "openssl", "evp.h")) for d in candidates
    )


def _fall_back(missing: str) -> None:
    """Warn loudly that the pure-Python package is installed instead of the compiled core."""
    bar = "*" * 78
    print(
        f"\n{bar}\n"
        f"WARNING: wxcorp_fast: the compiled core (wxcorp_fast._core_c) was NOT built:\n"
        f"  {missing}\n"
        f"Installing the pure-Python package instead: it works the same, 5-15x slower.\n"
        f"To get the compiled core: install a binary wheel\n"
        f"  (pip install --only-binary=wxcorp-fast wxcorp-fast),\n"
        f"or install a C compiler and the OpenSSL headers (libssl-dev on Debian/Ubuntu,\n"
        f"openssl-devel on RHEL/Fedora, openssl-dev on Alpine) and reinstall with\n"
        f"--no-cache-dir. Set WXCORP_FAST_REQUIRE_COMPILED=1 to make this an error.\n"
        f"{bar}\n",
        file=sys.stderr,
        flush=True,
    )


class BuildExt(build_ext):
    """Find OpenSSL and cythonize only when the extension is really built (not for sdists).

    A build that cannot succeed falls back to the pure package (see the module docstring).
    """

    def finalize_options(self) -> None:
        from Cython.Build import cythonize

        include_dirs, library_dirs = _openssl_paths()
        if not _has_header(include_dirs):  # only with WXCORP_FAST_REQUIRE_COMPILED set
            sys.exit(MISSING_HEADERS)
        static = _truthy("WXCORP_FAST_OPENSSL_STATIC")
        for ext in self.distribution.ext_modules:
            ext.include_dirs += include_dirs
            ext.library_dirs += library_dirs
            if static:
                ext.libraries = _static_libraries()
                ext.extra_objects = [_static_libcrypto(library_dirs)]
                ext.define_macros.append(("WXCORP_FAST_OPENSSL_STATIC", "1"))
                ext.extra_compile_args += _static_compile_args()
                ext.extra_link_args += _static_link_args()
        self.distribution.ext_modules = cythonize(
            self.distribution.ext_modules,
            include_path=["src_c"],
            compiler_directives={"language_level": "3", "embedsignature": True},
        )
        super().finalize_options()

    def build_extension(self, ext: Extension) -> None:
        from setuptools.errors import CCompilerError, ExecError, PlatformError

        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError, OSError) as exc:
            if _truthy("WXCORP_FAST_REQUIRE_COMPILED"):
                raise
            compiler = getattr(self.compiler, "compiler_so", None) or ["a C compiler"]
            missing = (
                f"no C compiler ({compiler[0]} not found)"
                if compiler and shutil.which(compiler[0]) is None
                else "compiling or linking the extension failed"
            )
            _fall_back(f"{missing}: {type(exc).__name__}: {exc}")

    def run(self) -> None:
        from setuptools.errors import PlatformError

        try:
            super().run()
        except PlatformError as exc:  # no compiler at all (e.g. MSVC missing)
            if _truthy("WXCORP_FAST_REQUIRE_COMPILED"):
                raise
            _fall_back(f"no C compiler: {exc}")


def _static_libraries() -> list[str]:
    if sys.platform == "win32":
        return ["advapi32", "crypt32", "user32", "ws2_32"]
    # OpenSSL's static libcrypto calls into libpthread and libdl (in libc since glibc 2.34)
    return ["pthread", "dl"] if sys.platform.startswith("linux") else []


def _static_compile_args() -> list[str]:
    # hidden visibility: only PyInit__core_c (PyMODINIT_FUNC) is exported, not the C scanners
    if sys.platform == "win32":
        return []
    return ["-ffunction-sections", "-fdata-sections", "-fvisibility=hidden"]


def _static_link_args() -> list[str]:
    """Keep OpenSSL private and drop what the core does not use."""
    if sys.platform == "win32":
        return []  # a .pyd exports only what is declared dllexport: PyInit__core_c
    if sys.platform == "darwin":
        return ["-Wl,-dead_strip", "-Wl,-exported_symbol,_PyInit__core_c", "-Wl,-x"]
    return ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections", "-s"]


def _static_libcrypto(library_dirs: list[str]) -> str:
    names = (
        ["libcrypto.lib", "libcrypto_static.lib"] if sys.platform == "win32" else ["libcrypto.a"]
    )
    for directory in library_dirs:
        for name in names:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return path
    if sys.platform != "win32":  # the compiler's own search path (Debian's libssl-dev)
        try:
            found = subprocess.run(
                [os.environ.get("CC", "cc"), "-print-file-name=libcrypto.a"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            found = ""
        if os.path.isabs(found) and os.path.exists(found):
            return found
    sys.exit(
        "wxcorp_fast: WXCORP_FAST_OPENSSL_STATIC=1 but no libcrypto.a found; set "
        "WXCORP_FAST_OPENSSL_DIR (or WXCORP_FAST_OPENSSL_PREFIX) to an OpenSSL with "
        "lib/libcrypto.a (tools/build-openssl.sh makes one)."
    )


def _extensions() -> list[Extension]:
    if _truthy("WXCORP_FAST_NO_EXTENSIONS") or sys.implementation.name != "cpython":
        print("*** wxcorp_fast: building the pure-Python package (no _core_c) ***")
        return []
    if not _truthy("WXCORP_FAST_REQUIRE_COMPILED") and not _has_header(_openssl_paths()[0]):
        # decided here, not in build_ext, so that the fallback is a py3-none-any wheel
        _fall_back("OpenSSL headers (openssl/evp.h) not found")
        return []
    print("*** wxcorp_fast: building the compiled core wxcorp_fast._core_c ***")
    compile_args = (
        []
        if sys.platform == "win32"
        else [
            "-O2",
            "-Wall",
            "-Werror=implicit-function-declaration",
        ]
    )
    return [
        Extension(
            "wxcorp_fast._core_c",
            sources=["src_c/_core_c.pyx", "src_c/xmlscan.c", "src_c/jsonscan.c"],
            include_dirs=["src_c"],
            libraries=["libcrypto"] if sys.platform == "win32" else ["crypto"],
            define_macros=[("OPENSSL_API_COMPAT", "0x10101000L")],
            extra_compile_args=compile_args,
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
