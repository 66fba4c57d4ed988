#!/usr/bin/env bash
# The test command (README.md) and what CI runs: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/install.sh
# Object-store emulators the checkpoint tests start on 127.0.0.1 (Azurite for Azure Blob, s3rver
# for S3), into a project-local, git-ignored folder.
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x .ci/node/node_modules/.bin/azurite-blob ] || [ ! -x .ci/node/node_modules/.bin/s3rver ]; then
  npm install --silent --no-audit --no-fund --prefix .ci/node azurite@3 s3rver@3 >/dev/null
fi
# Image tools for the image/push tests: a real registry (docker-registry + htpasswd), skopeo,
# umoci, podman + runc to pull and run the built image, debootstrap to build the base image.
IMAGE_TOOLS="docker-registry skopeo umoci podman runc apache2-utils debootstrap"
missing=$(for p in $IMAGE_TOOLS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
BEI_REQUIRE_SERVICES=1 "$PY" -m pytest -q "$@"
