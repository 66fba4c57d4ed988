"""The sentence-transformers layers that follow the transformer, in torch: pooling and Dense.

Pooling here runs on the engine's device so only (n, d) pooled rows leave it, never (n, T, d)
hidden states. Its semantics are those of `postprocess.pool` (the numpy reference, itself equal to
sentence-transformers' `Pooling`); tests hold the two equal for every mode and padding side.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.profile import DenseLayer, PoolingMode

# Same constants as postprocess (sentence-transformers' clamp before dividing).
MIN_DENOMINATOR = 1e-9


def _first_real(mask: torch.Tensor) -> torch.Tensor:
    return mask.to(torch.int32).argmax(dim=1)


def _rows(states: torch.Tensor) -> torch.Tensor:
    return torch.arange(states.shape[0], device=states.device)


def _pool_cls(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return states[_rows(states), _first_real(mask)]


def _pool_lasttoken(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    last = mask.shape[1] - 1 - mask.to(torch.int32).flip(1).argmax(dim=1)
    rows = _rows(states)
    return states[rows, last] * mask[rows, last].unsqueeze(-1).to(states.dtype)


def _pool_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return states.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).amax(dim=1)


def _weighted_sum(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


def _token_counts(mask: torch.Tensor) -> torch.Tensor:
    return mask.sum(dim=1, keepdim=True, dtype=torch.float32).clamp(min=MIN_DENOMINATOR)


def _pool_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _weighted_sum(states, mask.to(states.dtype)) / _token_counts(mask)


def _pool_mean_sqrt_len(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _weighted_sum(states, mask.to(states.dtype)) / _token_counts(mask).sqrt()


def _pool_weightedmean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=torch.float32)
    weights = mask.to(torch.float32) * (positions.unsqueeze(0) - _first_real(mask).unsqueeze(1))
    total = weights.sum(dim=1, keepdim=True).clamp(min=MIN_DENOMINATOR)
    return _weighted_sum(states, weights) / total


TORCH_POOLERS: dict[PoolingMode, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cls": _pool_cls,
    "lasttoken": _pool_lasttoken,
    "max": _pool_max,
    "mean": _pool_mean,
    "mean_sqrt_len_tokens": _pool_mean_sqrt_len,
    "weightedmean": _pool_weightedmean,
}


def pool_tensor(states: torch.Tensor, mask: torch.Tensor, mode: PoolingMode) -> torch.Tensor:
    """(n, T, d) states of any float dtype -> (n, d) float32, pooled in float32."""
    return TORCH_POOLERS[mode](states.float(), mask)


# Dense activations by class name; sentence-transformers stores the dotted path
# (e.g. "torch.nn.modules.activation.Tanh"), older checkpoints the same under other modules.
ACTIVATIONS: dict[str, Callable[[], torch.nn.Module]] = {
    "Identity": torch.nn.Identity,
    "Tanh": torch.nn.Tanh,
    "ReLU": torch.nn.ReLU,
    "GELU": torch.nn.GELU,
    "Sigmoid": torch.nn.Sigmoid,
    "SiLU": torch.nn.SiLU,
    "LeakyReLU": torch.nn.LeakyReLU,
    "Softplus": torch.nn.Softplus,
}

DENSE_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def activation(name: str) -> torch.nn.Module:
    factory = ACTIVATIONS.get(name.rsplit(".", 1)[-1])
    if factory is None:
        raise UnsupportedModelError(
            f"Dense activation {name!r} is not supported.",
            hint=f"Supported activations: {', '.join(sorted(ACTIVATIONS))}.",
        )
    return factory()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors or torch pickle state dict, never executing pickled code."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    return dict(loaded)


def dense_weights_file(layer_dir: Path) -> Path:
    for name in DENSE_WEIGHT_FILES:
        if (layer_dir / name).is_file():
            return layer_dir / name
    raise UnsupportedModelError(
        f"Dense layer {layer_dir.name} has no weights ({' or '.join(DENSE_WEIGHT_FILES)}).",
        hint="Re-save the checkpoint with sentence-transformers, or remove the Dense module.",
    )


def load_dense(model_dir: Path, layer: DenseLayer) -> torch.nn.Sequential:
    """One sentence-transformers Dense module as Linear + activation, in float32."""
    linear = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias)
    state = read_state_dict(dense_weights_file(model_dir / layer.path))
    weights = {key.removeprefix("linear."): value for key, value in state.items()}
    try:
        linear.load_state_dict(weights)
    except RuntimeError as exc:
        raise UnsupportedModelError(
            f"Dense layer {layer.path} weights do not match its config: {exc}",
            hint="Check in_features/out_features/bias in the layer's config.json.",
        ) from exc
    return torch.nn.Sequential(linear, activation(layer.activation)).float().eval()
