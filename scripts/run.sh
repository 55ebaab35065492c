#!/usr/bin/env bash
# The main job (README's first command): build and install the wheel into a fresh venv, as
# scripts/test.sh does, with the `server` extra (gunicorn), then run
# `python -m wxcorp_fast "$@"` (default: `demo`, the echo bot under gunicorn on a free local
# port driven by the simulator; exit 0 when every reply verified).
set -euo pipefail

# shellcheck source=scripts/_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

WX_EXTRAS=server wx_setup
(($#)) || set -- demo  # the main job
wx_log "python -m wxcorp_fast $*"
# PYTHONSAFEPATH: `-m` must not put the current directory first on sys.path, where a source
# checkout would shadow the installed wheel (Python >= 3.11; _setup.sh checked the import).
rc=0
PYTHONSAFEPATH=1 "$WX_PY" -m wxcorp_fast "$@" || rc=$?
exit "$rc"
