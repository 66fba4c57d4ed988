"""Quantization: the pure plan of what runs for a `quantization_type` on a target, the accuracy
gate that judges a built engine against fp32, and the host CPU's bf16 capability."""

from bei_cli.quantize.plan import (
    IMPLEMENTED,
    RULES,
    Hardware,
    QuantPlan,
    is_implemented,
    plan_quantization,
)

__all__ = ["IMPLEMENTED", "RULES", "Hardware", "QuantPlan", "is_implemented", "plan_quantization"]
