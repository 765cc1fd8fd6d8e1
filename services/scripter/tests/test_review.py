"""A job its owner reviews: the scripter stops it at awaiting_review (status pending) and
announces script.awaiting_review, not script.ready; the approval's script.ready is the one the
renderer hears, also when the job.accepted is redelivered after the approval."""

from __future__ import annotations

from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.planner import OfflinePlanner
from omnigen.shared.domain.events import (
    EventType,
    JobAccepted,
    JobAcceptedData,
    ScriptAwaitingReview,
)
from omnigen.shared.domain.jobs import JobRequest, LeaseClaim
from omnigen.shared.domain.stages import AWAITING_REVIEW, SCRIPT_APPROVED, JobStatus
from omnigen.shared.messages import MessageContext
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher

REVIEWED = JobRequest(
    prompt="A cosy cafe on a rainy morning, new oat latte", duration=20, review=True
)
CTX = MessageContext("m-1", "r-1", 1, 5, "{}")


async def _scripted() -> tuple[
    InMemoryJobRepository, RecordingPublisher, ScripterDeps, JobAccepted
]:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = (await jobs.create_job(user_id="u1", request=REVIEWED, trace_id="trace-1")).job
    deps = ScripterDeps(jobs=jobs, publisher=publisher, writer=OfflinePlanner())
    event = JobAccepted.create(
        job_id=job.job_id,
        user_id="u1",
        trace_id="trace-1",
        data=JobAcceptedData(duration=20, aspect_ratio="16:9"),
    )
    await handle_job_accepted(event, CTX, deps)
    return jobs, publisher, deps, event


async def test_a_reviewed_job_stops_awaiting_review_and_says_so() -> None:
    jobs, publisher, _deps, event = await _scripted()

    job = await jobs.get_job(str(event.job_id))
    assert (job.stage, job.status) == (AWAITING_REVIEW, JobStatus.PENDING)
    assert job.in_review and job.script is not None
    assert not job.running_slot and jobs.running["u1"] == 0  # waits for a person, not a worker
    assert [type(e) for e in publisher.events] == [ScriptAwaitingReview]
    (waiting,) = publisher.events
    assert waiting.data.title == job.script.title  # type: ignore[attr-defined]
    assert waiting.data.scene_count == len(job.script.scenes)  # type: ignore[attr-defined]


async def test_a_redelivered_job_accepted_after_approval_announces_script_ready_once_more() -> None:
    jobs, publisher, deps, event = await _scripted()
    job_id = str(event.job_id)
    await jobs.approve_review(
        await jobs.get_job(job_id), LeaseClaim("publish_accepted", "ingest", 10)
    )

    await handle_job_accepted(event, CTX, deps)  # the owner's redelivery: re-announce

    approved = await jobs.get_job(job_id)
    assert approved.stage == SCRIPT_APPROVED
    assert approved.running_slot and jobs.running["u1"] == 1  # the approval took a slot again
    kinds = [e.event_type for e in publisher.events]
    assert kinds == [EventType.SCRIPT_AWAITING_REVIEW, EventType.SCRIPT_READY]


def test_review_is_left_out_of_the_fingerprint_when_unset() -> None:
    plain = JobRequest(prompt="A cosy cafe on a rainy morning, new oat latte", duration=20)
    assert plain.fingerprint() == plain.model_copy(update={"review": False}).fingerprint()
    assert plain.fingerprint() != REVIEWED.fingerprint()
