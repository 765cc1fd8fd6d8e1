"""Ingest's use cases as plain async functions over the ports: submit a job (HTTP and upstream
share it), handle an upstream job request, cancel or delete a job."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import structlog
from pydantic import ValidationError

from omnigen.ingest.trust import UNRESTRICTED, Origin
from omnigen.ingest.uploads import UnusableReference, UploadAccess, kinds_at, resolve_references
from omnigen.ingest.webhooks import WebhookAccess, callback_problem
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
)
from omnigen.shared.domain.events import (
    Event,
    EventType,
    JobAccepted,
    JobAcceptedData,
    JobRejected,
    JobRejectedData,
    JobRequested,
    Problem,
    ScriptReady,
    ScriptReadyData,
    stable_event_id,
)
from omnigen.shared.domain.jobs import (
    ANNOUNCE_STEP,
    CANCELLED_REASON,
    TTL_SECONDS,
    Job,
    JobRequest,
)
from omnigen.shared.domain.media import unwritable_language
from omnigen.shared.domain.rules import RateWindow
from omnigen.shared.domain.script_rules import given_script_problems
from omnigen.shared.domain.text import error_message
from omnigen.shared.domain.versions import version_requests
from omnigen.shared.ports import (
    AssetStore,
    EventPublisher,
    JobRepository,
    LeaseClaim,
    job_prefix,
)
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.workflow import fail_job

log = structlog.get_logger()

ACCEPTED: Final = EventType.JOB_ACCEPTED.value
ACCEPT_STEP: Final = ANNOUNCE_STEP
ACCEPT_LEASE_S: Final = 10.0  # far longer than a publish; a dead holder delays others this long
ACCEPT_POLL_S: Final = 0.1
ACCEPT_WAIT_MARGIN_S: Final = 2.0


class UnwritableRequest(Exception):
    """Nothing configured can write this request's script (a 422 or job.rejected naming
    `field`); nothing is created."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotAnnounced(Exception):
    """The job exists but its event could not be published. For `job.accepted` the outbox
    sweeper publishes it later (`omnigen.ingest.outbox`), so `submit_job` swallows this; a
    retried attempt's event has no outbox, so asking again resends it. The message is fit for
    a client: the cause (AWS text, the endpoint, the topic) is only in `cause` and in the log."""

    def __init__(self, job_id: str, cause: Exception) -> None:
        super().__init__(f"job {job_id} was created but could not be queued")
        self.job_id = job_id
        self.cause = cause


