"""Scene regeneration (`omnigen.shared.domain.versions`): the use case the HTTP route and the
upstream `regeneration.requested` event share.

`regenerate_scene` starts the job's next render version by one conditional write and then
publishes the renderer's work items for it (the re-rendered scenes' requests, or their
keyframes' first, and, when the narration or a duration changed, the audio's). The starting
write is also where the version is counted in its user's month (`versions`, the seconds it
re-renders as `requested_seconds`, refused with `MonthlyQuotaExceeded` past the quota: nothing
starts) and makes the job owe the work items (the outbox marker, as a create does; the
request holds the announcing lease from that write), so if the publish fails or ingest dies
before it, the outbox sweeper publishes them under their stable ids and recording them clears
the marker. Keyed on a request id (the Idempotency-Key, or upstream's `request_id`): a retry
with the same id and changes answers the version it made and publishes its outstanding work
items again (same event ids). A regeneration while a version is running is refused naming it
(`VersionRunning`, a 409): of two at once, the write of one starts the version and the other
is refused by its condition, then re-decided on the job as it found it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Final

import structlog
from pydantic import ValidationError

from omnigen.ingest.handlers import (
    ACCEPT_LEASE_S,
    ACCEPT_STEP,
    IngestPorts,
    NotAnnounced,
    Sender,
    _publish_rejection,
    publish_accepted_once,
    publish_announcement,
)
from omnigen.ingest.trust import UNRESTRICTED, Origin
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.events import Problem, RegenerationRequested, describe
from omnigen.shared.domain.jobs import Job, LeaseClaim
from omnigen.shared.domain.versions import (
    ChangesNotFit,
    SceneChanges,
    VersionConflict,
    VersionRaced,
    VersionRefused,
    existing_request,
    plan_regeneration,
    version_requests,
)

log = structlog.get_logger()

_RACES: Final = 5  # a start refused by a concurrent write is decided again this often


@dataclass(frozen=True)
class Regenerated:
    job: Job
    version: int
    created: bool  # False: a retry of the request that made `version`
    announced: bool = True  # False: its work items are owed; the outbox sweeper sends them


async def regenerate_scene(
    ports: IngestPorts,
    job: Job,
    scene_number: int,
    changes: SceneChanges,
    *,
    request_id: str | None,
    trace_id: str | None,
    video_quota_s: int | None = None,
) -> Regenerated:
    """Start the job's next version regenerating `scene_number` with `changes` and request
    its pieces (`announced=False`: the publish failed, the outbox sweeper sends them). Raises
    `VersionRefused` (running, cancelled, nothing to regenerate), `ChangesNotFit`,
    `MonthlyQuotaExceeded` (the version's seconds would pass `video_quota_s`; nothing
    started), `VersionConflict` (the request id made another version) or `NotAnnounced` (a
    retry's resend of an announced version's work items failed: ask again)."""
    for _ in range(_RACES):
        if request_id is not None:
            record = existing_request(job, request_id, scene_number, changes)
            if record is not None:
                return await _replayed(ports, job, int(record["version"]), trace_id)
        start = plan_regeneration(
            job, scene_number, changes, now=time.time(), request_id=request_id
        )
        holder = uuid.uuid4().hex  # the starter publishes: it holds the lease from the write
        try:
            job = await ports.repository.start_version(
                job,
                start,
                lease=LeaseClaim(ACCEPT_STEP, holder, ACCEPT_LEASE_S),
                video_quota_s=video_quota_s,
            )
        except VersionRaced as raced:
            job = raced.job
            continue
        log.info(
            "version_requested",
            job_id=job.job_id,
            version=start.version,
            scene=scene_number,
            changed=sorted(start.record["changes"]),
            seconds=start.requested_seconds,
        )
        try:
            job = await publish_announcement(ports, job, holder)
        except NotAnnounced:
            log.warning("version_requests_deferred", job_id=job.job_id, to="outbox sweeper")
            return Regenerated(job, start.version, created=True, announced=False)
        return Regenerated(job, start.version, created=True)
    raise VersionRefused(job.job_id, f"job {job.job_id} kept changing; try again")


async def _replayed(
    ports: IngestPorts, job: Job, version: int, trace_id: str | None
) -> Regenerated:
    """A retry of the request that made `version`: while that version runs, its work items
    are sent (again: same ids), through the outbox's lease while they are still owed."""
    if version != job.render_version or job.is_terminal:
        return Regenerated(job, version, created=False)
    if not job.announced:
        try:
            job = await publish_accepted_once(ports, job)
        except NotAnnounced:
            return Regenerated(job, version, created=False, announced=False)
        return Regenerated(job, version, created=False)
    await _request_pieces(ports, job, version, trace_id)
    return Regenerated(job, version, created=False)


async def _request_pieces(ports: IngestPorts, job: Job, version: int, trace_id: str | None) -> None:
    try:
        for event in version_requests(job, version, trace_id or job.trace_id):
            await ports.publisher.publish(event)
    except Exception as exc:
        log.error("version_not_requested", job_id=job.job_id, version=version, error=str(exc))
        raise NotAnnounced(job.job_id, exc) from None


async def handle_regeneration_requested(
    ports: IngestPorts, event: RegenerationRequested, origin: Origin = UNRESTRICTED
) -> Regenerated | None:
    """Upstream asks to regenerate a scene: from a publisher that may act for the job's user,
    valid, on a job of that user -> the same use case keyed on its request id; otherwise
    `job.rejected` naming the fields (None). A failed publish raises: SQS retries it."""
    sender = Sender(event.user_id, event.data.request_id, event.trace_id, str(event.event_id))
    refusal = origin.refusal(event.user_id)
    if refusal is not None:
        await _publish_rejection(ports, sender, [refusal])
        return None
    try:
        changes = SceneChanges.model_validate(event.data.changes)
    except ValidationError as exc:
        await _publish_rejection(ports, sender, _problems(exc))
        return None
    assert event.job_id is not None
    try:
        job = await ports.repository.get_job(event.job_id)
    except JobNotFound:
        job = None
    if job is None or job.user_id != event.user_id:
        problem = Problem(field="job_id", message=f"job {event.job_id} not found")
        await _publish_rejection(ports, sender, [problem])
        return None
    try:
        return await regenerate_scene(
            ports,
            job,
            event.data.scene_number,
            changes,
            request_id=f"upstream:{event.data.request_id}",
            trace_id=event.trace_id,
        )
    except ChangesNotFit as exc:
        reasons = [Problem(field=_changes_field(f), message=m) for f, m in exc.problems]
        await _publish_rejection(ports, sender, reasons)
    except VersionConflict as exc:
        await _publish_rejection(ports, sender, [Problem(field="request_id", message=str(exc))])
    except VersionRefused as exc:
        await _publish_rejection(ports, sender, [Problem(field="job_id", message=str(exc))])
    return None


def _changes_field(field: str) -> str:
    """A problem's field as the event names it (`changes.narration`)."""
    return field if field.startswith("script") or field == "scene_number" else f"changes.{field}"


def _problems(exc: ValidationError) -> list[Problem]:
    return [
        Problem(field=f"changes.{line.partition(': ')[0]}", message=line.partition(": ")[2])
        for line in describe(exc).split("; ")
    ]
