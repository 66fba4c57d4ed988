"""Hugging Face text-embeddings-inference routes: POST /embed."""
