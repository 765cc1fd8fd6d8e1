"""Service-layer steps every worker shares: the one skeleton of a worker's step (`run_step`:
claim, drop a duplicate, work, stop quietly on a finished job, announce the outcome once),
publishing an event once per job, and failing a job with a reason (record first, then tell
subscribers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, Generic, TypeVar

import structlog

from omnigen.shared.domain.errors import (
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
    LeaseLost,
    OmnigenError,
    PieceRaced,
    ProviderFailed,
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
from omnigen.shared.domain.scenes import RenderState
from omnigen.shared.domain.stages import JobStatus, stage_seq
from omnigen.shared.messages import (
    EventT,
    FailureHook,
    MessageContext,
    PermanentFailure,
    PoisonHook,
    WorkLost,
)
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.telemetry.tracing import span

log = structlog.get_logger()
_TAKEOVER_POLL_S = 2.0  # how often a redelivery looks whether the earlier receive let go
_TAKEOVER_MARGIN_S = 5.0  # beyond one lease term, the earlier receive is renewing: give up


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
    stage: str | None,
    finished: Callable[[Job], bool],
    metadata: Mapping[str, Any] | None = None,
) -> AsyncIterator[Claimed]:
    """Claim `step` of the job for this receive of an SQS message, in the same conditional write
    that moves the job to `stage` (the step's first stage; None: where it is) and merges
    `metadata`.

    The lease names one receive and lasts `seconds`; while the step runs, the consumer's
    heartbeat renews it (a lease taken over meanwhile stops the work), so a crash frees the
    step within `seconds`. Only the lease's holder works, and only the message it belongs to
    announces the step's outcome:
    - free or expired: this receive works (a redelivery, a redriven letter or a duplicate
      takes over from a holder that is gone, resuming what it began);
    - held by a live receive of another message: a duplicate, dropped without a read;
    - held by a live earlier receive of this same message (its visibility lapsed while it
      worked): wait until that receive lets go or its lease expires, then take over;
    - the job is already `finished`: this message re-announces it if it is the owner, else it
      is a duplicate.
    On failure inside the block the lease is handed back for whichever message retries; on
    success it stays, naming the owner. Raises `JobStopped` when the job was cancelled, failed
    elsewhere or deleted."""
    holder = ctx.receive_token
    claimed = await _claim(_StepClaim(jobs, job_id, step, ctx, seconds, stage, finished, metadata))
    if claimed.kind is not Claim.WORK:
        yield claimed
        return

    async def renew() -> None:
        try:
            await jobs.renew_lease(job_id, step, holder, seconds)
        except (LeaseLost, JobNotFound) as lost:
            raise WorkLost(str(lost)) from None

    ctx.keep_alive.append(renew)
    try:
        yield claimed
    except BaseException:
        await jobs.release_lease(job_id, step, holder)
        raise
    finally:
        ctx.keep_alive.remove(renew)


@dataclass(frozen=True)
class _StepClaim:
    """One receive's claim of one step: what `claim_step` was asked."""

    jobs: JobRepository
    job_id: str
    step: str
    ctx: MessageContext
    seconds: float
    stage: str | None
    finished: Callable[[Job], bool]
    metadata: Mapping[str, Any] | None


async def _claim(claim: _StepClaim) -> Claimed:
    ctx, step = claim.ctx, claim.step
    # An earlier receive that keeps renewing beyond one lease term (and a margin) is alive.
    deadline = time.monotonic() + claim.seconds + min(_TAKEOVER_MARGIN_S, claim.seconds)
    while True:
        try:
            return await _try_claim(claim)
        except LeaseHeld as held:
            if held.message != ctx.message_id:
                log.info("duplicate_dropped", step=step, holder=held.holder)
                return Claimed(Claim.DUPLICATE, None)
            current = await claim.jobs.get_job(claim.job_id)  # our earlier receive holds it:
            if claim.finished(current):  # done already (its delete was lost): announce again
                return _already_done(current, step, ctx.message_id)
            wait = min(held.until - time.time(), deadline - time.monotonic())
            if wait <= 0:
                raise  # the earlier receive keeps renewing: let SQS bring this one back later
            log.info("earlier_receive_still_holds", step=step, wait_s=round(wait, 1))
            await asyncio.sleep(min(wait + 0.05, _TAKEOVER_POLL_S))


async def _try_claim(claim: _StepClaim) -> Claimed:
    jobs, job_id, step = claim.jobs, claim.job_id, claim.step
    acquire = partial(
        jobs.acquire_lease,
        job_id,
        step,
        claim.ctx.receive_token,
        claim.seconds,
        metadata=claim.metadata,
        message=claim.ctx.message_id,
    )
    try:
        try:
            job = await acquire(stage=claim.stage)
        except StageRegression as regression:
            further = regression.job or await jobs.get_job(job_id)
            if claim.finished(further):
                return _already_done(further, step, claim.ctx.message_id)
            job = await acquire()
    except JobAlreadyFinished as ended:
        job = ended.job or await jobs.get_job(job_id)
        if job.status is not JobStatus.COMPLETED or not claim.finished(job):
            raise JobStopped(job_id, ended.error_message or ended.status) from None
        return _already_done(job, step, claim.ctx.message_id)
    except JobNotFound:
        raise JobStopped(job_id, "deleted") from None
    return Claimed(Claim.WORK, job)


def _already_done(job: Job, step: str, message: str) -> Claimed:
    owner = job.lease_message(step)
    if owner == message:
        log.info("step_already_done", step=step)
        return Claimed(Claim.FINISHED, job)
    log.info("duplicate_dropped", step=step, owner=owner)
    return Claimed(Claim.DUPLICATE, None)


Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Step(Generic[EventT, Outcome]):
    """One step of a job that a worker owns: what the shared skeleton (`run_step`) cannot know.

    `work` does the step (or resumes what an earlier attempt began) and returns its outcome
    (the message context names this receive, e.g. to keep its files apart from another's);
    a finished job's outcome is read back with `recorded`, so the owner's redelivery can
    announce it again. A permanent error of a type in `fails_job` fails the job with its
    message; a transient one is left to the consumer to retry."""

    name: str
    first_stage: str | None  # None: the claim leaves the stage where it is
    lease_s: float
    finished: Callable[[Job], bool]
    recorded: Callable[[Job], Outcome | None]
    work: Callable[[Job, EventT, MessageContext], Awaitable[Outcome]]
    announce: Callable[[Job, Outcome, EventT], Event]
    fails_job: tuple[type[OmnigenError], ...] = ()


async def run_step(
    step: Step[EventT, Outcome],
    event: EventT,
    ctx: MessageContext,
    jobs: JobRepository,
    publisher: EventPublisher,
) -> None:
    """Every worker's step: claim it for this message (a duplicate is dropped), do the work or
    read back what this message already did, stop quietly when the job ended meanwhile, and
    announce the outcome (the event id is stable, so a re-announcement is recognisable).

    The whole step is one span (`stage <name>`); the step's duration is recorded when this
    message did the work."""
    if event.job_id is None:
        raise PermanentFailure(f"{event.event_type.value} names no job")
    began = time.perf_counter()
    attributes = {"omnigen.stage": step.name, "omnigen.job_id": event.job_id}
    with span(f"stage {step.name}", attributes=attributes):
        worked = await _run_step(step, event, ctx, jobs, publisher)
    if worked:
        elapsed_ms = round((time.perf_counter() - began) * 1000, 1)
        await metrics.record(catalog.STAGE_DURATION, elapsed_ms, {"Stage": step.name})


async def _run_step(
    step: Step[EventT, Outcome],
    event: EventT,
    ctx: MessageContext,
    jobs: JobRepository,
    publisher: EventPublisher,
) -> bool:
    """True when this message did the step's work and announced it."""
    assert event.job_id is not None
    worked = False
    try:
        async with claim_step(
            jobs,
            event.job_id,
            step.name,
            ctx,
            step.lease_s,
            stage=step.first_stage,
            finished=step.finished,
        ) as claim:
            job = claim.job
            if job is None:  # a duplicate
                return False
            if claim.kind is Claim.WORK:
                outcome = await _work(step, job, event, ctx, jobs, publisher)
                worked = outcome is not None
            else:
                outcome = step.recorded(job)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))
        return False
    if outcome is not None:  # outside the claim: a failed publish keeps the lease, so this
        await publisher.publish(step.announce(job, outcome, event))  # message re-announces
    return worked


