"""Ingest's use cases as plain async functions over the ports: submit a job (HTTP and upstream
share it), handle an upstream job request, cancel or delete a job."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Final

import structlog
from pydantic import ValidationError

from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
)
from omnigen.shared.domain.events import (
    EventType,
    JobAccepted,
    JobAcceptedData,
    JobRejected,
    JobRejectedData,
    JobRequested,
    Problem,
    stable_event_id,
)
from omnigen.shared.domain.jobs import CANCELLED_REASON, Job, JobRequest
from omnigen.shared.ports import (
    AssetStore,
    EventPublisher,
    JobRepository,
    LeaseClaim,
    job_prefix,
)
from omnigen.shared.workflow import fail_job

log = structlog.get_logger()

ACCEPTED: Final = EventType.JOB_ACCEPTED.value
ACCEPT_STEP: Final = "publish_accepted"
ACCEPT_LEASE_S: Final = 10.0  # far longer than a publish; a dead holder delays others this long
ACCEPT_POLL_S: Final = 0.1
ACCEPT_WAIT_MARGIN_S: Final = 2.0


class NotAnnounced(Exception):
    """The job exists but `job.accepted` could not be published; a retry with the same
    idempotency key publishes it. The message is fit for a client: the cause (AWS text, the
    endpoint, the topic) is only in `cause` and in the log."""

    def __init__(self, job_id: str, cause: Exception) -> None:
        super().__init__(f"job {job_id} was created but could not be queued")
        self.job_id = job_id
        self.cause = cause


@dataclass(frozen=True)
class IngestPorts:
    repository: JobRepository
    publisher: EventPublisher
    assets: AssetStore


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False: an idempotent retry got the job created earlier


async def submit_job(
    ports: IngestPorts,
    *,
    user_id: str,
    request: JobRequest,
    idempotency_key: str | None,
    trace_id: str | None,
) -> Submission:
    """Create the job (idempotent on the key) and make sure `job.accepted` is published once.

    The creating request holds the publishing lease from the create itself, so the happy path
    is three calls (create, publish, record). A retry with the same key repairs a crash between
    create and publish; concurrent retries never publish twice. Raises `IdempotencyConflict`
    for the same key with another payload."""
    holder = uuid.uuid4().hex  # the creator publishes: it holds the lease from the first write
    created = await ports.repository.create_job(
        user_id=user_id,
        request=request,
        idempotency_key=idempotency_key,
        trace_id=trace_id,
        lease=LeaseClaim(ACCEPT_STEP, holder, ACCEPT_LEASE_S),
    )
    if created.created:
        job = await _publish_accepted(ports, created.job, holder)
        log.info("job_submitted", job_id=job.job_id, user_id=user_id)
    else:
        job = await publish_accepted_once(ports, created.job)
    return Submission(job, created.created)


async def publish_accepted_once(ports: IngestPorts, job: Job) -> Job:
    """Publish `job.accepted` unless it was. A short lease picks one publisher among racers; the
    others wait until it is recorded, or take over when the holder died (its lease ran out)."""
    deadline = time.monotonic() + ACCEPT_LEASE_S + ACCEPT_WAIT_MARGIN_S
    while ACCEPTED not in job.published and not job.is_terminal:
        holder = uuid.uuid4().hex
        try:
            job = await ports.repository.acquire_lease(
                job.job_id, ACCEPT_STEP, holder, ACCEPT_LEASE_S
            )
        except JobAlreadyFinished:
            return await ports.repository.get_job(job.job_id)  # cancelled already: no event
        except LeaseHeld:
            if time.monotonic() > deadline:
                raise NotAnnounced(job.job_id, TimeoutError("another publisher holds it")) from None
            await asyncio.sleep(ACCEPT_POLL_S)
            job = await ports.repository.get_job(job.job_id)
            continue
        if ACCEPTED not in job.published:
            job = await _publish_accepted(ports, job, holder)
    return job


async def _publish_accepted(ports: IngestPorts, job: Job, holder: str) -> Job:
    event = JobAccepted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=job.trace_id,
        data=JobAcceptedData(duration=job.duration, aspect_ratio=job.aspect_ratio.value),
        event_id=stable_event_id(job.job_id, ACCEPTED),
    )
    try:
        await ports.publisher.publish(event)
    except Exception as exc:
        log.error(
            "job_accepted_not_published",
            job_id=job.job_id,
            error=f"{type(exc).__name__}: {exc}",
        )
        with contextlib.suppress(Exception):  # else the lease simply expires
            await ports.repository.release_lease(job.job_id, ACCEPT_STEP, holder)
        raise NotAnnounced(job.job_id, exc) from exc
    return await ports.repository.record_published(job.job_id, ACCEPTED, str(event.event_id))


async def handle_job_requested(ports: IngestPorts, event: JobRequested) -> Job | None:
    """Upstream request: valid -> the POST path keyed on its request id; invalid -> rejected.

    Returns the job, or None when the request was rejected (retrying cannot fix that)."""
    request_id = event.data.request_id
    try:
        request = JobRequest.model_validate(event.data.request)
    except ValidationError as exc:
        await publish_rejected(ports, event, problems(exc))
        return None
    try:
        submission = await submit_job(
            ports,
            user_id=event.user_id,
            request=request,
            idempotency_key=request_id,
            trace_id=event.trace_id,
        )
    except IdempotencyConflict as exc:
        await publish_rejected(ports, event, [Problem(field="request_id", message=str(exc))])
        return None
    return submission.job


async def publish_rejected(ports: IngestPorts, event: JobRequested, reasons: list[Problem]) -> None:
    rejected = JobRejected.create(
        job_id=None,
        user_id=event.user_id,
        trace_id=event.trace_id,
        data=JobRejectedData(request_id=event.data.request_id, reasons=reasons),
        event_id=stable_event_id(str(event.event_id), EventType.JOB_REJECTED.value),
    )
    await ports.publisher.publish(rejected)
    log.warning(
        "job_request_rejected",
        request_id=event.data.request_id,
        reasons=[f"{p.field}: {p.message}" for p in reasons],
    )


def problems(exc: ValidationError) -> list[Problem]:
    """One problem per invalid field, the field named by its dotted path in the request."""
    return [
        Problem(field=".".join(str(p) for p in err["loc"]) or "request", message=err["msg"])
        for err in exc.errors()
    ]


@dataclass(frozen=True)
class Removal:
    job: Job
    cancelled: bool  # True: it was running and is now failed "cancelled"; False: deleted


async def cancel_or_delete(ports: IngestPorts, job: Job) -> Removal:
    """A running job is cancelled: failed "cancelled" (workers stop at their next checkpoint)
    and `job.failed` published for subscribers; a finished one is deleted with its assets."""
    if not job.is_terminal:
        cancelled = await fail_job(
            ports.repository, ports.publisher, job.job_id, CANCELLED_REASON, trace_id=job.trace_id
        )
        if cancelled is not None:
            log.info("job_cancelled", job_id=job.job_id)
            return Removal(cancelled, cancelled=True)
        job = await ports.repository.get_job(job.job_id)  # it finished meanwhile
    removed = await ports.assets.delete_prefix(job_prefix(job.job_id))
    with contextlib.suppress(JobNotFound):  # a concurrent DELETE got there first: same outcome
        await ports.repository.delete_job(job.job_id)
    log.info("job_deleted", job_id=job.job_id, assets_removed=removed)
    return Removal(job, cancelled=False)
