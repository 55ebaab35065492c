# shellcheck shell=bash
# Shared setup of scripts/run.sh and scripts/test.sh; sourced, never executed.
#
#   wx_setup [GROUP...]
#
# installs OpenSSL headers if missing (apt-get), creates a fresh venv in a private temporary
# directory, builds the sdist and the wheel with `python -m build` (build isolation) from a
# clean copy of the checkout, copies both into dist/, installs the wheel plus the named
# [dependency-groups] of pyproject.toml, and checks the package imports from the venv.
# Nothing is reused between runs except pip's own cache. Afterwards:
#   WX_ROOT   the repository root          WX_TMP    the private temporary directory
#   WX_PY     the venv's python            WX_WHEEL  the installed wheel
#   WX_SRC    the clean copy the sdist was built from
# WX_EXTRAS (set by the caller) names extras installed with the wheel, e.g. "server".
# WX_TMP is removed on exit unless WXCORP_FAST_KEEP_TMP=1. PYTHON picks the interpreter
# (default python3, >= 3.10).

# shellcheck disable=SC2034  # WX_* are read by the scripts that source this file
WX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WX_TMP=
WX_BG_PID=
WX_SRC=
WX_PY=
WX_WHEEL=
WX_START=$SECONDS

wx_log() { printf '==> [%3ds] %s\n' "$((SECONDS - WX_START))" "$*" >&2; }
wx_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