async def _work(
    step: Step[EventT, Outcome],
    job: Job,
    event: EventT,
    ctx: MessageContext,
    jobs: JobRepository,
    publisher: EventPublisher,
) -> Outcome | None:
    """The step's outcome, or None when it failed the job for good."""
    try:
        return await step.work(job, event, ctx)
    except JobAlreadyFinished as ended:  # a conditional write found the job cancelled or failed
        raise JobStopped(job.job_id, ended.error_message or ended.status) from None
    except step.fails_job as exc:
        if exc.transient:
            raise  # an outage: the consumer retries with backoff, then gives up and fails the job
        reason_class = (
            catalog.REASON_PROVIDER if isinstance(exc, ProviderFailed) else catalog.REASON_STEP
        )
        await fail_job(
            jobs,
            publisher,
            job.job_id,
            str(exc),
            trace_id=event.trace_id,
            reason_class=reason_class,
        )
        return None


_PIECE_WRITE_ATTEMPTS = 1000  # far beyond any number of pieces racing for one job


async def record_finished_piece(
    jobs: JobRepository,
    job: Job,
    number: int,
    piece_key: str,
    *,
    version: int = 1,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Record piece `number` (a scene, or `domain.scenes.AUDIO`) of the job's render `version`
    as finished with its S3 key, by one conditional write on what `job` showed; when another
    piece was recorded in between, decide again on the job as that refusal found it (no read).
    `extra` metadata rides on the same write (what the piece used). True when this call's
    write recorded the last missing piece: exactly one call per render
    version ever answers True, so its caller alone announces "ready to compose". False also
    when the piece was recorded already (a duplicate)."""
    current = job
    for _ in range(_PIECE_WRITE_ATTEMPTS):
        state = RenderState.of(current.metadata, version=version)
        if state is None:
            raise PermanentFailure(f"job {job.job_id} has no planned render version {version}")
        write = state.completion(number, piece_key)
        if write is None:
            log.info("piece_already_recorded", piece=number)
            return False
        # The stage moves only forward: a job already at or past it (a racing piece got there
        # first, or an older render) keeps its stage and the piece is recorded all the same.
        staged = write.stage is not None and current.stage_seq < stage_seq(write.stage)
        try:
            await jobs.record_piece(
                job.job_id,
                stage=write.stage if staged else None,
                metadata={**write.metadata, **(extra or {})},
                expect=write.expect,
            )
        except PieceRaced as raced:
            current = raced.job
            continue
        except StageRegression as regression:  # moved on meanwhile: decide again as it is
            current = regression.job or await jobs.get_job(job.job_id)
            continue
        return write.ready
    raise WriteRacedOut(job.job_id)


class WriteRacedOut(Exception):
    """A piece's write lost every race (impossible short of a bug): the message is retried."""


async def publish_once(
    jobs: JobRepository,
    publisher: EventPublisher,
    job: Job,
    event: Event,
    *,
    render_version: int = 1,
) -> bool:
    """Publish `event` unless one of its type was already recorded for the job's attempt
    (and, from the second, its render version: `compose.requested@v2`).

    Publish first, record second: a crash in between means one duplicate on redelivery
    (at-least-once, and consumers are idempotent), never a lost event.
    """
    kind = job.published_key(event.event_type.value)  # once per attempt
    if render_version > 1:
        kind = f"{kind}@v{render_version}"
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
    reason_class: str = catalog.REASON_PERMANENT,
) -> Job | None:
    """Mark the job failed (if it is still running) and publish job.failed once.

    Returns the job as this call failed it; None when it had ended already (a job failed
    before gets its job.failed published if that was missed) or does not exist. A job this
    call failed counts once in the failed-jobs metric, under `reason_class` (a
    `catalog.REASON_*`)."""
    try:
        job = await jobs.mark_job_failed(job_id, reason)
    except JobAlreadyFinished:
        ended = await jobs.get_job(job_id)
        if ended.status is JobStatus.FAILED:
            await publish_once(jobs, publisher, ended, _failed_event(ended, reason, trace_id))
        return None
    except JobNotFound:
        log.warning("fail_unknown_job", job_id=job_id, reason=reason)
        return None
    await metrics.count(catalog.JOBS_FAILED, {"ReasonClass": reason_class})
    await publish_once(jobs, publisher, job, _failed_event(job, reason, trace_id))
    return job


