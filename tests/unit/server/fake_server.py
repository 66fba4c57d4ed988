"""A real `run.serve` front-end on FakeEngine + the MiniLM tokenizer, for tests that need a process:
`python -m tests.unit.server.fake_server PORT DELAY_S [TASK]` (run from the repository root).
TASK is embed (default), rerank, classify or ner; POST / then serves that task's route."""

from __future__ import annotations

import logging
import sys

from bei_cli.engine.fake import FakeEngine, fake_info
from bei_cli.server.app import create_app
from bei_cli.server.run import serve
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir
from tests.unit.server.support import (
    DIM,
    MAX_SEQ_LEN,
    SCORING_MODELS,
    make_profile,
    scoring_model,
)


def main(port: int, delay_s: float, task: str = "embed") -> None:
    logging.basicConfig(level=logging.INFO)
    settings = ServerSettings(port=port, workers=1, tokenization_workers=1, shutdown_timeout_s=30)
    if task == "embed":
        engine = FakeEngine(fake_info(dim=DIM, max_seq_len=MAX_SEQ_LEN), delay_s=delay_s)
        profile = make_profile()
    else:
        engine, profile = scoring_model(task, delay_s=delay_s)
        settings = ServerSettings(
            port=port,
            workers=1,  # the lambda below is not picklable: one front-end, this process
            tokenization_workers=1,
            shutdown_timeout_s=30,
            default_route=SCORING_MODELS[task][1],
        )
    tokenizer = TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN)
    serve(lambda: create_app(engine, tokenizer, profile, settings), settings)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), *sys.argv[3:4])
