"""Reranking: TEI/BEI POST /rerank (bare list) and Cohere/Jina POST /v1/rerank."""
