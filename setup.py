"""Build wxcorp_fast._core_c (Cython + libcrypto), or nothing in pure mode.

Pure mode: WXCORP_FAST_NO_EXTENSIONS truthy, or not CPython -> a py3-none-any wheel.
Otherwise the extension is required: a missing OpenSSL header fails the build, naming
libssl-dev / openssl-devel, WXCORP_FAST_OPENSSL_PREFIX and the opt-out.
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


def _openssl_paths() -> tuple[list[str], list[str]]:
    prefix = os.environ.get("WXCORP_FAST_OPENSSL_PREFIX")
    if prefix:
        return [os.path.join(prefix, "include")], [os.path.join(prefix, "lib")]
    includes = [flag[2:] for flag in _pkg_config("--cflags-only-I")]
    libdirs = [flag[2:] for flag in _pkg_config("--libs-only-L")]
    return includes, libdirs


def _check_header(include_dirs: list[str]) -> None:
    candidates = [*include_dirs, "/usr/include", "/usr/local/include", "/opt/homebrew/include"]
    if sys.platform == "win32" or any(
        os.path.exists(os.path.join(d, "openssl", "evp.h")) for d in candidates
    ):
        return
    sys.exit(
        "wxcorp_fast: OpenSSL headers (openssl/evp.h) not found. Install libssl-dev "
        "(Debian/Ubuntu), openssl-devel (RHEL/Fedora) or openssl-dev (Alpine), or point "
        "WXCORP_FAST_OPENSSL_PREFIX at an OpenSSL with include/ and lib/, or set "
        "WXCORP_FAST_NO_EXTENSIONS=1 for the pure-Python build."
    )


class BuildExt(build_ext):
    """Find OpenSSL and cythonize only when the extension is really built (not for sdists)."""

    def finalize_options(self) -> None:
        from Cython.Build import cythonize

        include_dirs, library_dirs = _openssl_paths()
        _check_header(include_dirs)
        for ext in self.distribution.ext_modules:
            ext.include_dirs += include_dirs
            ext.library_dirs += library_dirs
            if _truthy("WXCORP_FAST_OPENSSL_STATIC"):
                ext.libraries = _static_libraries()
                ext.extra_objects = [_static_libcrypto(library_dirs)]
        self.distribution.ext_modules = cythonize(
            self.distribution.ext_modules,
            include_path=["src_c"],
            compiler_directives={"language_level": "3", "embedsignature": True},
        )
        super().finalize_options()


def _static_libraries() -> list[str]:
    return ["advapi32", "crypt32", "user32", "ws2_32"] if sys.platform == "win32" else []


def _static_libcrypto(library_dirs: list[str]) -> str:
    for directory in library_dirs:
        path = os.path.join(directory, "libcrypto.a")
        if os.path.exists(path):
            return path
    sys.exit(
        "wxcorp_fast: WXCORP_FAST_OPENSSL_STATIC=1 but no libcrypto.a found; set "
        "WXCORP_FAST_OPENSSL_PREFIX to an OpenSSL with lib/libcrypto.a."
    )


def _extensions() -> list[Extension]:
    if _truthy("WXCORP_FAST_NO_EXTENSIONS") or sys.implementation.name != "cpython":
        print("*** wxcorp_fast: building the pure-Python package (no _core_c) ***")
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