wx_truthy() {
    local value
    value=$(printf '%s' "${!1:-}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')
    [[ -n $value && $value != 0 && $value != false && $value != no ]]
}

# On exit: the sourcing script's wx_exit_hook (if defined) gets the exit status, then WX_TMP goes.
wx_on_exit() {
    local rc=$?
    if [[ -n $WX_BG_PID ]] && kill -0 "$WX_BG_PID" 2>/dev/null; then
        kill -TERM -- "-$WX_BG_PID" 2>/dev/null || kill -TERM "$WX_BG_PID" 2>/dev/null || true
        wait "$WX_BG_PID" 2>/dev/null || true
    fi
    if declare -F wx_exit_hook >/dev/null; then
        wx_exit_hook "$rc" || true
    fi
    if [[ -n $WX_TMP && -d $WX_TMP ]]; then
        if wx_truthy WXCORP_FAST_KEEP_TMP; then
            wx_log "kept $WX_TMP"
        else
            # in the background: deleting ~4000 files can take seconds on a disk mounted with
            # `discard`, and nothing waits for it (every run uses a new directory)
            rm -rf "$WX_TMP" >/dev/null 2>&1 &
        fi
    fi
    return "$rc"
}
trap wx_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Debian packages: for the compiled build libssl-dev when the headers are missing, pkg-config
# (nice to have: setup.py falls back to the compiler's defaults) and a C compiler; and every
# program named in WX_PROGRAMS (e.g. redis-server for the tests), each from the Debian package
# of the same name.
wx_system_deps() {
    local need=() want=() program
    for program in ${WX_PROGRAMS:-}; do
        command -v "$program" >/dev/null 2>&1 || need+=("$program")
    done
    if wx_truthy WXCORP_FAST_NO_EXTENSIONS; then
        :
    elif [[ -n ${WXCORP_FAST_OPENSSL_PREFIX:-} ]]; then
        [[ -e $WXCORP_FAST_OPENSSL_PREFIX/include/openssl/evp.h ]] ||
            wx_die "WXCORP_FAST_OPENSSL_PREFIX=$WXCORP_FAST_OPENSSL_PREFIX has no include/openssl/evp.h"
    elif [[ ! -e /usr/include/openssl/evp.h && ! -e /usr/local/include/openssl/evp.h ]] &&
        ! pkg-config --exists libcrypto 2>/dev/null; then
        need+=(libssl-dev)
    fi
    if ! wx_truthy WXCORP_FAST_NO_EXTENSIONS; then
        command -v "${CC:-cc}" >/dev/null 2>&1 || need+=(gcc libc6-dev)
        command -v pkg-config >/dev/null 2>&1 || want+=(pkg-config)
    fi
    ((${#need[@]} + ${#want[@]})) || return 0

    local sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            sudo=(false)
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1 || [[ ${sudo[0]:-} == false ]]; then
        ((${#need[@]})) || { wx_log "pkg-config not found and cannot install it; continuing"; return 0; }
        wx_die "missing ${need[*]} and cannot apt-get (needs Debian/Ubuntu and root). Install" \
            "them; for the OpenSSL headers (libssl-dev / openssl-devel / openssl-dev) you may" \
            "instead set WXCORP_FAST_OPENSSL_PREFIX, or WXCORP_FAST_NO_EXTENSIONS=1 for the pure build."
    fi
    wx_log "apt-get install ${need[*]} ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if "${sudo[@]}" apt-get update -qq >&2 &&
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" "${want[@]}" >&2; then
        return 0
    fi
    ((${#need[@]})) && wx_die "apt-get install ${need[*]} failed"
    wx_log "could not install pkg-config; continuing without it"
}

wx_python() {
    local python=${PYTHON:-python3}
    command -v "$python" >/dev/null 2>&1 || wx_die "$python not found (set PYTHON=...)"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        wx_die "$python is older than 3.10"
    printf '%s\n' "$python"
}

# A clean copy of the checkout (run from WX_ROOT): tracked and untracked-but-not-ignored files,
# i.e. a fresh clone plus uncommitted work. The build never writes into the working tree (no
# egg-info, no generated C), so it cannot race an in-place build, and no stale or ignored file
# can leak into the sdist.
wx_copy_tree() {
    local dest=$1
    mkdir -p "$dest"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard |
            "$WX_PY" -c '
import os, shutil, sys
dest = sys.argv[1]
for name in sys.stdin.buffer.read().decode().split("\0"):
    if name and os.path.isfile(name):  # skip deleted files and submodules
        os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
        shutil.copy2(name, os.path.join(dest, name))
' "$dest"
    else
        # not a git checkout (an unpacked sdist): copy all but build products
        tar --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.so' \
            --exclude=__pycache__ -cf - . | tar -C "$dest" -xf -
    fi
}

# A venv with pip >= 25.1 (it installs [dependency-groups] with --group, so pyproject.toml
# stays the one list) and build. Without ensurepip when the host pip can install into it
# (pip >= 22.3 has --python): that saves bootstrapping an old pip only to replace it.
wx_venv() {
    local python=$1 venv=$2 tools=("pip>=25.1" "build>=1.2")
    local pip_q=(-q --disable-pip-version-check)
    if "$python" -c 'import sys
from pip import __version__ as v
sys.exit(tuple(map(int, v.split(".")[:2])) < (22, 3))' 2>/dev/null; then
        "$python" -m venv --without-pip "$venv" &&
            "$python" -m pip "${pip_q[@]}" --python "$venv/bin/python" install "${tools[@]}" >&2 &&
            return 0
        rm -rf "$venv"
    fi
    "$python" -m venv "$venv" ||
        wx_die "$python -m venv failed (on Debian's python3: apt-get install python3-venv)"
    "$venv/bin/python" -m pip "${pip_q[@]}" install "${tools[@]}" >&2
}

# Runs in the background while the test dependencies install; output in $WX_TMP/build.log.
wx_build() {
    local unpacked
    # The sdist does not depend on the build mode (MANIFEST.in decides its content), so it is
    # built pure: no Cython run, no OpenSSL headers needed. The wheel is then built from the
    # unpacked sdist, as `python -m build` does by default, which proves the sdist complete.
    WXCORP_FAST_NO_EXTENSIONS=1 "$WX_PY" -m build --sdist --outdir "$WX_TMP/dist" "$WX_SRC" &&
        mkdir -p "$WX_TMP/unpacked" &&
        tar -xzf "$WX_TMP"/dist/*.tar.gz -C "$WX_TMP/unpacked" &&
        unpacked=$(find "$WX_TMP/unpacked" -mindepth 1 -maxdepth 1 -type d -print -quit) &&
        "$WX_PY" -m build --wheel --outdir "$WX_TMP/dist" "$unpacked"
}

wx_setup() {
    local groups=("$@") python group wheel sdist build_pid build_rc=0
    local pip_q=(-q --disable-pip-version-check)
    unset PYTHONPATH PYTHONHOME PIP_REQUIRE_VIRTUALENV
    wx_system_deps
    python=$(wx_python)

    WX_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxcorp_fast.XXXXXX")
    WX_SRC=$WX_TMP/src
    WX_PY=$WX_TMP/venv/bin/python

    wx_log "fresh venv ($("$python" -c 'import sys; print(sys.version.split()[0])')) in $WX_TMP/venv"
    wx_venv "$python" "$WX_TMP/venv"
    (cd "$WX_ROOT" && wx_copy_tree "$WX_SRC") || wx_die "could not copy the checkout"
    [[ -f $WX_SRC/pyproject.toml ]] || wx_die "the copy of $WX_ROOT has no pyproject.toml"

    wx_log "python -m build: sdist, then the wheel from the sdist (log: build.log)"
    set -m  # the build gets its own process group, so wx_on_exit can stop all of it
    wx_build >"$WX_TMP/build.log" 2>&1 &
    build_pid=$!
    set +m
    WX_BG_PID=$build_pid
    if ((${#groups[@]})); then
        wx_log "pip install dependency groups: ${groups[*]} (while the wheel builds)"
        local group_args=()
        for group in "${groups[@]}"; do
            group_args+=(--group "$WX_SRC/pyproject.toml:$group")
        done
        "$WX_PY" -m pip "${pip_q[@]}" install "${group_args[@]}" >&2 ||
            wx_die "pip install of the dependency groups failed"
    fi
    wait "$build_pid" || build_rc=$?
    WX_BG_PID=
    if ((build_rc)); then
        cat "$WX_TMP/build.log" >&2
        wx_die "python -m build failed (exit $build_rc, log above)"
    fi
    sdist=$(find "$WX_TMP/dist" -maxdepth 1 -name '*.tar.gz' -print -quit)
    wheel=$(find "$WX_TMP/dist" -maxdepth 1 -name '*.whl' -print -quit)
    [[ -n $sdist && -n $wheel ]] || wx_die "python -m build made no sdist or wheel"
    mkdir -p "$WX_ROOT/dist"
    rm -f "$WX_ROOT"/dist/wxcorp_fast-*
    cp "$sdist" "$wheel" "$WX_ROOT/dist/"
    WX_WHEEL=$wheel
    wx_log "built dist/$(basename "$sdist") and dist/$(basename "$wheel")"

    # WX_EXTRAS: optional-dependencies of the wheel to install with it (e.g. "server")
    local requirement=$wheel${WX_EXTRAS:+[$WX_EXTRAS]}
    wx_log "pip install $(basename "$requirement")"
    "$WX_PY" -m pip "${pip_q[@]}" install "$requirement" >&2

    # The package must come from the venv's site-packages, never from a source tree.
    (cd "$WX_TMP" && "$WX_PY" -c '
import os, sys, sysconfig, wxcorp_fast
site = {os.path.realpath(sysconfig.get_path(k)) for k in ("purelib", "platlib")}
path = os.path.realpath(wxcorp_fast.__file__)
if not any(path.startswith(s + os.sep) for s in site):
    sys.exit(f"wxcorp_fast imported from {path}, not from the venv site-packages {site}")
') || wx_die "the installed wheel is not what imports"
}