class ScriptNotFit(Exception):
    """The request's own script breaks the rules a written script must pass; `problems` are
    (field, message) pairs with fields named from the request (`script.scenes[2].narration`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


class UnusableUploads(ScriptNotFit):
    """The request names an upload it may not use (someone else's, unknown, deleted, still
    being checked, rejected, or of the wrong kind); nothing is created."""

    code = "unusable_upload"


@dataclass(frozen=True)
class IngestPorts:
    repository: JobRepository
    publisher: EventPublisher
    assets: AssetStore
    # The scripter has a model (OMNIGEN_SCRIPT_WRITER=openai): it writes every language; the
    # offline planner writes English only.
    model_writes_scripts: bool = False
    webhooks: WebhookAccess | None = None  # None: webhooks off (callback_url refused)
    uploads: UploadAccess | None = None  # None: uploads off (media references refused)


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False: an idempotent retry got the job created earlier
    announced: bool = True  # False: `job.accepted` is owed; the outbox sweeper publishes it


async def submit_job(
    ports: IngestPorts,
    *,
    user_id: str,
    request: JobRequest,
    idempotency_key: str | None,
    trace_id: str | None,
    running_cap: int | None = None,
    video_quota_s: int | None = None,
    rate: RateWindow | None = None,
) -> Submission:
    """Create the job (idempotent on the key) and make sure `job.accepted` is published once.

    The creating request holds the publishing lease from the create itself, so the happy path
    is three calls (create, publish, record). When the publish fails the job is still accepted
    (`announced=False`): it was created owing `job.accepted` (its outbox marker), which the
    outbox sweeper publishes within about its age + interval, and a retry with the same key
    publishes at once; concurrent retries never publish twice. Raises `IdempotencyConflict`
    for the same key with another payload, and `RunningJobsLimit` when the user already runs
    `running_cap` jobs, `MonthlyQuotaExceeded` past `video_quota_s` seconds requested this
    month, `RateWindowFull` when `rate`'s window is full (all decided by the create itself, so
    concurrent submits cannot pass them; a retry of an existing job is never refused), and
    `ScriptNotFit` for a script of the user's own that breaks the rules (nothing is created)."""
    problems = given_script_problems(request)
    if problems:
        raise ScriptNotFit(problems)
    if request.script is None and (
        problem := unwritable_language(request.options.language, ports.model_writes_scripts)
    ):
        raise UnwritableRequest("language", problem)
    await _check_uploads(ports, user_id, request)
    holder = uuid.uuid4().hex  # the creator publishes: it holds the lease from the first write
    created = await ports.repository.create_job(
        user_id=user_id,
        request=request,
        idempotency_key=idempotency_key,
        trace_id=trace_id,
        lease=LeaseClaim(ACCEPT_STEP, holder, ACCEPT_LEASE_S),
        running_cap=running_cap,
        video_quota_s=video_quota_s,
        rate=rate,
    )
    if created.created:
        await metrics.count(catalog.JOBS_ACCEPTED)
    try:
        if created.created:
            job = await publish_announcement(ports, created.job, holder)
        else:
            job = await publish_accepted_once(ports, created.job)
    except NotAnnounced as exc:
        log.warning("job_announcement_deferred", job_id=exc.job_id, to="outbox sweeper")
        return Submission(created.job, created.created, announced=False)
    if created.created:
        log.info("job_submitted", job_id=job.job_id, user_id=user_id)
    return Submission(job, created.created)


async def _check_uploads(ports: IngestPorts, user_id: str, request: JobRequest) -> None:
    """Every upload the request names must be the user's and ready; those are then kept as
    long as the job (a retry of the same request keeps them again: harmless)."""
    references = request.upload_references()
    if not references:
        return
    if ports.uploads is None:
        path = next(iter(references))
        raise UnusableUploads([(path, "uploads are not available here")])
    try:
        await resolve_references(
            ports.uploads,
            user_id,
            {path: (upload_id, kinds_at(path)) for path, upload_id in references.items()},
            keep_until=int(ports.uploads.clock()) + TTL_SECONDS,
        )
    except UnusableReference as exc:
        raise UnusableUploads([(exc.field, exc.message)]) from None


async def publish_accepted_once(ports: IngestPorts, job: Job) -> Job:
    """Publish the job's announcement unless it was: `job.accepted`, or for a re-opened attempt
    the event that resumes it (`Job.announcement_type`). A short lease picks one publisher
    among racers; the others wait until it is recorded, or take over when the holder died (its
    lease ran out)."""
    deadline = time.monotonic() + ACCEPT_LEASE_S + ACCEPT_WAIT_MARGIN_S
    while not job.announced and not job.is_terminal:
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
        if not job.announced:
            job = await publish_announcement(ports, job, holder)
    return job


async def publish_announcement(ports: IngestPorts, job: Job, holder: str) -> Job:
    """Publish the attempt's announcement as `holder` of its lease and record it (which
    settles the job's outbox marker); a failure hands the lease back and raises."""
    events = _announcements(job)
    try:
        for event in events:
            await ports.publisher.publish(event)
    except Exception as exc:
        log.error(
            "job_announcement_not_published",
            job_id=job.job_id,
            attempt=job.attempt,
            error=f"{type(exc).__name__}: {exc}",
        )
        with contextlib.suppress(Exception):  # else the lease simply expires
            await ports.repository.release_lease(job.job_id, ACCEPT_STEP, holder)
        raise NotAnnounced(job.job_id, exc) from exc
    first = str(events[0].event_id) if events else ""
    return await ports.repository.record_published(job.job_id, job.announcement_key, first)