def _failed_event(job: Job, reason: str, trace_id: str | None) -> JobFailed:
    return JobFailed.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id or job.trace_id,
        data=JobFailedData(stage=job.stage, error_message=job.error_message or reason),
        event_id=stable_event_id(job.event_subject, EventType.JOB_FAILED.value),
    )


def failure_hooks(jobs: JobRepository, publisher: EventPublisher) -> tuple[PoisonHook, FailureHook]:
    """Consumer hooks: a poison message or an exhausted retry fails the job it belongs to."""

    async def on_poison(reason: str, context: MessageContext) -> None:
        job_id, _user = job_id_hint(context.body)
        if job_id is not None:
            await fail_job(
                jobs,
                publisher,
                job_id,
                f"malformed event: {reason}",
                reason_class=catalog.REASON_MALFORMED,
            )

    async def on_failure(event: Event, context: MessageContext, reason: str) -> None:
        scene = getattr(event.data, "scene_number", None)  # a scene's work names its scene
        if scene is not None and not reason.startswith(f"scene {scene}"):
            reason = f"scene {scene}: {reason}"
        if event.job_id is not None:
            await fail_job(
                jobs,
                publisher,
                event.job_id,
                reason,
                trace_id=event.trace_id,
                reason_class=(
                    catalog.REASON_RETRIES if context.is_last_attempt else catalog.REASON_PERMANENT
                ),
            )

    return on_poison, on_failure


async def publish_all(publisher: EventPublisher, events: Sequence[Event]) -> None:
    """Publish `events` together: in batches where the publisher can (one SNS call for up to
    ten work items instead of one each), else one by one."""
    batch = getattr(publisher, "publish_all", None)
    if batch is not None and len(events) > 1:
        await batch(events)
        return
    for event in events:
        await publisher.publish(event)
