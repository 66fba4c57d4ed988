"""Running a causal architecture (Llama, Mistral, Qwen2/3, Gemma2, ...) with full attention.

Bidirectional embedders built on decoder families (base_model encoder_bert, gte-Qwen's
`is_causal: false`, ...) need every token to see every other. transformers 5 has two switches,
and both are needed: `config.is_causal = False` makes `masking_utils.create_causal_mask` build a
padding-only (bidirectional) mask, and each attention module's `is_causal` flag is what the SDPA
and flash kernels fall back to when that mask is skipped (no padding in the batch).

Sliding-window layers (Mistral, Gemma2) then attend within a symmetric window, which is how
transformers defines bidirectional sliding attention; inputs shorter than the window attend fully.

A family whose forward ignores both switches would silently stay causal, so after switching, a
probe checks that the first position's output depends on a later token; if not, loading fails.
"""

from __future__ import annotations

import torch

from bei_cli.errors import EngineError, UnsupportedModelError
from bei_cli.inspect.profile import Attention

# Two probe sequences that share their first token and differ after it.
PROBE_IDS = ((5, 6, 7), (5, 8, 9))
# How far the first position's outputs must move for attention to count as bidirectional; a
# causal model gives exactly equal rows, a bidirectional one differs far above rounding.
PROBE_TOLERANCE = 1e-6


def apply_attention(model: torch.nn.Module, attention: Attention | None) -> None:
    """Make a loaded model attend as the profile says; None or "causal" keep the architecture's
    own attention (a causal family's causal mask comes from transformers itself)."""
    if attention == "bidirectional":
        force_bidirectional(model)


def force_bidirectional(model: torch.nn.Module) -> None:
    if not _natively_bidirectional(model):
        _switch_off_causal(model)
    if not attends_bidirectionally(model):
        _raise_still_causal(model)


def _natively_bidirectional(model: torch.nn.Module) -> bool:
    """A config whose own class attends bidirectionally (Gemma3's `use_bidirectional_attention`,
    EmbeddingGemma) builds its own masks: Gemma3's sliding window is `|i - j| < window`, while
    the generic one `is_causal = False` selects is `|i - j| <= window`, so forcing would widen
    every sliding layer by one position and change the vectors."""
    config = getattr(model, "config", None)
    return getattr(config, "use_bidirectional_attention", None) is True


def _switch_off_causal(model: torch.nn.Module) -> None:
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            config.is_causal = False
        if getattr(module, "is_causal", None) is True:
            vars(module)["is_causal"] = False  # a plain attribute (nn.Module typing forbids bool)


def _raise_still_causal(model: torch.nn.Module) -> None:
    name = type(model).__name__
    raise UnsupportedModelError(
        f"{name} cannot be made to attend bidirectionally in this transformers version: "
        "its first token ignores later tokens even with is_causal disabled.",
        hint="Use base_model: encoder to run it causally (as it was trained), or a "
        "transformers version whose implementation honours config.is_causal.",
    )


def attends_bidirectionally(model: torch.nn.Module) -> bool:
    """Whether position 0's last hidden state changes when a later token does."""
    device = next(model.parameters()).device
    ids = torch.tensor(PROBE_IDS, dtype=torch.long, device=device)
    with torch.inference_mode():
        output = model(
            input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True
        )
    first = output.hidden_states[-1][:, 0].float()
    if not bool(torch.isfinite(first).all()):
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        raise EngineError(
            f"{type(model).__name__} computes non-finite hidden states in {dtype} (overflow).",
            hint="float16 overflows for some checkpoints: use bfloat16 or float32 "
            "(`bei: {dtype: bfloat16}`).",
        )
    return bool((first[0] - first[1]).abs().max() > PROBE_TOLERANCE)