async def retry_job(ports: IngestPorts, job: Job, *, running_cap: int | None = None) -> Job:
    """Run a failed job again as its next attempt: reopened from the stage where it failed
    (finished scenes are reused; the attempt takes a running slot), then the event that
    resumes it is published with this attempt's stable id: job.accepted without a script,
    script.ready with one. The reopen makes the attempt owe that announcement (the outbox, as
    a create does) and holds its lease, so when the publish fails the sweeper announces it
    later (`omnigen.ingest.outbox`). Asked again for an attempt whose announcement failed, it
    announces again. Raises `JobNotRetryable` for a running or completed job,
    `RunningJobsLimit` at the cap, `NotAnnounced` when the event could not be published."""
    if job.is_terminal or job.attempt == 1:
        holder = uuid.uuid4().hex
        job = await ports.repository.reopen_job(
            job, running_cap=running_cap, lease=LeaseClaim(ACCEPT_STEP, holder, ACCEPT_LEASE_S)
        )
        job = await publish_announcement(ports, job, holder)
    elif not job.announced:
        job = await publish_accepted_once(ports, job)
    else:  # announced already: the client asks again, so send it again (same id)
        try:
            await ports.publisher.publish(_announcement(job))
        except Exception as exc:
            log.error("job_retry_not_published", job_id=job.job_id, error=str(exc))
            raise NotAnnounced(job.job_id, exc) from exc
    log.info("job_retried", job_id=job.job_id, attempt=job.attempt, resumes=job.resume_event)
    return job


def _announcements(job: Job) -> list[Event]:
    """What announces the job's current attempt (`_announcement`) or, for a regenerated
    version, the version's work items (`domain.versions.version_requests`)."""
    if job.render_version > 1:
        return version_requests(job, job.render_version, job.trace_id)
    return [_announcement(job)]


def _announcement(job: Job) -> JobAccepted | ScriptReady:
    """The event that announces the job's current attempt, with the attempt's stable id:
    job.accepted for a new job; for a re-opened one, job.accepted without a script and
    script.ready with one."""
    script = job.script
    if job.announcement_type is EventType.SCRIPT_READY and script is not None:
        return ScriptReady.create(
            job_id=job.job_id,
            user_id=job.user_id,
            trace_id=job.trace_id,
            data=ScriptReadyData(title=script.title, scene_count=len(script.scenes)),
            event_id=stable_event_id(job.event_subject, EventType.SCRIPT_READY.value),
        )
    return JobAccepted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=job.trace_id,
        data=JobAcceptedData(duration=job.duration, aspect_ratio=job.aspect_ratio.value),
        event_id=stable_event_id(job.event_subject, ACCEPTED),
    )


async def handle_job_requested(
    ports: IngestPorts, event: JobRequested, origin: Origin = UNRESTRICTED
) -> Job | None:
    """Upstream request: from a publisher that may act for its user and valid -> the POST path
    keyed on its request id; otherwise rejected (the publisher's refusal first, then the fields).

    Returns the job, or None when the request was rejected (retrying cannot fix that)."""
    refusal = origin.refusal(event.user_id)
    if refusal is not None:
        _log_refused(origin, event.user_id)
        await publish_rejected(ports, event, [refusal])
        return None
    request_id = event.data.request_id
    try:
        request = JobRequest.model_validate(event.data.request)
    except ValidationError as exc:
        await publish_rejected(ports, event, problems(exc))
        return None
    if request.callback_url:
        problem = await check_callback(ports, event.user_id, request.callback_url)
        if problem is not None:
            reason = Problem(field="request.callback_url", message=problem)
            await publish_rejected(ports, event, [reason])
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
    except ScriptNotFit as exc:
        reasons = [Problem(field=field, message=message) for field, message in exc.problems]
        await publish_rejected(ports, event, reasons)
        return None
    except UnwritableRequest as exc:
        await publish_rejected(
            ports, event, [Problem(field=f"options.{exc.field}", message=str(exc))]
        )
        return None
    return submission.job


async def check_callback(ports: IngestPorts, user_id: str, url: str) -> str | None:
    """Why the job's `callback_url` cannot be taken (None: it can)."""
    if ports.webhooks is None:
        return "webhooks are not configured here"
    return await callback_problem(ports.webhooks, user_id, url)


