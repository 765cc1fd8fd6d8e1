"""job.accepted -> a validated script embedded in the job -> script.ready.

Idempotent under at-least-once delivery: the first write claims the job's script step for the
SQS message (and moves it to script_generating), so one message writes the script and only
that message announces it; a duplicate message is dropped, a redelivery of the owner's message
after a crash writes or re-announces what is missing (script.ready keeps one event id per job),
and a finished or cancelled job is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from omnigen.scripter.errors import ScriptWriterError
from omnigen.scripter.ports import ScriptWriter
from omnigen.shared.domain.errors import JobAlreadyFinished
from omnigen.shared.domain.events import (
    EventType,
    JobAccepted,
    ScriptReady,
    ScriptReadyData,
    stable_event_id,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import SCRIPT_COMPLETE, SCRIPT_GENERATING, stage_seq
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.runtime.consumer import MessageContext
from omnigen.shared.workflow import Claim, JobStopped, claim_step, fail_job

log = structlog.get_logger()
LEASE_STEP = "script"


@dataclass(frozen=True)
class ScripterDeps:
    jobs: JobRepository
    publisher: EventPublisher
    writer: ScriptWriter
    lease_s: float = 900.0


async def handle_job_accepted(event: JobAccepted, ctx: MessageContext, deps: ScripterDeps) -> None:
    try:
        async with claim_step(
            deps.jobs,
            event.job_id,
            LEASE_STEP,
            ctx,
            deps.lease_s,
            stage=SCRIPT_GENERATING,
            finished=_scripted,
        ) as claim:
            job = claim.job
            if job is None:  # a duplicate
                return
            script = job.script
            if claim.kind is Claim.WORK:
                script = await _write_script(deps, job, event.trace_id)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))
        return
    if script is not None:  # outside the claim: a failed publish keeps the lease, so this
        await _announce(deps, job, script, event.trace_id)  # message's redelivery re-announces


def _scripted(job: Job) -> bool:
    return not job.is_terminal and job.stage_seq >= stage_seq(SCRIPT_COMPLETE)


async def _write_script(deps: ScripterDeps, job: Job, trace_id: str) -> Script | None:
    """The script, embedded in the job; None when the writer failed for good (job failed)."""
    try:
        script = await deps.writer.write(job.request)
    except ScriptWriterError as exc:
        if exc.transient:
            raise  # the consumer retries with backoff, then gives up and fails the job
        await fail_job(deps.jobs, deps.publisher, job.job_id, str(exc), trace_id=trace_id)
        return None
    try:  # the conditional write refuses a job cancelled while the model was writing
        await deps.jobs.embed_script(
            job.job_id,
            script,
            {
                "scene_count": len(script.scenes),
                "music_mood": script.audio_spec.music_mood.value,
                "scenes_total": len(script.scenes),
                "scenes_complete": 0,
            },
        )
    except JobAlreadyFinished as finished:
        raise JobStopped(job.job_id, finished.error_message or finished.status) from None
    log.info("script_embedded", title=script.title, scenes=len(script.scenes))
    return script


async def _announce(deps: ScripterDeps, job: Job, script: Script, trace_id: str) -> None:
    kind = EventType.SCRIPT_READY.value
    event = ScriptReady.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=ScriptReadyData(title=script.title, scene_count=len(script.scenes)),
        event_id=stable_event_id(job.job_id, kind),
    )
    await deps.publisher.publish(event)
