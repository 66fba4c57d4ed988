"""create_app: wire an engine, its tokenizer and profile into a FastAPI app.

Model routes come from `routes.MODEL_ROUTERS` (OpenAI, TEI, Cohere, rerank, predict, NER, Hugging
Face tasks, tokenizer); GET /health, /info, /metrics, /openapi.json, /docs. `POST /` goes to the
task's route for the body's shape (`dispatch`), Truss' POST /v1/models/model:predict to
`settings.default_route`. A route the model cannot serve answers 424 naming the routes it can
(`capabilities.ROUTES`) and is left out of the OpenAPI document. The app serves once: its lifespan
starts its EngineClient (the in-process engine thread, or the connection to the engine process)
and, on shutdown (after the front-end has drained in-flight requests), stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware

from bei_cli import __version__
from bei_cli.engine.base import Engine, EngineInfo
from bei_cli.errors import ConfigError
from bei_cli.inspect.profile import ModelProfile
from bei_cli.runtime.batcher import Batcher
from bei_cli.runtime.client import BatchObserver, EngineClient
from bei_cli.runtime.process_client import EngineConnection, ProcessEngineClient
from bei_cli.server import health
from bei_cli.server.admission import (
    AdmissionGate,
    BatchCost,
    BatchShape,
    Observers,
    read_deadline,
)
from bei_cli.server.auth import ApiKeyAuth
from bei_cli.server.cohere.serving import CohereEmbeddings
from bei_cli.server.dispatch import RootDispatch
from bei_cli.server.embedding import EmbeddingService
from bei_cli.server.errors import install_error_handlers
from bei_cli.server.fast_lane import (
    FastLane,
    LaneRoute,
    LaneStats,
    openai_route,
    post_route,
    tei_route,
)
from bei_cli.server.metrics import ServerMetrics
from bei_cli.server.middleware import BodyReader, ErrorGuard, RequestBodyGuard, RequestMetrics
from bei_cli.server.ner.serving import TokenClassifier
from bei_cli.server.openai.router import router as openai_router
from bei_cli.server.openai.serving import OpenAIEmbeddings
from bei_cli.server.predict.serving import Classifier
from bei_cli.server.rerank.serving import Reranker
from bei_cli.server.routes import install_model_routes, install_openapi
from bei_cli.server.scoring import ScoringService
from bei_cli.server.settings import ServerSettings
from bei_cli.server.sparse.serving import SparseEmbed
from bei_cli.server.state import ServerState
from bei_cli.server.tei.router import router as tei_router
from bei_cli.server.tei.serving import TeiEmbed
from bei_cli.server.tokenize_pool import TokenizationPool
from bei_cli.server.tokenizer import TextTokenizer
from bei_cli.server.tokens.serving import Tokens
from bei_cli.server.transport import ContentNegotiation, RequestId, ResponseCompression
from bei_cli.server.wire import ModelLimits

# How long shutdown waits for the engine thread to finish queued work.
ENGINE_STOP_TIMEOUT_S = 30.0


def engine_client(
    engine: Engine | EngineConnection, settings: ServerSettings, observer: BatchObserver
) -> EngineClient:
    """An Engine object runs here (in-process batcher thread); an EngineConnection is an engine
    process that is already running (`runtime.engine_process`)."""
    if isinstance(engine, EngineConnection):
        return ProcessEngineClient(engine, observer=observer)
    info = engine.info
    return Batcher(
        engine,
        max_batch_tokens=info.max_batch_tokens,
        max_batch_size=info.max_batch_size,
        max_queued=settings.max_queued_items,
        observer=observer,
    )


def build_state(
    engine: Engine | EngineConnection,
    tokenizer: TextTokenizer,
    profile: ModelProfile,
    settings: ServerSettings,
    cost: BatchCost | None = None,
) -> ServerState:
    """`cost`: also observes the engine's batches (admission's estimate)."""
    info = engine.info
    if tokenizer.max_seq_len > info.max_batch_tokens:  # an artifact's Limits never are
        raise ConfigError(
            f"The engine's max_batch_tokens ({info.max_batch_tokens}) is smaller than the "
            f"model's maximum input length ({tokenizer.max_seq_len} tokens): a single long "
            "input could not run.",
            hint=f"Build with trt_llm.build.max_num_tokens of at least {tokenizer.max_seq_len}.",
        )
    metrics = ServerMetrics()
    if cost is not None and isinstance(engine, EngineConnection):
        for size, tokens, padded, seconds in engine.calibration:  # not in the metrics: no request
            cost.observe_batch(size, tokens, padded, seconds)
    observers = (metrics,) if cost is None else (metrics, cost)
    batcher = engine_client(engine, settings, Observers(observers))
    metrics.track_queue(lambda: batcher.queued)
    return ServerState(
        settings=settings,
        profile=profile,
        engine_info=info,
        tokenizer=tokenizer,
        batcher=batcher,
        executor=TokenizationPool(settings.tokenization_workers, settings.max_tokenization_queue),
        metrics=metrics,
    )


def _lifespan(state: ServerState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.batcher.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            if isinstance(state.batcher, ProcessEngineClient):
                state.batcher.close()  # on this loop; the engine process outlives us
            else:
                await asyncio.to_thread(state.batcher.close, ENGINE_STOP_TIMEOUT_S)
            state.executor.shutdown(wait=False)

    return lifespan


def labels_of(info: EngineInfo, profile: ModelProfile) -> tuple[str, ...]:
    """The engine's id2label order; transformers' LABEL_i names where a model has none."""
    labels = info.labels or profile.labels
    return labels or tuple(f"LABEL_{i}" for i in range(info.embedding_dim))


def _embedding_routes(app: FastAPI, state: ServerState, gate: AdmissionGate) -> None:
    settings, profile = state.settings, state.profile
    service = replace(EmbeddingService.of(state, gate), token_ids=settings.token_ids)
    prompts = dict(profile.prompts)
    app.state.openai_embeddings = OpenAIEmbeddings(
        service,
        served_model_name=settings.served_model_name,
        auto_truncate=settings.auto_truncate,
        max_client_batch_size=settings.max_client_batch_size,
        default_prompt=prompts.get(profile.default_prompt_name or ""),
    )
    app.state.tei_embed = TeiEmbed(
        service,
        auto_truncate=settings.auto_truncate,
        max_client_batch_size=settings.max_client_batch_size,
        prompts=prompts,
        default_prompt_name=profile.default_prompt_name,
    )
    app.state.sparse_embed = SparseEmbed(
        service,
        auto_truncate=settings.auto_truncate,
        max_client_batch_size=settings.max_client_batch_size,
        prompts=prompts,
        default_prompt_name=profile.default_prompt_name,
    )
    app.state.cohere_embeddings = CohereEmbeddings(
        service,
        max_client_batch_size=settings.max_client_batch_size,
        default_prompt=prompts.get(profile.default_prompt_name or ""),
    )
    app.state.tokens = Tokens(
        state.tokenizer,
        max_client_batch_size=settings.max_client_batch_size,
        prompts=prompts,
        default_prompt_name=profile.default_prompt_name,
    )


def _scoring_routes(app: FastAPI, state: ServerState, gate: AdmissionGate) -> None:
    settings, profile = state.settings, state.profile
    service = ScoringService.of(state, gate)
    labels = labels_of(state.engine_info, profile)
    truncate, max_items = settings.auto_truncate, settings.max_client_batch_size
    app.state.reranker = Reranker(
        service,
        served_model_name=settings.served_model_name,
        auto_truncate=truncate,
        max_client_batch_size=max_items,
    )
    app.state.classifier = Classifier(
        service,
        labels=labels,
        auto_truncate=truncate,
        max_client_batch_size=max_items,
        problem_type=profile.problem_type,
    )
    app.state.token_classifier = TokenClassifier(
        service, labels=labels, auto_truncate=truncate, max_client_batch_size=max_items
    )


def limits_of(state: ServerState) -> ModelLimits:
    return ModelLimits(
        vocab_size=state.tokenizer.vocab_size,
        embedding_dim=state.engine_info.embedding_dim,
        max_client_batch_size=state.settings.max_client_batch_size,
        prompt_names=tuple(sorted(name for name, _ in state.profile.prompts)),
        token_ids=state.settings.token_ids,
    )


def _add_middlewares(app: FastAPI, state: ServerState, tracer_provider: Any) -> None:
    """Last added is outermost: metrics (and traces) see every answer, the guards' own too.
    The fast lane sits just inside them (fast_lane.py says which requests it takes)."""
    settings = state.settings
    app.add_middleware(RootDispatch, task=state.profile.task, default_route=settings.default_route)
    app.add_middleware(
        RequestBodyGuard,
        limit_bytes=settings.payload_limit_bytes,
        read_timeout_s=settings.body_read_timeout_s,
    )
    app.add_middleware(ContentNegotiation)
    app.add_middleware(ErrorGuard)
    app.add_middleware(ResponseCompression)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["x-request-id", "x-compute-time", "x-compute-tokens"],
        )
    if settings.fast_lane and state.profile.task == "embed":
        app.state.fast_lane = LaneStats()
        app.add_middleware(
            FastLane,
            routes=_lane_routes(app),
            reader=BodyReader(settings.payload_limit_bytes, settings.body_read_timeout_s),
            auth=ApiKeyAuth(settings.api_key),
            cors=bool(settings.cors_origins),
            stats=app.state.fast_lane,
        )
    app.add_middleware(RequestId)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    if settings.tracing:
        from bei_cli.server.tracing import Tracing  # needs opentelemetry-api: only when on

        app.add_middleware(Tracing, tracer_provider=tracer_provider)


def _lane_routes(app: FastAPI) -> dict[str, LaneRoute]:
    openai, tei = app.state.openai_embeddings, app.state.tei_embed
    return {
        path: openai_route(openai, post_route(openai_router.routes, path))
        for path in ("/v1/embeddings", "/embeddings")
    } | {"/embed": tei_route(tei, post_route(tei_router.routes, "/embed"))}


def create_app(
    engine: Engine | EngineConnection,
    tokenizer: TextTokenizer,
    profile: ModelProfile,
    settings: ServerSettings,
    *,
    tracer_provider: Any = None,
) -> FastAPI:
    """`engine`: an Engine to run in this process, or the EngineConnection of a running engine
    process. `tracer_provider`: where spans go when `settings.tracing` (None: the global
    provider)."""
    cost = BatchCost()
    state = build_state(engine, tokenizer, profile, settings, cost)
    app = FastAPI(
        title="bei",
        version=__version__,
        summary=f"{settings.served_model_name}: OpenAI- and TEI-compatible inference server",
        lifespan=_lifespan(state),
        redirect_slashes=False,  # RootDispatch serves a trailing slash instead
    )
    app.state.server = state
    gate = AdmissionGate(
        settings.max_concurrent_requests,
        max_wait_s=settings.max_queue_wait_s,
        queue=state.batcher,
        cost=cost,
        shape=BatchShape(state.engine_info.max_batch_tokens, state.engine_info.max_batch_size),
    )
    _embedding_routes(app, state, gate)
    _scoring_routes(app, state, gate)
    install_error_handlers(app)
    auth = [Depends(ApiKeyAuth(settings.api_key))]
    app.include_router(health.open_router)
    app.include_router(health.info_router, dependencies=auth)
    install_model_routes(app, [*auth, Depends(read_deadline)])
    install_openapi(app, profile.task, limits_of(state))
    _add_middlewares(app, state, tracer_provider)
    return app
