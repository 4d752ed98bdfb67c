"""The HTTP API: a Litestar app over the core services."""
