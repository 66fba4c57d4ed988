"""Pure numpy postprocessing: pooling, normalization, Matryoshka truncation, sigmoid and softmax.

Pooling follows sentence-transformers' `Pooling` module (padded path) exactly, so a checkpoint
pools here the way it pooled when it was trained:

- the mask is (n, T) with 1 on real tokens; padding may sit on the left or on the right;
- cls takes the first real token; lasttoken the last real token (a row with no real token gives
  zeros, as in sentence-transformers);
- max ignores padding (-inf on masked positions); mean divides the masked sum by the number of
  real tokens, mean_sqrt_len_tokens by its square root;
- weightedmean weights real tokens 1..L by position, counted from the first real token.

This module is the reference semantics; engines that pool on their own tensors (the torch engine
pools on the device to avoid copying whole hidden states) are tested against it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from bei_cli.engine.base import FloatArray
from bei_cli.errors import InvalidRequestError
from bei_cli.inspect.profile import PoolingMode

# Masks may be int or bool; internal arrays are float32 at runtime whatever numpy's stubs infer.
MaskArray = npt.NDArray[Any]
Array = npt.NDArray[Any]

# sentence-transformers clamps token counts and weight sums to this before dividing.
MIN_DENOMINATOR = 1e-9
# torch.nn.functional.normalize's default eps, used by the sentence-transformers Normalize module.
NORM_EPS = 1e-12


def _first_real(mask: MaskArray) -> npt.NDArray[np.int64]:
    """Index of each row's first real token (0 for an all-padding row, like torch argmax)."""
    return np.argmax(mask, axis=1).astype(np.int64)


def _masked_sum(states: Array, weights: Array) -> Array:
    return np.einsum("ntd,nt->nd", states, weights, dtype=np.float32)


def _pool_cls(states: Array, mask: MaskArray) -> Array:
    return states[np.arange(len(states)), _first_real(mask)]


def _pool_lasttoken(states: Array, mask: MaskArray) -> Array:
    width = mask.shape[1]
    # Last real position; a row without real tokens reads position T-1 and is zeroed below.
    last = width - 1 - np.argmax(mask[:, ::-1], axis=1)
    rows = np.arange(len(states))
    return states[rows, last] * mask[rows, last, None].astype(states.dtype)


def _pool_max(states: Array, mask: MaskArray) -> Array:
    return np.where(mask[:, :, None].astype(bool), states, -np.inf).max(axis=1)


def _token_counts(mask: MaskArray) -> Array:
    counts = mask.sum(axis=1, dtype=np.float32)[:, None]
    return np.maximum(counts, MIN_DENOMINATOR)


def _pool_mean(states: Array, mask: MaskArray) -> Array:
    return _masked_sum(states, mask.astype(np.float32)) / _token_counts(mask)


def _pool_mean_sqrt_len(states: Array, mask: MaskArray) -> Array:
    return _masked_sum(states, mask.astype(np.float32)) / np.sqrt(_token_counts(mask))


def _pool_weightedmean(states: Array, mask: MaskArray) -> Array:
    positions = np.arange(1, mask.shape[1] + 1, dtype=np.float32)[None, :]
    offsets = _first_real(mask).astype(np.float32)[:, None]
    weights = mask.astype(np.float32) * (positions - offsets)
    total = np.maximum(weights.sum(axis=1, keepdims=True), MIN_DENOMINATOR)
    return _masked_sum(states, weights) / total


POOLERS: dict[PoolingMode, Callable[[Array, MaskArray], Array]] = {
    "cls": _pool_cls,
    "lasttoken": _pool_lasttoken,
    "max": _pool_max,
    "mean": _pool_mean,
    "mean_sqrt_len_tokens": _pool_mean_sqrt_len,
    "weightedmean": _pool_weightedmean,
}


def pool(states: FloatArray, mask: MaskArray, mode: PoolingMode) -> FloatArray:
    """Pool padded token states (n, T, d) under `mask` (n, T) into (n, d) float32."""
    pooled = POOLERS[mode](np.asarray(states, dtype=np.float32), np.asarray(mask))
    return np.asarray(pooled, dtype=np.float32)


def l2_normalize(embeddings: FloatArray) -> FloatArray:
    """Rows scaled to unit L2 norm; a zero row stays zero (torch F.normalize semantics)."""
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return (embeddings / np.maximum(norms, NORM_EPS)).astype(np.float32)


def truncate_dims(embeddings: FloatArray, dims: int) -> FloatArray:
    """Matryoshka: keep the first `dims` components. Renormalize afterwards if normalizing."""
    full = embeddings.shape[-1]
    if not 1 <= dims <= full:
        raise InvalidRequestError(
            f"dimensions must be between 1 and {full}, got {dims}.", param="dimensions"
        )
    return np.ascontiguousarray(embeddings[..., :dims])


def matryoshka(embeddings: FloatArray, dims: int | None, *, normalize: bool) -> FloatArray:
    """The request-side embedding pipeline: optional truncation, then optional normalization."""
    out = embeddings if dims is None else truncate_dims(embeddings, dims)
    return l2_normalize(out) if normalize else out.astype(np.float32, copy=False)


def sigmoid(logits: FloatArray) -> FloatArray:
    """Numerically stable logistic function."""
    x = np.asarray(logits, dtype=np.float32)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def softmax(logits: FloatArray, axis: int = -1) -> FloatArray:
    """Numerically stable softmax along `axis`."""
    x = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return (shifted / shifted.sum(axis=axis, keepdims=True)).astype(np.float32)


def activate(scores: FloatArray, *, problem_type: str | None, raw: bool) -> FloatArray:
    """Classifier logits (n, num_labels) -> the scores transformers' text-classification
    pipeline reports by default: none for regression, sigmoid for multi-label models and
    single-logit models (cross-encoders), softmax over the labels otherwise. `raw` keeps logits.

    Token classification (NER) always uses softmax, as transformers' pipeline does.
    """
    logits = np.asarray(scores, dtype=np.float32)
    if raw or problem_type == "regression":
        return logits
    if problem_type == "multi_label_classification" or logits.shape[-1] == 1:
        return sigmoid(logits)
    return softmax(logits)
