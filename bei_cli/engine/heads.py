"""Output heads of the labelled tasks: sequence scores (classify, rerank) and token scores (NER).

Both hand back raw logits in float32; turning them into probabilities is a request option
(`raw_scores`) and lives in postprocess.py, so one engine run serves raw and activated requests
alike. The transformers *ForSequenceClassification / *ForTokenClassification models already
apply their own pooling and classifier, so a head only copies the logits off the device.
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


def label_count(profile: ModelProfile) -> int:
    if not profile.labels:
        raise UnsupportedModelError(
            f"{profile.architecture} is a {profile.task} model without labels (id2label).",
            hint='Add "id2label" to config.json, one entry per output of the classifier.',
        )
    return len(profile.labels)


@dataclass(frozen=True)
class SequenceScoresHead:
    """classify / rerank: one row of `num_labels` logits per sequence."""

    num_labels: int

    @classmethod
    def load(
        cls, model_dir: Path, profile: ModelProfile, device: torch.device
    ) -> SequenceScoresHead:
        return cls(num_labels=label_count(profile))

    def __call__(self, model_output: Any, mask: torch.Tensor) -> Output:
        return Output(scores=model_output.logits.float().cpu().numpy())

    def empty(self) -> Output:
        return Output(scores=np.zeros((0, self.num_labels), dtype=np.float32))


@dataclass(frozen=True)
class TokenScoresHead:
    """ner: per sequence, one row of logits for each real token (special tokens included),
    in input order; padding rows -- on whichever side the engine padded -- are dropped."""

    num_labels: int

    @classmethod
    def load(cls, model_dir: Path, profile: ModelProfile, device: torch.device) -> TokenScoresHead:
        return cls(num_labels=label_count(profile))

    def __call__(self, model_output: Any, mask: torch.Tensor) -> Output:
        logits = model_output.logits.float().cpu().numpy()
        real = mask.bool().cpu().numpy()
        return Output(token_scores=tuple(logits[i][real[i]] for i in range(len(logits))))

    def empty(self) -> Output:
        return Output(token_scores=())
