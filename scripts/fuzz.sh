#!/usr/bin/env bash
# Differential fuzzing of the crypto core against an ASan+UBSan build of the extension:
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# builds a sanitized copy of the extension in a temporary directory (the in-place build is
# left alone), then runs tests/fuzz/fuzz_core.py for each target (default: all five) for
# SECONDS each, with any ASan or UBSan report fatal. Coverage guidance comes from atheris's
# instrumentation of the Python (the pure twin mirrors every check the C code makes); the
# sanitizers watch the compiled twin. Prints each target's executions and findings; crash
# inputs land in $FUZZ_DIR (default: a temporary directory). Needs .venv with atheris
# (pip install atheris) and gcc; not part of CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
((${#targets[@]})) || targets=(parse_message parse_envelope unpack_frame decrypt_msg msgcrypto_decrypt)
py=$PWD/.venv/bin/python
[[ -x $py ]] || { echo "error: no .venv (scripts/build-inplace.sh makes one)" >&2; exit 1; }
"$py" -c 'import atheris' 2>/dev/null || "$py" -m pip install -q atheris

work=$(mktemp -d)
trap '[[ -n ${FUZZ_KEEP:-} ]] || rm -rf "$work"' EXIT
FUZZ_DIR=${FUZZ_DIR:-$work/findings}
mkdir -p "$FUZZ_DIR"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work"
(
    cd "$work"
    CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g" \
    LDFLAGS="-fsanitize=address,undefined" "$py" setup.py -q build_ext --inplace >/dev/null
)
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)

status=0
for target in "${targets[@]}"; do
    log=$FUZZ_DIR/$target.log
    if env -C "$FUZZ_DIR" LD_PRELOAD="$asan:$ubsan" PYTHONMALLOC=malloc PYTHONPATH="$work" \
        ASAN_OPTIONS=detect_leaks=0,abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1,halt_on_error=1 \
        "$py" "$work/tests/fuzz/fuzz_core.py" "$target" -max_total_time="$seconds" \
        -artifact_prefix="$FUZZ_DIR/$target-" >"$log" 2>&1; then
        result="no finding"
    else
        result="FINDING (see $log)"
        status=1
    fi
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo "?")
    printf '%-18s %10s execs  %s\n' "$target" "$runs" "$result"
done
exit "$status"
