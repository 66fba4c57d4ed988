"""Checkpoint inspection: config.json + sentence-transformers files -> ModelProfile."""

from bei_cli.inspect.architectures import FAMILIES, HEADS, supported_architectures
from bei_cli.inspect.inspector import inspect_checkpoint
from bei_cli.inspect.profile import DenseLayer, ModelProfile

__all__ = [
    "FAMILIES",
    "HEADS",
    "DenseLayer",
    "ModelProfile",
    "inspect_checkpoint",
    "supported_architectures",
]
