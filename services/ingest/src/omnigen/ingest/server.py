"""The HTTP API as a part of the ingest process: uvicorn without its own signal handling, so
that the service's one SIGTERM handler (`run_until_signalled`) stops the HTTP server and the
consumer together and the process exits 0 (uvicorn would re-raise the signal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn


class ApiServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the service (main.serve)


class HttpService:
    """`run()` serves until `stop()`; stopping also ends the open event streams (`stopping`),
    so their connections can close within uvicorn's graceful shutdown."""

    def __init__(self, server: ApiServer, stopping: asyncio.Event) -> None:
        self.server = server
        self._stopping = stopping

    async def run(self) -> None:
        await self.server.serve()

    def stop(self) -> None:
        self._stopping.set()
        self.server.should_exit = True
