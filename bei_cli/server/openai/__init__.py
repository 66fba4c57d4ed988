"""OpenAI-compatible embeddings: POST /v1/embeddings and /embeddings."""
