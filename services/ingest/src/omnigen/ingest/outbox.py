"""The outbox sweeper: every created job gets its `job.accepted`, and every failed job re-opened
by a retry the event that resumes it, even when the create's (or the retry's) own publish
failed and nobody retries, or ingest died between the write and the publish.

A job is created (or re-opened) carrying an outbox marker (indexed by the jobs table's sparse
`OutboxIndex`), and the write that records the announcement (or the job's terminal write)
removes it. Every ingest
task runs this sweeper beside its HTTP API and consumer: every `interval_s` it asks the table
for jobs that have owed their announcement for more than `age_s` and announces each through
`publish_accepted_once`, whose short lease makes two tasks sweeping at once publish once (and
`job.accepted` keeps its stable event id, so even a repeat is the same event)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final

import structlog

from omnigen.ingest.handlers import IngestPorts, NotAnnounced, publish_accepted_once
from omnigen.shared.domain.errors import JobNotFound

log = structlog.get_logger()

SWEEP_BATCH: Final = 100  # announcements owed, read per query of the index


class OutboxSweeper:
    """A service of the ingest process (`run()` until `stop()`); `sweep()` is one pass."""

    def __init__(
        self,
        ports: IngestPorts,
        *,
        interval_s: float,
        age_s: float,
        batch: int = SWEEP_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ports = ports
        self._interval_s = interval_s
        self._age_s = age_s
        self._batch = batch
        self._clock = clock
        self._stopping = asyncio.Event()
        self._pass: asyncio.Task[int] | None = None

    async def run(self) -> None:
        log.info("outbox_sweeper_started", interval_s=self._interval_s, age_s=self._age_s)
        while not self._stopping.is_set():
            self._pass = asyncio.create_task(self.sweep())
            try:
                await self._pass
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise  # run() itself was cancelled
            except Exception as exc:  # the table is unreachable: the next pass tries again
                log.error("outbox_sweep_failed", error=str(exc), error_type=type(exc).__name__)
            finally:
                self._pass = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
        log.info("outbox_sweeper_stopped")

    def stop(self) -> None:
        """Stop at once, also in the middle of a pass: a publish cut short leaves its lease to
        expire, and the next sweeper publishes the same event (same id) again."""
        self._stopping.set()
        if self._pass is not None:
            self._pass.cancel()

    async def sweep(self) -> int:
        """Announce every job that has owed its announcement (`job.accepted`, or a re-opened
        attempt's resume event) since it was created more than `age_s` ago (up to one
        batch, oldest first); returns how many this pass announced or found announced. The
        first announcement that fails ends the pass (SNS is most likely down: the next pass
        tries again rather than this one waiting on every job in turn)."""
        repository = self._ports.repository
        owing = await repository.unannounced_jobs(
            created_before=self._clock() - self._age_s, limit=self._batch
        )
        settled = 0
        for job_id in owing:
            if self._stopping.is_set():
                break
            try:
                job = await publish_accepted_once(self._ports, await repository.get_job(job_id))
            except JobNotFound:
                continue  # deleted since: nothing to announce
            except NotAnnounced as exc:  # SNS is still down, or another task holds it
                log.warning("outbox_not_announced", job_id=job_id, error=str(exc))
                break
            if job.announced:
                settled += 1
                log.info("outbox_announced", job_id=job_id)
            elif job.is_terminal and job.outbox is not None:
                # only a job ended by code older than the outbox can carry one: nothing to send
                log.warning("outbox_marker_on_ended_job", job_id=job_id, status=job.status)
        if owing:
            log.info("outbox_swept", owing=len(owing), announced=settled)
        return settled
