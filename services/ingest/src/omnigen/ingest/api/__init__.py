"""The HTTP API: FastAPI app factory, routes, error shape, body limit."""
