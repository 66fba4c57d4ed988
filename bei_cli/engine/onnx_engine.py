"""The onnx engine: an embedder exported by `onnx_export` run by ONNX Runtime on CPU.

The graph already pools and applies Dense layers (see onnx_export), so a run is: pad the ragged
batch to its own longest sequence, feed the inputs the graph declares, return `embeddings`
un-normalized -- the torch engine's contract, held equal to it by the parity tests. Nothing here
imports torch: an onnx artifact serves without it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bei_cli.engine.base import Batch, EngineInfo, Output
from bei_cli.errors import ArtifactError, EngineError, UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile

ONNX_FILE = "model.onnx"
# The graph's one output; onnx_export names it so. Defined here so that serving an onnx artifact
# never imports onnx_export, which imports torch.
OUTPUT_NAME = "embeddings"


@dataclass
class OnnxEngine:
    info: EngineInfo
    session: Any  # onnxruntime.InferenceSession (untyped upstream)
    input_names: tuple[str, ...]
    pad_id: int
    padding_side: str

    def run(self, batch: Batch) -> Output:
        if len(batch) == 0:
            return Output(embeddings=np.zeros((0, self.info.embedding_dim), dtype=np.float32))
        longest = int(batch.lengths.max())
        if longest > self.info.max_seq_len:
            raise EngineError(
                f"a sequence of {longest} tokens exceeds max_seq_len {self.info.max_seq_len}."
            )
        ids, mask, types = batch.padded(self.pad_id, self.padding_side)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (embeddings,) = self.session.run(
            [OUTPUT_NAME], {name: feeds[name] for name in self.input_names}
        )
        return Output(embeddings=np.asarray(embeddings, dtype=np.float32))


def open_session(onnx_path: Path, threads: int | None = None) -> Any:
    """A CPU session with every graph optimization on and one intra-op thread per core that
    sleeps when idle."""
    import onnxruntime as ort

    if not onnx_path.is_file():
        raise ArtifactError(
            f"ONNX model {onnx_path} is missing.",
            hint="Rebuild the artifact with `bei build`.",
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    # Idle intra-op threads sleep instead of spinning: served, the engine shares the cores with
    # the HTTP front-ends, and spinning threads took the CPU those needed (measured: the engine
    # process at 137% CPU between batches of 5-token inputs, the front-end starved).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def pad_token_id(model_dir: Path) -> int:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    pad_id = config.get("pad_token_id")
    return 0 if pad_id is None else int(pad_id)


def load_onnx_engine(
    model_dir: Path,
    profile: ModelProfile,
    *,
    onnx_file: str = ONNX_FILE,
    dtype: str = "float32",
    max_batch_tokens: int = 16384,
    max_batch_size: int = 128,
    max_seq_len: int | None = None,
    threads: int | None = None,
) -> OnnxEngine:
    """Open `model_dir/onnx_file` for the embedder described by `profile`.

    `dtype` only labels the engine ("float32", or "int8" for a `quantize_int8` graph): ONNX
    Runtime reads the precision from the graph itself.
    """
    if profile.task != "embed":
        raise UnsupportedModelError(
            f"the onnx engine serves embedding models only, not {profile.task} models.",
            hint="Use the torch engine for classifiers, rerankers and NER models.",
        )
    session = open_session(model_dir / onnx_file, threads)
    info = EngineInfo(
        name="onnx",
        task="embed",
        dtype=dtype,
        device="cpu",
        embedding_dim=profile.embedding_dim,
        labels=(),
        max_seq_len=max_seq_len or profile.max_seq_len,
        max_batch_tokens=max_batch_tokens,
        max_batch_size=max_batch_size,
    )
    return OnnxEngine(
        info=info,
        session=session,
        input_names=tuple(i.name for i in session.get_inputs()),
        pad_id=pad_token_id(model_dir),
        padding_side=profile.padding_side,
    )
