"""A real worker process for shutdown tests: each job.accepted event makes it sleep for
`data.duration` tenths of a second, writing `start`/`done` lines to OMNIGEN_TEST_MARKERS."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.domain.events import JobAccepted
from omnigen.shared.logging import configure_logging
from omnigen.shared.messages import ConsumerSettings, MessageContext
from omnigen.shared.runtime.consumer import Consumer
from omnigen.shared.runtime.service import run_until_signalled
from omnigen.shared.settings import AwsSettings


async def _main() -> None:
    markers = Path(os.environ["OMNIGEN_TEST_MARKERS"])
    settings = AwsSettings()

    def mark(line: str) -> None:
        with markers.open("a") as out:
            out.write(line + "\n")

    async def handle(event: JobAccepted, _context: MessageContext) -> None:
        await asyncio.to_thread(mark, f"start {event.job_id}")
        await asyncio.sleep(event.data.duration / 10)
        await asyncio.to_thread(mark, f"done {event.job_id}")

    async with AwsClients(settings) as aws:
        consumer = Consumer(
            await aws.sqs(),
            os.environ["OMNIGEN_TEST_QUEUE"],
            ConsumerSettings(
                max_concurrency=int(os.environ.get("OMNIGEN_TEST_CONCURRENCY", "1")),
                visibility_timeout_s=4,
                wait_time_s=2,
                drain_timeout_s=float(os.environ.get("OMNIGEN_TEST_DRAIN_S", "10")),
            ),
        )
        consumer.register(JobAccepted, handle)
        await run_until_signalled([consumer])


def main() -> None:
    configure_logging("sleepy-worker")
    asyncio.run(_main())


if __name__ == "__main__":
    main()
