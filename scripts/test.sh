#!/usr/bin/env bash
# The test command (README.md) and what CI runs: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/install.sh
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
"$PY" -m pytest -q "$@"