async def publish_rejected(ports: IngestPorts, event: JobRequested, reasons: list[Problem]) -> None:
    await _publish_rejection(
        ports,
        Sender(event.user_id, event.data.request_id, event.trace_id, str(event.event_id)),
        reasons,
    )


@dataclass(frozen=True)
class Sender:
    """Who sent an upstream request, as far as a rejection needs to know: whom to answer
    (`user_id`, `request_id`), the trace to answer on, and what the rejection's id derives from."""

    user_id: str
    request_id: str
    trace_id: str | None
    subject: str  # the request's own event id; a digest of the body when it has none


async def reject_unparseable(
    ports: IngestPorts, body: str, reason: str, origin: Origin = UNRESTRICTED
) -> bool:
    """Answer a body that is not a valid `job.requested` with `job.rejected`, naming the
    fields at fault (or the publisher's refusal), when its sender can be identified (`user_id`
    and `data.request_id` readable). Returns False, publishing nothing, when it cannot. The
    rejection's id derives from the request (its event id, else the body), so a redelivery
    publishes the same event."""
    raw = _json_object(body)
    sender = None if raw is None else identify(raw, body)
    if raw is None or sender is None:
        return False
    refusal = origin.refusal(sender.user_id)
    if refusal is not None:
        _log_refused(origin, sender.user_id)
        reasons = [refusal]
    else:
        reasons = envelope_problems(raw) or [Problem(field="event", message=reason)]
    await _publish_rejection(ports, sender, reasons)
    return True


def _log_refused(origin: Origin, user_id: str) -> None:
    log.warning(
        "job_request_refused",
        publisher=origin.publisher,
        topic=origin.topic,
        user_id=user_id,
        rule_configured=origin.rule is not None,
    )


def identify(raw: dict[str, Any], body: str) -> Sender | None:
    data = raw.get("data")
    user_id = _text(raw.get("user_id"), 200)
    request_id = _text(data.get("request_id"), 200) if isinstance(data, dict) else None
    if user_id is None or request_id is None:
        return None
    event_id = _text(raw.get("event_id"), 200)
    subject = event_id or f"sha256:{hashlib.sha256(body.encode()).hexdigest()}"
    return Sender(user_id, request_id, _text(raw.get("trace_id"), 100), subject)


def envelope_problems(raw: dict[str, Any]) -> list[Problem]:
    """What keeps `raw` from being a `job.requested` this service takes, field by field."""
    event_type, version = raw.get("event_type"), raw.get("schema_version")
    if event_type != EventType.JOB_REQUESTED.value:
        message = f"expected {EventType.JOB_REQUESTED.value!r} on this topic, got {event_type!r}"
        return [Problem(field="event_type", message=message)]
    if not isinstance(version, int) or isinstance(version, bool) or version != JobRequested.VERSION:
        message = f"version {version!r} is not supported (supported: {JobRequested.VERSION})"
        return [Problem(field="schema_version", message=message)]
    try:  # as the JSON it came as: strict types still take UUIDs and times from strings
        JobRequested.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        return problems(exc, default="event")
    return []


async def _publish_rejection(ports: IngestPorts, sender: Sender, reasons: list[Problem]) -> None:
    rejected = JobRejected.create(
        job_id=None,
        user_id=sender.user_id,
        trace_id=sender.trace_id,
        data=JobRejectedData(request_id=sender.request_id, reasons=reasons),
        event_id=stable_event_id(sender.subject, EventType.JOB_REJECTED.value),
    )
    await ports.publisher.publish(rejected)
    log.warning(
        "job_request_rejected",
        request_id=sender.request_id,
        reasons=[f"{p.field}: {p.message}" for p in reasons],
    )


def _json_object(body: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) else None


def _text(value: object, max_length: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= max_length else None


def problems(exc: ValidationError, *, default: str = "request") -> list[Problem]:
    """One problem per invalid field, the field named by its dotted path in the request."""
    return [
        Problem(field=".".join(str(p) for p in err["loc"]) or default, message=error_message(err))
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
            ports.repository,
            ports.publisher,
            job.job_id,
            CANCELLED_REASON,
            trace_id=job.trace_id,
            reason_class=catalog.REASON_CANCELLED,
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
