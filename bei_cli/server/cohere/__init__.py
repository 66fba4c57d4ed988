"""Cohere v2 embeddings: POST /v2/embed (`cohere.ClientV2.embed`)."""
