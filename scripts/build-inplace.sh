#!/usr/bin/env bash
# Developer build: compile wxcorp_fast._core_c next to the sources and make .venv import this
# tree (serialised by a lock).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
exec 9>.venv/.build.lock
flock 9
.venv/bin/python -m pip install -q "setuptools>=77" "Cython>=3.1,<4" >/dev/null
.venv/bin/python setup.py -q build_ext --inplace
# Let .venv import the package from this tree (what the tests expect in dev).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n' "$PWD" > "$site/wxcorp_fast-dev.pth"
