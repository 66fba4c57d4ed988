"""The HTTP server: OpenAI /v1/embeddings, TEI /embed, /rerank and /predict, Cohere/Jina
/v1/rerank, BEI /predict_tokens, health/info/metrics, the dynamic batcher.

Entry points: `bei_cli.server.app.create_app` and `bei_cli.server.run.serve`
(`bei_cli.server.launch.serve_artifact` for a built artifact).
"""
