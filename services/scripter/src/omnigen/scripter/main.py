"""`omnigen-scripter`: job.accepted from its queue -> the script step. Wiring only."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.settings import WriterSettings
from omnigen.scripter.writers import build_writer
from omnigen.shared.domain.events import JobAccepted
from omnigen.shared.messages import Handler
from omnigen.shared.runtime.service import WorkerContext, run_worker


@asynccontextmanager
async def scripter(
    context: WorkerContext, settings: WriterSettings
) -> AsyncIterator[Handler[JobAccepted]]:
    writer = build_writer(settings)
    try:
        deps = ScripterDeps(
            jobs=context.jobs, publisher=context.publisher, writer=writer, lease_s=context.lease_s
        )
        yield partial(handle_job_accepted, deps=deps)
    finally:
        await writer.aclose()


def main() -> int:
    return run_worker(
        "scripter",
        settings=WriterSettings,
        queue=lambda spec: spec.scripter_queue,
        event=JobAccepted,
        handler=scripter,
        work="writing the script",
    )


if __name__ == "__main__":
    sys.exit(main())
