#!/usr/bin/env bash
# THE test command (README, .ci/run): build sdist + wheel, install the wheel with the `test`
# dependency group into a fresh venv, then from a temporary directory, against that wheel:
#   1. the suite with the compiled core required   (WXCORP_FAST_REQUIRE_COMPILED=1)
#   2. the suite on the pure-Python core            (WXCORP_FAST_NO_EXTENSIONS=1)
#   2b. tests/test_wheels.py: scripts/build-wheels.sh's static wheel with the system
#      libcrypto masked (unshare -m), the sdist's pure fallback, cibuildwheel's identifiers
#   3. the benchmarks, smoke only                   (--benchmark-disable)
#   4. python -m wxcorp_fast info                   (known-answer self-check)
#   5. mypy --strict on the package, stubtest of the extension against _core_c.pyi
#   6. ruff: the whole tree formatted and lint-clean
# Every step runs even if an earlier one failed; the last line says PASSED or FAILED.
# Arguments go to pytest in steps 1 and 2, e.g. `scripts/test.sh -k signature -x`.
set -euo pipefail

# shellcheck source=scripts/_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

# The build must be the compiled one whatever the caller's environment says; the steps set
# the selection variables themselves.
unset WXCORP_FAST_NO_EXTENSIONS WXCORP_FAST_REQUIRE_COMPILED

passed=()
failed=()
reported=

wx_exit_hook() {
    [[ -z $reported ]] || return 0
    printf '\ntest.sh: FAILED during setup (exit %s, %ds)\n' "$1" "$((SECONDS - WX_START))"
}

# step NAME ALLOWED_CODES COMMAND... : run one step, record the result, never abort.
step() {
    local name=$1 allowed=$2 rc=0 t0=$SECONDS
    shift 2
    wx_log "step $name: $*"
    "$@" || rc=$?
    if [[ " 0 $allowed " == *" $rc "* ]]; then
        passed+=("$name")
        wx_log "step $name: ok (exit $rc, $((SECONDS - t0))s)"
    else
        failed+=("$name")
        wx_log "step $name: FAILED (exit $rc, $((SECONDS - t0))s)"
    fi
}

# tests start their own redis-server on a free 127.0.0.1 port (tests/_redis_server.py);
# bench/http_bench.py drives HTTP servers with wrk
WX_PROGRAMS="redis-server wrk" wx_setup test

run=$WX_TMP/run
mkdir -p "$run"
# from the clean copy the wheel was built from: no caches, no ignored files
# (README.md: tests/test_real_servers.py runs its "Mounting in Flask / FastAPI" blocks)
for item in tests bench docs pyproject.toml README.md; do
    if [[ -e $WX_SRC/$item ]]; then cp -R "$WX_SRC/$item" "$run/"; fi
done
cd "$run"

pytest=("$WX_PY" -m pytest -p no:cacheprovider)

[[ -d tests ]] || wx_die "no tests/ directory"
# tests/test_wheels.py builds its own wheels (scripts/build-wheels.sh) and runs once, below
step compiled "" env WXCORP_FAST_REQUIRE_COMPILED=1 "${pytest[@]}" tests --ignore=tests/test_wheels.py "$@"
step python "" env WXCORP_FAST_NO_EXTENSIONS=1 "${pytest[@]}" tests --ignore=tests/test_wheels.py "$@"
# the self-contained static wheel in a namespace with libcrypto masked, the sdist's fallback
step wheels "" env WXCORP_FAST_SOURCE="$WX_SRC" WXCORP_FAST_WHEELS_DIR="$WX_TMP/wheels" \
    "${pytest[@]}" tests/test_wheels.py
if [[ -d bench ]]; then
    # exit 5 = no benchmarks collected yet
    step bench "5" "${pytest[@]}" bench --benchmark-disable
else
    wx_log "step bench: no bench/ directory, nothing to smoke"
fi
step info "" "$WX_PY" -m wxcorp_fast info
# types: mypy --strict on the sources (pyproject's [tool.mypy]), then the installed
# extension against its stub
step types "" env -C "$WX_SRC" "$WX_PY" -m mypy
step stubtest "" "$WX_PY" -m mypy.stubtest wxcorp_fast._core_c
step format "" env -C "$WX_SRC" "$WX_PY" -m ruff format --check --quiet .
step lint "" env -C "$WX_SRC" "$WX_PY" -m ruff check --quiet .

reported=1
elapsed=$((SECONDS - WX_START))
if ((${#failed[@]})); then
    printf '\ntest.sh: FAILED: %s (passed: %s) in %ds\n' "${failed[*]}" "${passed[*]:-none}" "$elapsed"
    exit 1
fi
printf '\ntest.sh: PASSED: %s in %ds (wheel %s)\n' "${passed[*]}" "$elapsed" "$(basename "$WX_WHEEL")"
