"""Service-layer steps every worker shares: claiming a job's step for one message, publishing
an event once per job, and failing a job with a reason (record first, then tell subscribers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

import structlog

from omnigen.shared.domain.errors import (
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
    StageRegression,
)
from omnigen.shared.domain.events import (
    Event,
    EventType,
    JobFailed,
    JobFailedData,
    job_id_hint,
    stable_event_id,
)
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


class Claim(Enum):
    WORK = "work"  # the lease is ours: do the step, or resume what an earlier attempt began
    FINISHED = "finished"  # this very message already did the step: announce it (again)
    DUPLICATE = "duplicate"  # another message holds or did the step: nothing to do


@dataclass(frozen=True)
class Claimed:
    kind: Claim
    job: Job | None  # None for a duplicate: the step is someone else's business


@asynccontextmanager
async def claim_step(
    jobs: JobRepository,
    job_id: str,
    step: str,
    ctx: MessageContext,
    seconds: float,
    *,
    stage: str,
    finished: Callable[[Job], bool],
    metadata: Mapping[str, Any] | None = None,
) -> AsyncIterator[Claimed]:
    """Claim `step` of the job for this SQS message, in the same conditional write that moves
    the job to `stage` (the step's first stage) and merges `metadata`.

    The lease names the step's owner: only the message holding it works, and only that message
    announces the step's outcome. A duplicate (another message id) is dropped without a read;
    the redelivery of the owner's own message after a crash resumes the work, or re-announces
    it when the job is already `finished`. A job further along but not finished is resumed.
    On failure inside the block the lease is handed back for whichever message retries; on
    success it stays, naming the owner. Raises `JobStopped` when the job was cancelled, failed
    elsewhere or deleted."""
    claimed = await _claim(jobs, job_id, step, ctx.message_id, seconds, stage, finished, metadata)
    if claimed.kind is not Claim.WORK:
        yield claimed
        return
    try:
        yield claimed
    except BaseException:
        await jobs.release_lease(job_id, step, ctx.message_id)
        raise


async def _claim(
    jobs: JobRepository,
    job_id: str,
    step: str,
    holder: str,
    seconds: float,
    stage: str,
    finished: Callable[[Job], bool],
    metadata: Mapping[str, Any] | None,
) -> Claimed:
    try:
        try:
            job = await jobs.acquire_lease(
                job_id, step, holder, seconds, stage=stage, metadata=metadata
            )
        except StageRegression as regression:
            further = regression.job or await jobs.get_job(job_id)
            if finished(further):
                return _already_done(further, step, holder)
            job = await jobs.acquire_lease(job_id, step, holder, seconds, metadata=metadata)
    except LeaseHeld as held:
        log.info("duplicate_dropped", step=step, holder=held.holder)
        return Claimed(Claim.DUPLICATE, None)
    except JobAlreadyFinished as ended:
        job = ended.job or await jobs.get_job(job_id)
        if job.status is not JobStatus.COMPLETED or not finished(job):
            raise JobStopped(job_id, ended.error_message or ended.status) from None
        return _already_done(job, step, holder)
    except JobNotFound:
        raise JobStopped(job_id, "deleted") from None
    return Claimed(Claim.WORK, job)


def _already_done(job: Job, step: str, holder: str) -> Claimed:
    owner = job.leases.get(step, {}).get("holder")
    if owner == holder:
        log.info("step_already_done", step=step)
        return Claimed(Claim.FINISHED, job)
    log.info("duplicate_dropped", step=step, holder=owner)
    return Claimed(Claim.DUPLICATE, None)


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
        event_id=stable_event_id(job.job_id, EventType.JOB_FAILED.value),
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
