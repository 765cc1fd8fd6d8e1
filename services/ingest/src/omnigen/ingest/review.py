"""Review before render (issue 13), ingest's use cases: replace the script of a job awaiting
review (under its ETag) and approve its render, from the API or an upstream
`job.render_requested`.

The approval is one conditional write (awaiting_review -> script_approved) that makes the job
owe its script.ready (the outbox marker) and gives the approver the announcing lease: of two
concurrent approvals one wins and publishes, the other waits until that is recorded, and a
crash in between leaves the event to the outbox sweeper. So the renderer hears of an approved
job exactly once per approval (the event id is stable, so even a re-publication is the same
event)."""

from __future__ import annotations

import uuid

import structlog

from omnigen.ingest.handlers import (
    ACCEPT_LEASE_S,
    ACCEPT_STEP,
    IngestPorts,
    NotAnnounced,
    ScriptNotFit,
    publish_accepted_once,
    publish_announcement,
)
from omnigen.ingest.trust import UNRESTRICTED, Origin
from omnigen.shared.domain.errors import JobNotFound, NotInReview, ScriptChanged
from omnigen.shared.domain.events import JobRenderRequested
from omnigen.shared.domain.jobs import Job, LeaseClaim
from omnigen.shared.domain.review import edit_problems, edited_script, reviewed_script, script_etag
from omnigen.shared.domain.scripts import ScriptDraft

log = structlog.get_logger()


async def edit_script(ports: IngestPorts, job: Job, draft: ScriptDraft, if_match: str) -> Job:
    """Replace the script of `job` (as read) awaiting review with `draft`, if `if_match` is the
    ETag of its script as read and still current. Raises `NotInReview`, `ScriptChanged`, or
    `ScriptNotFit` naming the fields (`script.scenes[2].narration`); nothing changes then."""
    current = reviewed_script(job)
    if not etag_matches(if_match, script_etag(current)):
        raise ScriptChanged(job.job_id)
    problems = edit_problems(job, draft)
    if problems:
        raise ScriptNotFit(problems)
    edited = await ports.repository.replace_script(
        job.job_id, edited_script(job, draft), version=job.version
    )
    log.info("script_edited", job_id=job.job_id, scenes=len(draft.scenes))
    return edited


def etag_matches(if_match: str, etag: str) -> bool:
    """True when an If-Match header names `etag` (one of a list; a weak form counts too)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return etag in tags


async def approve_render(ports: IngestPorts, job: Job, *, running_cap: int | None = None) -> Job:
    """Let the job awaiting review render: its script.ready is published once, however many
    approvals race. It takes back a running slot (it gave it back while it waited):
    `RunningJobsLimit` at `running_cap`. An approved job that is still running is approved
    again as a no-op (idempotent); `NotInReview` for a job that never awaited review or has
    ended. When the publish fails the job stays approved and the outbox sweeper sends its
    script.ready."""
    if not job.in_review:
        return await _approved_already(ports, job)
    holder = uuid.uuid4().hex
    try:
        approved = await ports.repository.approve_review(
            job, LeaseClaim(ACCEPT_STEP, holder, ACCEPT_LEASE_S), running_cap=running_cap
        )
    except NotInReview:  # another approval (or a cancel) got there first
        return await _approved_already(ports, await ports.repository.get_job(job.job_id))
    log.info("render_approved", job_id=job.job_id)
    try:
        return await publish_announcement(ports, approved, holder)
    except NotAnnounced:
        log.warning("job_announcement_deferred", job_id=job.job_id, to="outbox sweeper")
        return approved


async def _approved_already(ports: IngestPorts, job: Job) -> Job:
    if job.is_terminal or not job.review_approved:
        raise NotInReview(job.job_id, job.stage, job.status.value)
    try:  # the winning approval may still be publishing: wait for it (or take over)
        return await publish_accepted_once(ports, job)
    except NotAnnounced:
        return job  # the outbox sweeper sends it


async def handle_render_requested(
    ports: IngestPorts, event: JobRenderRequested, origin: Origin = UNRESTRICTED
) -> Job | None:
    """An upstream approval: from a publisher that may act for the job's user, for that user's
    job awaiting review. Anything else is logged and dropped (retrying cannot fix it); the
    upstream system hears the outcome as the job's own events (script.ready is internal;
    job.completed or job.failed reach it)."""
    if origin.refusal(event.user_id) is not None:
        log.warning("render_request_refused", publisher=origin.publisher, user_id=event.user_id)
        return None
    try:
        job = await ports.repository.get_job(event.job_id)
    except JobNotFound:
        job = None
    if job is None or job.user_id != event.user_id:
        log.warning("render_request_for_unknown_job", job_id=event.job_id)
        return None
    try:
        return await approve_render(ports, job)
    except NotInReview as exc:
        log.warning("render_request_not_in_review", job_id=job.job_id, stage=exc.stage)
        return None
