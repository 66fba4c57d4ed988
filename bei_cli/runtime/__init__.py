"""The serving runtime, between `server/` (HTTP) and `engine/` (compute): the EngineClient seam,
the queue and batch policy, the in-process batcher and the engine process.

Imports point one way: server -> runtime -> engine; nothing here imports `server`.
"""
