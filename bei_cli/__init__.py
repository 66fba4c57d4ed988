"""bei: turn Hugging Face encoder checkpoints into fast, OpenAI/TEI-compatible inference servers."""

__version__ = "0.1.0"
