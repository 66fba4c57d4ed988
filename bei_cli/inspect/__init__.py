"""Checkpoint inspection: config.json + sentence-transformers files -> ModelProfile."""
