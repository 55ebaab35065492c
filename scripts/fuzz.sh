#!/usr/bin/env bash
# Differential fuzzing of the crypto core, then the inputs it found against ASan+UBSan:
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# For each target (default: all eight) of tests/fuzz/fuzz_core.py: SECONDS of coverage-guided
# fuzzing (atheris; coverage from its instrumentation of the Python, the pure twin mirroring
# every check of the C code) on the in-place build, keeping the corpus it grows; then that
# whole corpus replayed against an ASan+UBSan build of the extension, made in a temporary
# directory (the in-place build is left alone), with any sanitizer report fatal. The two
# steps are apart because gcc's sanitizer runtime, preloaded, takes over the coverage hooks
# atheris's libFuzzer needs. Prints each target's executions and findings; corpora and
# crash inputs land in $FUZZ_DIR (default: a temporary directory). Needs .venv with atheris
# (pip install atheris) and gcc; not part of CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
((${#targets[@]})) || targets=(parse_message parse_envelope unpack_frame decrypt_msg msgcrypto_decrypt open_callback
    text_reply plain_query)
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
    corpus=$FUZZ_DIR/corpus/$target
    mkdir -p "$corpus"
    log=$FUZZ_DIR/$target.log
    result="no finding"
    if ! env -C "$FUZZ_DIR" "$py" "$root/tests/fuzz/fuzz_core.py" "$target" "$corpus" \
        -max_total_time="$seconds" -artifact_prefix="$FUZZ_DIR/$target-" >"$log" 2>&1; then
        result="FINDING (see $log)"
        status=1
    fi
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo "?")
    replay=$FUZZ_DIR/$target.asan.log
    if ! env -C "$FUZZ_DIR" LD_PRELOAD="$asan:$ubsan" PYTHONMALLOC=malloc PYTHONPATH="$work" \
        ASAN_OPTIONS=detect_leaks=0,abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1,halt_on_error=1 \
        "$py" "$work/tests/fuzz/fuzz_core.py" "$target" -runs=0 "$corpus" >"$replay" 2>&1; then
        result="$result; ASAN/UBSAN FINDING (see $replay)"
        status=1
    fi
    inputs=$(find "$corpus" -type f | wc -l)
    printf '%-18s %10s execs  %6s corpus inputs replayed under ASan+UBSan  %s\n' \
        "$target" "$runs" "$inputs" "$result"
done
exit "$status"
