"""uvicorn without its own signal handling, so that one SIGTERM handler stops the HTTP server
and the consumer together and the process exits 0 (uvicorn would re-raise the signal)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from omnigen.shared.runtime.consumer import Consumer


class ApiServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the service (main.serve)

    async def run_with(self, consumer: Consumer) -> None:
        """Serve HTTP and consume until either stops; then stop the other and wait for both."""
        api = asyncio.create_task(self.serve(), name="http")
        work = asyncio.create_task(consumer.run(), name="consumer")
        await asyncio.wait({api, work}, return_when=asyncio.FIRST_COMPLETED)
        consumer.stop()
        self.should_exit = True
        await asyncio.gather(api, work)
