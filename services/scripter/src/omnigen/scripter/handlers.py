"""job.accepted -> a validated script embedded in the job -> script.ready (or, for a job its
owner reviews, awaiting_review -> script.awaiting_review; the approval sends script.ready).

The scripter supplies its step to the shared skeleton (`omnigen.shared.workflow.run_step`):
the claim moves the job to script_generating for this SQS message, the work writes the script
and embeds it (the conditional write refuses a job cancelled while the model wrote), and
script.ready announces it with one event id per job. A duplicate message is dropped; the
owner's redelivery after a crash writes or re-announces what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from omnigen.scripter.ports import ScriptWriter
from omnigen.shared.domain.errors import ProviderFailed
from omnigen.shared.domain.events import (
    EventType,
    JobAccepted,
    ScriptAwaitingReview,
    ScriptAwaitingReviewData,
    ScriptReady,
    ScriptReadyData,
    stable_event_id,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import (
    AWAITING_REVIEW,
    SCRIPT_COMPLETE,
    SCRIPT_GENERATING,
    stage_seq,
)
from omnigen.shared.domain.usage import metering
from omnigen.shared.messages import MessageContext
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.telemetry import metrics
from omnigen.shared.workflow import Step, run_step

log = structlog.get_logger()


@dataclass(frozen=True)
class ScripterDeps:
    jobs: JobRepository
    publisher: EventPublisher
    writer: ScriptWriter
    lease_s: float = 60.0  # renewed by every heartbeat while the script is written

    def step(self) -> Step[JobAccepted, Script]:
        return Step(
            name="script",
            first_stage=SCRIPT_GENERATING,
            lease_s=self.lease_s,
            finished=_scripted,
            recorded=lambda job: job.script,
            work=self._write_script,
            announce=_script_ready,
            fails_job=(ProviderFailed,),
        )

    async def _write_script(self, job: Job, _event: JobAccepted, _ctx: MessageContext) -> Script:
        """The script, embedded in the job (the write doubles as the cancellation check)."""
        with metering() as meter:
            async with metrics.provider_call("llm", type(self.writer).__name__):
                script = await self.writer.write(job.request)
        progress = RenderProgress(
            scenes_total=len(script.scenes),
            scenes_complete=0,
            music_mood=script.audio_spec.music_mood.value,
        )
        stage = AWAITING_REVIEW if job.review else SCRIPT_COMPLETE
        await self.jobs.embed_script(
            job.job_id, script, progress.metadata(), usage=meter.usage, stage=stage
        )
        log.info("script_embedded", title=script.title, scenes=len(script.scenes), stage=stage)
        return script


async def handle_job_accepted(event: JobAccepted, ctx: MessageContext, deps: ScripterDeps) -> None:
    await run_step(deps.step(), event, ctx, deps.jobs, deps.publisher)


def _scripted(job: Job) -> bool:
    return not job.is_terminal and job.stage_seq >= stage_seq(SCRIPT_COMPLETE)


def _script_ready(
    job: Job, script: Script, event: JobAccepted
) -> ScriptReady | ScriptAwaitingReview:
    """script.ready, or for a job its owner reviews and has not approved yet (the approval
    sends script.ready), script.awaiting_review."""
    if job.review and not job.review_approved:
        return ScriptAwaitingReview.create(
            job_id=job.job_id,
            user_id=job.user_id,
            trace_id=event.trace_id,
            data=ScriptAwaitingReviewData(title=script.title, scene_count=len(script.scenes)),
            event_id=stable_event_id(job.event_subject, EventType.SCRIPT_AWAITING_REVIEW.value),
        )
    return ScriptReady.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=event.trace_id,
        data=ScriptReadyData(title=script.title, scene_count=len(script.scenes)),
        event_id=stable_event_id(job.event_subject, EventType.SCRIPT_READY.value),
    )
