"""The SPLADE head: a masked-LM's logits -> one sparse vocabulary-sized vector per sequence.

sentence-transformers' SpladePooling, in torch on the engine's device: padding positions are
zeroed, then relu, log1p (twice for `log1p_relu`, OpenSearch's variant), then max or sum over
the sequence. The Output carries the dense (n, vocab) rows; the server keeps the non-zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bei_cli.engine.base import Output
from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile


@dataclass(frozen=True)
class SpladeHead:
    pooling: str  # "max" or "sum"
    log1p_twice: bool
    dim: int

    @classmethod
    def load(cls, model_dir: Path, profile: ModelProfile, device: torch.device) -> SpladeHead:
        if profile.splade_pooling not in ("max", "sum"):
            raise UnsupportedModelError(
                f"{profile.architecture} is a sparse model without a SpladePooling strategy.",
                hint="Rebuild the artifact: its profile predates SPLADE support.",
            )
        return cls(
            pooling=profile.splade_pooling,
            log1p_twice=profile.splade_activation == "log1p_relu",
            dim=profile.embedding_dim,
        )

    def __call__(self, model_output: Any, mask: torch.Tensor) -> Output:
        logits = model_output.logits.float()
        weights = torch.log1p(torch.relu(logits * mask.unsqueeze(-1).to(logits.dtype)))
        if self.log1p_twice:
            weights = torch.log1p(weights)
        pooled = weights.amax(dim=1) if self.pooling == "max" else weights.sum(dim=1)
        return Output(embeddings=pooled.cpu().numpy())

    def empty(self) -> Output:
        return Output(embeddings=np.zeros((0, self.dim), dtype=np.float32))
