"""What the routes of one app share, kept on `app.state.server` (vLLM-style: handlers find
their collaborators on the app, nothing is global)."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from bei_cli.engine.base import EngineInfo
from bei_cli.inspect.profile import ModelProfile
from bei_cli.runtime.client import EngineClient
from bei_cli.server.admission import AdmissionGate
from bei_cli.server.metrics import ServerMetrics
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer


@dataclass
class ServerState:
    settings: ServerSettings
    profile: ModelProfile
    engine_info: EngineInfo
    tokenizer: TextTokenizer
    batcher: EngineClient  # the name the route services know; in-process or engine process
    executor: ThreadPoolExecutor
    metrics: ServerMetrics
    ready: bool = False  # lifespan started and not shutting down

    @property
    def healthy(self) -> bool:
        return self.ready and self.batcher.alive


Access = TypeVar("Access", bound="EngineAccess")


@dataclass(frozen=True)
class EngineAccess:
    """What every route family's service uses to reach the engine: admission, tokenization
    (inline or on the executor), the batcher, and the metrics to record."""

    info: EngineInfo
    tokenizer: TextTokenizer
    batcher: EngineClient
    executor: Executor
    gate: AdmissionGate
    metrics: ServerMetrics

    @classmethod
    def of(cls: type[Access], state: ServerState, gate: AdmissionGate) -> Access:
        return cls(
            info=state.engine_info,
            tokenizer=state.tokenizer,
            batcher=state.batcher,
            executor=state.executor,
            gate=gate,
            metrics=state.metrics,
        )
