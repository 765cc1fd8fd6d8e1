"""The FastAPI app factory: routes, error shape, body limit, trace ids; no I/O of its own."""

from __future__ import annotations

from fastapi import FastAPI

from omnigen.ingest.api import (
    batch,
    health,
    review,
    routes,
    uploads,
    usage,
    versions,
    voices,
    web,
    webhooks,
)
from omnigen.ingest.api.body_limit import BodyLimitMiddleware
from omnigen.ingest.api.errors import install_error_handlers
from omnigen.ingest.api.middleware import (
    SecurityHeadersMiddleware,
    TraceMiddleware,
    UnhandledErrorMiddleware,
)
from omnigen.ingest.context import IngestContext


def create_app(context: IngestContext) -> FastAPI:
    """An app over an already built context (adapters, verifier, limiter)."""
    app = FastAPI(
        title="omnigen ingest",
        version="1.0.0",
        description="Submit prompt-to-video jobs, follow their progress, download the result.",
    )
    app.state.ingest = context
    app.state.local_signin = web.local_signin(context.settings)
    app.include_router(batch.router)  # before /v1/jobs/{job_id}-style routes: no clash, clearer
    app.include_router(routes.router)
    app.include_router(review.router)
    app.include_router(versions.router)
    app.include_router(uploads.router)
    app.include_router(usage.router)
    app.include_router(voices.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    app.include_router(web.router)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=context.settings.max_body_bytes,
        per_path={batch.BATCH_PATH: context.settings.max_batch_body_bytes},
    )
    app.add_middleware(UnhandledErrorMiddleware)  # its 500 passes through the two below
    app.add_middleware(TraceMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on every answer, 413s too
    return app
