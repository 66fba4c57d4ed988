"""What the routes of one app share, kept on `app.state.server` (vLLM-style: handlers find
their collaborators on the app, nothing is global)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bei_cli.engine.base import EngineInfo
from bei_cli.inspect.profile import ModelProfile
from bei_cli.server.batcher import Batcher
from bei_cli.server.metrics import ServerMetrics
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer


@dataclass
class ServerState:
    settings: ServerSettings
    profile: ModelProfile
    engine_info: EngineInfo
    tokenizer: TextTokenizer
    batcher: Batcher
    executor: ThreadPoolExecutor
    metrics: ServerMetrics
    max_batch_tokens: int  # effective: settings capped by the engine
    max_batch_size: int
    ready: bool = False  # lifespan started and not shutting down

    @property
    def healthy(self) -> bool:
        return self.ready and self.batcher.alive
