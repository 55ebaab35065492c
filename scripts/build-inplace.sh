#!/usr/bin/env bash
# Developer build: compile wxcorp_fast._core next to the sources in .venv (serialised by a lock).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
exec 9>.venv/.build.lock
flock 9
.venv/bin/python -m pip install -q "setuptools>=77" "Cython>=3.1,<4" >/dev/null
.venv/bin/python setup.py -q build_ext --inplace
