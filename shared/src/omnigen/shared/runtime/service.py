"""Running consumers as a service: SIGTERM/SIGINT stop polling and drain, then the process
exits 0 inside the ECS stop timeout."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable

import structlog

from omnigen.shared.runtime.consumer import Consumer

log = structlog.get_logger()


async def run_until_signalled(
    consumers: Iterable[Consumer], *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run every consumer until SIGTERM or SIGINT, then let each drain."""
    consumers = list(consumers)
    loop = asyncio.get_running_loop()

    def stop(signame: str) -> None:
        log.info("shutdown_requested", signal=signame)
        for consumer in consumers:
            consumer.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        await asyncio.gather(*(consumer.run() for consumer in consumers))
    finally:
        # A second signal while closing must not kill the process half-way through.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, log.info, "shutdown_already_in_progress")
        if on_stop is not None:
            await on_stop()
