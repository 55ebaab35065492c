#!/usr/bin/env bash
# Build a static OpenSSL libcrypto for the self-contained wheels, installed under PREFIX
# (include/ and lib/libcrypto.a), for setup.py's WXCORP_FAST_OPENSSL_DIR.
#
#   tools/build-openssl.sh PREFIX [SOURCE]
#
# SOURCE is an OpenSSL source tree or release tarball (e.g. Debian's openssl_3.5.7.orig.tar.gz,
# which is the upstream tarball: `apt-get source --download-only openssl` where deb-src is
# enabled). Without SOURCE the pinned release tarball is downloaded from OpenSSL's GitHub
# releases. A tarball, given or downloaded, must have the pinned SHA-256 unless
# OPENSSL_SHA256 names another; a source tree is taken as it is (the caller vouches for it).
#
# Why 3.5: it is OpenSSL's current LTS, supported until 2030-04-08; 3.0 LTS support ends
# 2026-09-07. The pin, 3.5.7: the tarball's SHA-256 below was checked here against Debian's
# signed trixie Sources index (openssl_3.5.7.orig.tar.gz, 3.5.7-1~deb13u2) and its OpenSSL
# signature (.asc) verified with gpgv against the key Debian ships in debian/upstream/
# (BA5473A2B0587B07FB27CF2D216094DFD0CB81EF, "OpenSSL <openssl@openssl.org>"). Bump both
# together, checking the new hash the same way (or against openssl-library.org's .sha256).
#
# The same options on every platform: no-shared, -fPIC, no tests, docs, apps, engines,
# compression, legacy provider or dynamic modules; no config file loaded at start-up
# (no-autoload-config: a bundled libcrypto must not read whatever openssl.cnf the machine
# has); -ffunction-sections -fdata-sections so the extension's --gc-sections can drop what
# the core does not call (AES-256-CBC, SHA-1, RAND_bytes, CRYPTO_memcmp).
set -euo pipefail

OPENSSL_VERSION=${OPENSSL_VERSION:-3.5.7}
PINNED_SHA256=a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8
OPENSSL_SHA256=${OPENSSL_SHA256:-}
if [[ -z $OPENSSL_SHA256 && $OPENSSL_VERSION == 3.5.7 ]]; then
    OPENSSL_SHA256=$PINNED_SHA256
fi
URL=https://github.com/openssl/openssl/releases/download/openssl-$OPENSSL_VERSION/openssl-$OPENSSL_VERSION.tar.gz

die() { printf 'build-openssl.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> build-openssl.sh: %s\n' "$*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 PREFIX [SOURCE_TREE_OR_TARBALL]"
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
source=${2:-}
if [[ -e $prefix/lib/libcrypto.a || -e $prefix/lib/libcrypto.lib ]]; then
    log "$prefix already holds a static libcrypto; nothing to do"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/openssl-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

verify() {
    [[ -n $OPENSSL_SHA256 ]] ||
        die "no SHA-256 pinned for OpenSSL $OPENSSL_VERSION: set OPENSSL_SHA256 (checked against a signed source)"
    local got
    got=$(sha256 "$1")
    [[ $got == "$OPENSSL_SHA256" ]] || die "$1: SHA-256 $got, expected $OPENSSL_SHA256"
    log "SHA-256 ok: $got"
}

if [[ -z $source ]]; then
    log "downloading $URL"
    curl -fsSL --retry 3 -o "$work/openssl.tar.gz" "$URL" || die "download of $URL failed"
    source=$work/openssl.tar.gz
fi
if [[ -f $source ]]; then
    verify "$source"
    mkdir -p "$work/src"
    tar -xzf "$source" -C "$work/src" --strip-components=1
    tree=$work/src
elif [[ -d $source && -e $source/Configure ]]; then
    log "using the source tree $source as it is (not verified)"
    mkdir -p "$work/src"
    cp -R "$source/." "$work/src/"
    tree=$work/src
else
    die "$source is neither a tarball nor an OpenSSL source tree"
fi

options=(
    no-shared no-module no-tests no-docs no-apps no-engine no-comp no-legacy
    no-autoload-config no-ui-console
    --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib
)
jobs=$( (nproc || sysctl -n hw.ncpu || echo 2) 2>/dev/null | head -1)
cd "$tree"
case $(uname -s) in
    MINGW* | MSYS* | CYGWIN*)
        # MSVC (cibuildwheel's Windows runners): needs perl and nasm on PATH and a
        # Developer Command Prompt environment; /Gy + /Gw are MSVC's function/data sections.
        log "Configure VC-WIN64A ${options[*]}"
        perl Configure VC-WIN64A "${options[@]}" CFLAGS="/Gy /Gw"
        nmake build_libs
        nmake install_dev
        ;;
    *)
        cflags="-fPIC -O2 -ffunction-sections -fdata-sections"
        if [[ $(uname -s) == Darwin && -n ${ARCHFLAGS:-} ]]; then
            # cibuildwheel sets ARCHFLAGS for the target architecture
            case $ARCHFLAGS in
                *arm64*) target=darwin64-arm64-cc ;;
                *x86_64*) target=darwin64-x86_64-cc ;;
            esac
        fi
        log "Configure ${target:-(auto)} ${options[*]} CFLAGS=$cflags"
        ./Configure ${target:+"$target"} "${options[@]}" CFLAGS="$cflags" >&2
        make -s -j"$jobs" build_libs >&2
        make -s install_dev >&2
        ;;
esac
rm -f "$prefix"/lib/libssl.* "$prefix"/lib/pkgconfig/libssl.pc "$prefix"/lib/pkgconfig/openssl.pc
ls -l "$prefix"/lib/libcrypto.* >&2
log "installed OpenSSL $OPENSSL_VERSION (static libcrypto) in $prefix: WXCORP_FAST_OPENSSL_DIR=$prefix"
