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
# The image tests build the real cpu-slim and cpu bases once per change of their inputs into
# .ci/base-image/ (git-ignored, kept between runs). The cpu base's torch is the CPU wheel that
# pip finds here (install.sh); the base builder reads PIP_FIND_LINKS only, so hand it pip's.
if [ -z "${PIP_FIND_LINKS:-}" ]; then
  PIP_FIND_LINKS=$("$PY" -m pip config get global.find-links 2>/dev/null || true)
  export PIP_FIND_LINKS
fi
# Without arguments: the default suite, which leaves out `slow` tests (the cuda base build pulls
# GBs from PyPI); `bash scripts/test.sh -m slow` runs those.
if [ $# -eq 0 ]; then
  set -- -m "not slow"
fi
BEI_REQUIRE_SERVICES=1 "$PY" -m pytest -q "$@"
