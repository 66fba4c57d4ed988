"""OCI images without a daemon: deterministic layers and layouts, bases, Dockerfile context."""
