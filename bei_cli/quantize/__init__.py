"""Quantization: the pure plan of what runs for a `quantization_type` on a target."""

from bei_cli.quantize.plan import IMPLEMENTED, RULES, Hardware, QuantPlan, plan_quantization

__all__ = ["IMPLEMENTED", "RULES", "Hardware", "QuantPlan", "plan_quantization"]
