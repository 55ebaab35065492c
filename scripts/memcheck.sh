#!/usr/bin/env bash
# Run the crypto core's test files under valgrind memcheck, against the compiled core.
#
#   scripts/memcheck.sh                      # contract, parity, hostile and message tests
#   scripts/memcheck.sh tests/test_threads.py -k share_one   # any pytest arguments instead
#
# Settings (see tests/README.md):
#   PYTHONMALLOC=malloc           every object is a malloc block valgrind can see
#   HYPOTHESIS_PROFILE=memcheck   few examples per property (valgrind is ~50x slower)
#   -m compiled                   only the compiled params (the pure twin is Python code)
#   --errors-for-leak-kinds=definite, --track-origins=yes, XML report
# CPython 3.11 and cryptography's Rust module are not clean under memcheck (uninitialised
# small-int reads in longobject.c that then propagate, glibc AVX2 over-reads, pyo3 type
# objects never freed). Known noise is suppressed by the file written below; what is left is
# classified: an error counts only when one of its stacks (including the origin of an
# uninitialised value) runs through wxcorp_fast's extension. Exit status: non-zero when
# pytest fails or any error is ours.
#
# Env: PYTHON (default .venv/bin/python), MEMCHECK_DIR (default: a new temp dir; the XML
# reports and logs, one per process, stay there), VALGRIND_OPTS (extra valgrind flags).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-.venv/bin/python}
command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is not installed" >&2; exit 2; }
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
EXT=$("$PY" -c 'import wxcorp_fast._core_c as c; print(c.__file__)') || {
    echo "memcheck.sh: build the compiled core first (scripts/build-inplace.sh)" >&2
    exit 2
}
OUT=${MEMCHECK_DIR:-$(mktemp -d -t wxcorp-memcheck.XXXXXX)}
mkdir -p "$OUT"

cat >"$OUT/noise.supp" <<'EOF'
# CPython 3.11: medium_value() reads ob_digit[0] of a zero-sized int (a product with 0).
{
   cpython-maybe-small-long-cond
   Memcheck:Cond
   fun:maybe_small_long
}
{
   cpython-maybe-small-long-value8
   Memcheck:Value8
   fun:Py_INCREF
   fun:get_small_int
   fun:maybe_small_long
}
# glibc's vectorised wide-char compare reads whole 32-byte lanes past the end.
{
   glibc-wmemcmp-avx2-overread
   Memcheck:Addr32
   fun:__wmemcmp_avx2_movbe
}
# pyo3 (cryptography's Rust bindings) keeps type-object allocations for the process's life.
{
   pyo3-type-objects
   Memcheck:Leak
   match-leak-kinds: definite
   ...
   obj:*/cryptography/hazmat/bindings/_rust*.so
}
EOF

if (($# == 0)); then
    set -- tests/test_core_contract.py tests/test_core_parity.py tests/test_hostile.py tests/test_messages.py
fi

echo "memcheck.sh: extension $EXT"
echo "memcheck.sh: report in $OUT"
rc=0
PYTHONMALLOC=malloc HYPOTHESIS_PROFILE=memcheck WXCORP_FAST_REQUIRE_COMPILED=1 \
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-origins=yes --num-callers=50 \
    --suppressions="$OUT/noise.supp" --xml=yes --xml-file="$OUT/memcheck.%p.xml" \
    --log-file="$OUT/memcheck.%p.log" ${VALGRIND_OPTS:-} \
    "$PY" -m pytest -p no:cacheprovider -q -m compiled "$@" || rc=$?

"$PY" - "$OUT" "$EXT" "$rc" <<'EOF'
"""Classify memcheck's errors: ours (a stack runs through the extension) or noise."""
import collections
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

out, ext, pytest_rc = sys.argv[1], os.path.realpath(sys.argv[2]), int(sys.argv[3])
OUR_FILES = ("_core_c.c", "_core_c.pyx", "_keys.pxi", "_signature.pxi", "_frame.pxi", "_aes.pxi", "_xml.pxi", "_msgcrypto.pxi", "b64.h", "copy.h", "utf8.h", "xmlscan.c", "xmlscan.h", "_wxssl.h")


def ours(frame):
    obj = frame.findtext("obj") or ""
    return os.path.realpath(obj) == ext if obj else (frame.findtext("file") or "") in OUR_FILES


# One report per process (%p): a fork that execs leaves its own, possibly unfinished, file.
# Errors are read block by block so that an unfinished report still counts.
texts = [open(path, encoding="utf-8", errors="replace").read()
         for path in sorted(glob.glob(os.path.join(out, "memcheck.*.xml")))]
errors = [ET.fromstring(block) for text in texts for block in re.findall(r"<error>.*?</error>", text, re.S)]
suppressed = sum(int(n) for text in texts for n in re.findall(r"<pair>\s*<count>(\d+)</count>", text))
counts = collections.Counter()
shown = 0
for error in errors:
    kind = error.findtext("kind")
    frames = [f for stack in error.iter("stack") for f in stack.iter("frame")]
    mine = any(ours(f) for f in frames)
    counts["ours" if mine else "noise", kind] += 1
    if mine and shown < 20:
        shown += 1
        what = error.findtext("what") or error.findtext("xwhat/text")
        print(f"\n[ours] {kind}: {what}")
        for f in frames[:15]:
            print(f"    {f.findtext('fn')} ({f.findtext('file') or f.findtext('obj')}:{f.findtext('line') or ''})")
ours_total = sum(n for (who, _), n in counts.items() if who == "ours")
noise_total = sum(n for (who, _), n in counts.items() if who == "noise")
print(f"\nmemcheck: {ours_total} error(s) in wxcorp_fast's extension; "
      f"{noise_total} outside it (CPython/third-party, unsuppressed); {suppressed} suppressed")
for (who, kind), n in sorted(counts.items()):
    print(f"    {who:5} {kind}: {n}")
print(f"pytest exit status under valgrind: {pytest_rc}")
sys.exit(1 if ours_total or pytest_rc else 0)
EOF
