"""`run.serve` on a FakeEngine app through a picklable factory, for the front-end tests:
`python -m tests.unit.server.front_end_server PORT [--workers N] [--delay S] [--header-timeout S]
[--body-timeout S] [--max-header-bytes N]` (run from the repository root)."""

from __future__ import annotations

import argparse
import logging
from functools import partial

from fastapi import FastAPI

from bei_cli.engine.fake import FakeEngine, fake_info
from bei_cli.server.app import create_app
from bei_cli.server.run import serve
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir
from tests.unit.server.support import DIM, MAX_SEQ_LEN, make_profile


def make_app(settings: ServerSettings, delay_s: float) -> FastAPI:
    """Called once in each front-end process."""
    engine = FakeEngine(fake_info(dim=DIM, max_seq_len=MAX_SEQ_LEN), delay_s=delay_s)
    tokenizer = TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN)
    return create_app(engine, tokenizer, make_profile(), settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=30.0)
    parser.add_argument("--max-header-bytes", type=int, default=64 * 1024)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = ServerSettings(
        port=args.port,
        workers=args.workers,
        tokenization_workers=1,
        shutdown_timeout_s=30,
        header_read_timeout_s=args.header_timeout,
        body_read_timeout_s=args.body_timeout,
        max_header_bytes=args.max_header_bytes,
    )
    serve(partial(make_app, settings, args.delay), settings)


if __name__ == "__main__":
    main()
