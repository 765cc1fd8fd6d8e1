"""Service-layer steps every worker shares: checkpoints, publishing an event exactly once per
job, and failing a job with a reason (record first, then tell subscribers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from omnigen.shared.domain.errors import JobAlreadyFinished, JobNotFound, LeaseHeld
from omnigen.shared.domain.events import Event, JobFailed, JobFailedData, job_id_hint
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.runtime.consumer import FailureHook, MessageContext, PoisonHook

log = structlog.get_logger()


class JobStopped(Exception):
    """The job ended while we worked on it (cancelled, failed elsewhere, deleted): stop quietly."""

    def __init__(self, job_id: str, why: str) -> None:
        super().__init__(f"job {job_id} stopped: {why}")
        self.job_id = job_id


async def checkpoint(jobs: JobRepository, job_id: str, *, allow_completed: bool = False) -> Job:
    """Re-read the job between steps; raise JobStopped if it was cancelled or has ended
    (a completed job is returned instead when `allow_completed`, to re-announce it)."""
    try:
        job = await jobs.get_job(job_id)
    except JobNotFound:
        raise JobStopped(job_id, "deleted") from None
    if job.is_terminal and not (allow_completed and job.status is JobStatus.COMPLETED):
        raise JobStopped(job_id, job.error_message or job.status.value)
    return job


@asynccontextmanager
async def step_lease(
    jobs: JobRepository, job_id: str, step: str, ctx: MessageContext, seconds: float
) -> AsyncIterator[bool]:
    """Hold the job's lease for `step` on behalf of this SQS message; yields False for a
    duplicate message (the holder's own message finishes the work). A redelivery of the same
    message re-enters. On failure the lease is handed back for whichever message retries;
    on success it simply lapses with the step (later deliveries see the job moved on)."""
    try:
        await jobs.acquire_lease(job_id, step, ctx.message_id, seconds)
    except LeaseHeld as held:
        log.info("duplicate_dropped", step=step, holder=held.holder)
        yield False
        return
    except JobAlreadyFinished as finished:
        raise JobStopped(job_id, finished.error_message or finished.status) from None
    try:
        yield True
    except BaseException:
        await jobs.release_lease(job_id, step, ctx.message_id)
        raise


async def publish_once(
    jobs: JobRepository, publisher: EventPublisher, job: Job, event: Event
) -> bool:
    """Publish `event` unless one of its type was already recorded for the job.

    Publish first, record second: a crash in between means one duplicate on redelivery
    (at-least-once, and consumers are idempotent), never a lost event.
    """
    kind = event.event_type.value
    if kind in job.published:
        log.info("event_already_published", event_type=kind, job_id=job.job_id)
        return False
    await publisher.publish(event)
    await jobs.record_published(job.job_id, kind, str(event.event_id))
    return True


async def fail_job(
    jobs: JobRepository,
    publisher: EventPublisher,
    job_id: str,
    reason: str,
    *,
    trace_id: str | None = None,
) -> None:
    """Mark the job failed (if it is still running) and publish job.failed once."""
    try:
        job = await jobs.mark_job_failed(job_id, reason)
    except JobAlreadyFinished:
        job = await jobs.get_job(job_id)
        if job.status.value != "failed":
            return
    except JobNotFound:
        log.warning("fail_unknown_job", job_id=job_id, reason=reason)
        return
    event = JobFailed.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id or job.trace_id,
        data=JobFailedData(stage=job.stage, error_message=job.error_message or reason),
    )
    await publish_once(jobs, publisher, job, event)


def failure_hooks(jobs: JobRepository, publisher: EventPublisher) -> tuple[PoisonHook, FailureHook]:
    """Consumer hooks: a poison message or an exhausted retry fails the job it belongs to."""

    async def on_poison(reason: str, context: MessageContext) -> None:
        job_id, _user = job_id_hint(context.body)
        if job_id is not None:
            await fail_job(jobs, publisher, job_id, f"malformed event: {reason}")

    async def on_failure(event: Event, _context: MessageContext, reason: str) -> None:
        if event.job_id is not None:
            await fail_job(jobs, publisher, event.job_id, reason, trace_id=event.trace_id)

    return on_poison, on_failure
