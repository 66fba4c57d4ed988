"""The HTTP server: OpenAI /v1/embeddings, TEI /embed, health/info/metrics, the dynamic batcher.

Entry points: `bei_cli.server.app.create_app` and `bei_cli.server.run.serve`
(`bei_cli.server.launch.serve_artifact` for a built artifact).
"""
