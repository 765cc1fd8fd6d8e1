"""job.accepted -> a validated script embedded in the job -> script.ready.

Idempotent under at-least-once delivery: a lease held by the SQS message admits one writer
per job (a redelivery of that same message re-enters it after a crash; a duplicate message
is dropped, since the holder's message will finish the work), a job whose script is already
embedded only (re)publishes script.ready if that was never recorded, and a finished or
cancelled job is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from omnigen.scripter.errors import ScriptWriterError
from omnigen.scripter.ports import ScriptWriter
from omnigen.shared.domain.errors import JobAlreadyFinished, StageRegression
from omnigen.shared.domain.events import JobAccepted, ScriptReady, ScriptReadyData
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.stages import SCRIPT_COMPLETE, SCRIPT_GENERATING, stage_seq
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.runtime.consumer import MessageContext
from omnigen.shared.workflow import JobStopped, checkpoint, fail_job, publish_once, step_lease

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
        job = await checkpoint(deps.jobs, event.job_id)
        if job.stage_seq >= stage_seq(SCRIPT_COMPLETE):
            await _announce(deps, job, event.trace_id)
            return
        async with step_lease(deps.jobs, job.job_id, LEASE_STEP, ctx, deps.lease_s) as held:
            if held:
                await _write_script(deps, job, event.trace_id)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))


async def _write_script(deps: ScripterDeps, job: Job, trace_id: str) -> None:
    try:
        await deps.jobs.update_job_stage_with_metadata(job.job_id, SCRIPT_GENERATING)
    except JobAlreadyFinished as finished:
        raise JobStopped(job.job_id, finished.error_message or finished.status) from None
    except StageRegression:
        job = await checkpoint(deps.jobs, job.job_id)
        if job.stage_seq >= stage_seq(SCRIPT_COMPLETE):
            await _announce(deps, job, trace_id)
            return
    try:
        script = await deps.writer.write(job.request)
    except ScriptWriterError as exc:
        if exc.transient:
            raise  # the consumer retries with backoff, then gives up and fails the job
        await fail_job(deps.jobs, deps.publisher, job.job_id, str(exc), trace_id=trace_id)
        return
    try:  # the conditional write refuses a job cancelled while the model was writing
        embedded = await deps.jobs.embed_script(
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
    await _announce(deps, embedded, trace_id)


async def _announce(deps: ScripterDeps, job: Job, trace_id: str) -> None:
    if job.scenes is None or job.title is None:
        raise RuntimeError(f"job {job.job_id} is at {job.stage} but has no embedded script")
    event = ScriptReady.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=ScriptReadyData(title=job.title, scene_count=len(job.scenes)),
    )
    await publish_once(deps.jobs, deps.publisher, job, event)
