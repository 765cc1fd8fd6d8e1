"""Service-layer steps every worker shares: checkpoints, publishing an event exactly once per
job, and failing a job with a reason (record first, then tell subscribers)."""

from __future__ import annotations

import structlog

from omnigen.shared.domain.errors import JobAlreadyFinished, JobNotFound
from omnigen.shared.domain.events import Event, JobFailed, JobFailedData, job_id_hint
from omnigen.shared.domain.jobs import Job
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.runtime.consumer import FailureHook, MessageContext, PoisonHook

log = structlog.get_logger()


class JobStopped(Exception):
    """The job ended while we worked on it (cancelled, failed elsewhere, deleted): stop quietly."""

    def __init__(self, job_id: str, why: str) -> None:
        super().__init__(f"job {job_id} stopped: {why}")
        self.job_id = job_id


async def checkpoint(jobs: JobRepository, job_id: str) -> Job:
    """Re-read the job between steps; raise JobStopped if it was cancelled or has ended."""
    try:
        job = await jobs.get_job(job_id)
    except JobNotFound:
        raise JobStopped(job_id, "deleted") from None
    if job.is_terminal:
        raise JobStopped(job_id, job.error_message or job.status.value)
    return job


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
