#!/usr/bin/env bash
# Installs everything bei and its tests need on a fresh machine. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# torch first and pinned: 2.13.0 resolves to the CPU wheel here; an unpinned torch would pull a
# multi-GB CUDA build.
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[cpu,quant,s3,gcs,azure,dev]"
