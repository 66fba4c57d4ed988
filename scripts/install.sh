#!/usr/bin/env bash
# Installs everything bei and its tests need on a fresh machine. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# torch first and pinned: 2.13.0 resolves to the CPU wheel here; an unpinned torch would pull a
# multi-GB CUDA build.
"$PY" -m pip install -q "torch==2.13.0"
# Constrained to the base images' pins, so the tests run what the images ship (a newer release
# on PyPI would otherwise drift from them; tests/unit/image/test_base_build.py checks).
"$PY" -m pip install -q -c bei_cli/templates/requirements-cpu.txt -e ".[cpu,quant,s3,gcs,azure,dev]"
