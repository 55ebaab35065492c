#!/usr/bin/env bash
# The main job (README's first command): build and install the wheel into a fresh venv, as
# scripts/test.sh does, then run `python -m wxcorp_fast "$@"` (default: `info`).
set -euo pipefail

# shellcheck source=scripts/_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

wx_setup
(($#)) || set -- info  # the main job; becomes `demo` once that command exists
wx_log "python -m wxcorp_fast $*"
# PYTHONSAFEPATH: `-m` must not put the current directory first on sys.path, where a source
# checkout would shadow the installed wheel (Python >= 3.11; _setup.sh checked the import).
rc=0
PYTHONSAFEPATH=1 "$WX_PY" -m wxcorp_fast "$@" || rc=$?
exit "$rc"
