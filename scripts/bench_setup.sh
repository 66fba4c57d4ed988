#!/usr/bin/env bash
# Installs what benchmarks/bench_serving.py compares against, outside bei's own environment:
#   - wrk (the HTTP load generator; Debian package), else the baseten-performance-client that
#     the dev extra already installs is the fallback and this script says so;
#   - Infinity (infinity-emb, torch engine) in its own venv, so its pins never touch bei's.
# Idempotent: a second run only checks. Example:
#   bash scripts/bench_setup.sh && python benchmarks/bench_serving.py --help
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${BEI_BENCH_INFINITY_VENV:-$HOME/.cache/bei/bench/infinity-venv}
# The CPU wheel, pinned with its local label: a bare `torch` (or even `torch==2.13.0` where an
# index also offers the CUDA build) can pull a multi-GB CUDA wheel.
TORCH=${BEI_BENCH_TORCH:-torch==2.13.0+cpu}
INFINITY=${BEI_BENCH_INFINITY:-infinity-emb[server,torch]}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

step() { printf '\n== %s\n' "$*"; }

step "1/3 wrk"
if command -v wrk >/dev/null; then
    echo "wrk already installed: $(command -v wrk)"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk \
        || echo "WARNING: apt-get could not install wrk"
else
    echo "WARNING: no apt-get or not root: cannot install wrk"
fi
if command -v wrk >/dev/null; then
    echo "wrk: $(wrk --version 2>&1 | head -1)"
else
    echo "FALLBACK: no wrk; bench_serving.py will drive the server with the baseten-performance-client"
    python3 -c "import baseten_performance_client" \
        || echo "WARNING: baseten-performance-client missing too: pip install -e '.[dev]'"
fi

step "2/3 Infinity venv at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --progress-bar on "$TORCH"
"$VENV/bin/python" -m pip install --progress-bar on "$INFINITY" "$TORCH"

step "3/3 check"
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import torch
print("infinity-emb", md.version("infinity-emb"), "| torch", torch.__version__,
      "| cuda build:", torch.version.cuda is not None)
EOF
"$VENV/bin/infinity_emb" v2 --help >/dev/null && echo "infinity_emb v2 --help: ok"
echo "done: python benchmarks/bench_serving.py --infinity-venv $VENV"
