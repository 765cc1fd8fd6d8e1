"""The shared worker skeleton against in-memory ports: `claim_step` outcome by outcome, and
`run_step` (claim, work, announce once; fail on a permanent error; stop quietly)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager

import pytest

from omnigen.shared.domain.errors import JobAlreadyFinished, LeaseHeld, LeaseLost, OmnigenError
from omnigen.shared.domain.events import (
    EventType,
    JobAccepted,
    JobAcceptedData,
    SceneRequested,
    SceneRequestedData,
    ScriptReady,
    ScriptReadyData,
    stable_event_id,
)
from omnigen.shared.domain.jobs import CANCELLED_REASON, Job, JobRequest
from omnigen.shared.domain.stages import (
    SCRIPT_COMPLETE,
    SCRIPT_GENERATING,
    JobStatus,
    stage_seq,
)
from omnigen.shared.messages import MessageContext, PermanentFailure
from omnigen.shared.workflow import (
    Claim,
    Claimed,
    JobStopped,
    Step,
    claim_step,
    fail_job,
    failure_hooks,
    run_step,
)
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher

REQUEST = JobRequest(prompt="A lighthouse on a stormy night, told in scenes", duration=10)
OWNER = MessageContext("m-1", "r-1", 1, 5, "{}")
OTHER = MessageContext("m-2", "r-2", 1, 5, "{}")
OWNER_AGAIN = MessageContext("m-1", "r-3", 2, 5, "{}")


def scripted(job: Job) -> bool:
    return not job.is_terminal and job.stage_seq >= stage_seq(SCRIPT_COMPLETE)


async def new_job(jobs: InMemoryJobRepository) -> Job:
    return (await jobs.create_job(user_id="u1", request=REQUEST, trace_id="t-1")).job


def claim(
    jobs: InMemoryJobRepository, job: Job, ctx: MessageContext
) -> AbstractAsyncContextManager[Claimed]:
    return claim_step(
        jobs, job.job_id, "script", ctx, 60, stage=SCRIPT_GENERATING, finished=scripted
    )


# --- claim_step, outcome by outcome -------------------------------------------------------


async def test_first_message_claims_the_step_and_moves_the_stage_in_one_write() -> None:
    jobs = InMemoryJobRepository()
    job = await new_job(jobs)
    async with claim(jobs, job, OWNER) as claimed:
        assert claimed.kind is Claim.WORK and claimed.job is not None
        assert claimed.job.stage == SCRIPT_GENERATING
        assert claimed.job.status is JobStatus.PROCESSING
    stored = await jobs.get_job(job.job_id)
    assert stored.leases["script"]["holder"] == OWNER.receive_token  # kept: names the owner
    assert stored.lease_message("script") == "m-1"


async def test_another_message_is_a_duplicate_while_the_owner_holds_the_step() -> None:
    jobs = InMemoryJobRepository()
    job = await new_job(jobs)
    async with claim(jobs, job, OWNER), claim(jobs, job, OTHER) as second:
        assert second.kind is Claim.DUPLICATE and second.job is None


async def test_the_owners_redelivery_after_the_step_is_done_is_told_finished() -> None:
    jobs = InMemoryJobRepository()
    job = await new_job(jobs)
    async with claim(jobs, job, OWNER):
        await jobs.update_job_stage_with_metadata(job.job_id, SCRIPT_COMPLETE)
    async with claim(jobs, job, OWNER_AGAIN) as again:
        assert again.kind is Claim.FINISHED and again.job is not None
        assert again.job.stage == SCRIPT_COMPLETE
    async with claim(jobs, job, OTHER) as other:
        assert other.kind is Claim.DUPLICATE  # only the owner re-announces


async def test_a_failure_inside_the_step_hands_the_lease_back() -> None:
    jobs = InMemoryJobRepository()
    job = await new_job(jobs)
    with pytest.raises(RuntimeError, match="boom"):
        async with claim(jobs, job, OWNER):
            raise RuntimeError("boom")
    assert "script" not in (await jobs.get_job(job.job_id)).leases
    async with claim(jobs, job, OTHER) as retry:  # a retry by any message may take it
        assert retry.kind is Claim.WORK


async def test_a_cancelled_or_deleted_job_stops_the_step() -> None:
    jobs = InMemoryJobRepository()
    cancelled = await new_job(jobs)
    await jobs.mark_job_failed(cancelled.job_id, CANCELLED_REASON)
    with pytest.raises(JobStopped, match="cancelled"):
        async with claim(jobs, cancelled, OWNER):
            pytest.fail("a stopped job must not be worked on")
    gone = await new_job(jobs)
    await jobs.delete_job(gone.job_id)
    with pytest.raises(JobStopped, match="deleted"):
        async with claim(jobs, gone, OWNER):
            pytest.fail("a deleted job must not be worked on")


# --- run_step: the skeleton every worker runs ----------------------------------------------


class Broken(OmnigenError):
    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.transient = transient


class Recorder:
    """A step whose work writes SCRIPT_COMPLETE and returns a title, or does what it is told."""

    def __init__(
        self, jobs: InMemoryJobRepository, error: Exception | None = None, lease_s: float = 60
    ) -> None:
        self.jobs = jobs
        self.error = error
        self.lease_s = lease_s
        self.calls = 0

    async def work(self, job: Job, _event: JobAccepted, _ctx: MessageContext) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        await self.jobs.update_job_stage_with_metadata(job.job_id, SCRIPT_COMPLETE, {"t": "T"})
        return "T"

    def step(self) -> Step[JobAccepted, str]:
        return Step(
            name="script",
            first_stage=SCRIPT_GENERATING,
            lease_s=self.lease_s,
            finished=scripted,
            recorded=lambda job: str(job.metadata["t"]) if "t" in job.metadata else None,
            work=self.work,
            announce=lambda job, title, event: ScriptReady.create(
                job_id=job.job_id,
                user_id=job.user_id,
                trace_id=event.trace_id,
                data=ScriptReadyData(title=title, scene_count=1),
                event_id=stable_event_id(job.job_id, EventType.SCRIPT_READY.value),
            ),
            fails_job=(Broken,),
        )


def accepted(job: Job) -> JobAccepted:
    return JobAccepted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id="t-1",
        data=JobAcceptedData(duration=10, aspect_ratio="16:9"),
    )


async def test_run_step_works_once_and_announces_once_per_job() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    step = Recorder(jobs)
    await run_step(step.step(), accepted(job), OWNER, jobs, publisher)
    await run_step(step.step(), accepted(job), OTHER, jobs, publisher)  # a duplicate: dropped
    assert step.calls == 1
    assert [e.event_type.value for e in publisher.events] == ["script.ready"]
    await run_step(step.step(), accepted(job), OWNER_AGAIN, jobs, publisher)  # owner's redelivery
    assert step.calls == 1, "a finished step is read back, not redone"
    ids = {e.event_id for e in publisher.events}
    assert len(publisher.events) == 2 and len(ids) == 1, "a re-announcement keeps the event id"


async def test_run_step_fails_the_job_on_a_permanent_error_with_its_reason() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    step = Recorder(jobs, Broken("the model refused: off-topic", transient=False))
    await run_step(step.step(), accepted(job), OWNER, jobs, publisher)
    failed = await jobs.get_job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == "the model refused: off-topic"
    assert [e.event_type.value for e in publisher.events] == ["job.failed"]


async def test_run_step_leaves_a_transient_error_to_the_consumer_and_frees_the_step() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    step = Recorder(jobs, Broken("provider unreachable", transient=True))
    with pytest.raises(Broken):
        await run_step(step.step(), accepted(job), OWNER, jobs, publisher)
    after = await jobs.get_job(job.job_id)
    assert after.status is JobStatus.PROCESSING and "script" not in after.leases
    assert publisher.events == []


async def test_run_step_stops_quietly_when_a_write_finds_the_job_cancelled() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)

    async def cancel_then_write(job: Job, _event: JobAccepted, _ctx: MessageContext) -> str:
        await jobs.mark_job_failed(job.job_id, CANCELLED_REASON)
        await jobs.update_job_stage_with_metadata(job.job_id, SCRIPT_COMPLETE)
        raise AssertionError("the write above must refuse a cancelled job")

    step = Recorder(jobs)
    step.work = cancel_then_write  # type: ignore[method-assign]
    await run_step(step.step(), accepted(job), OWNER, jobs, publisher)
    assert publisher.events == []
    assert (await jobs.get_job(job.job_id)).is_cancelled


async def test_run_step_refuses_an_event_without_a_job() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    event = accepted(job).model_copy(update={"job_id": None})
    with pytest.raises(PermanentFailure, match="names no job"):
        await run_step(Recorder(jobs).step(), event, OWNER, jobs, publisher)


async def test_fail_job_answers_whether_this_call_failed_the_job() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    first = await fail_job(jobs, publisher, job.job_id, "no clip provider")
    again = await fail_job(jobs, publisher, job.job_id, "no clip provider")
    assert first is not None and first.error_message == "no clip provider"
    assert again is None
    assert len(publisher.of_type("job.failed")) == 1
    with pytest.raises(JobAlreadyFinished):
        await jobs.mark_job_failed(job.job_id, "later")
    assert await fail_job(jobs, publisher, "missing", "x") is None


# --- one worker per message: a receive holds the step, a later receive takes over ----------


async def test_a_later_receive_of_the_same_message_waits_for_the_earlier_and_takes_over() -> None:
    """The first receive stalled (it stopped renewing); the message came back to a second
    worker, which waits for the lapsed lease, takes the step and does the work once. The first
    receive's keep-alive then learns the work is someone else's."""
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    first = MessageContext("m-1", "r-first", 1, 5, "{}")
    second = MessageContext("m-1", "r-second", 2, 5, "{}")
    stalled = await jobs.acquire_lease(
        job.job_id, "script", first.receive_token, 0.3, stage=SCRIPT_GENERATING, message="m-1"
    )
    assert stalled.lease_holder("script", time.time()) == first.receive_token
    step = Recorder(jobs)
    await run_step(step.step(), accepted(job), second, jobs, publisher)
    assert step.calls == 1 and [e.event_type.value for e in publisher.events] == ["script.ready"]
    stored = await jobs.get_job(job.job_id)
    assert stored.leases["script"]["holder"] == second.receive_token
    with pytest.raises(LeaseLost):
        await jobs.renew_lease(job.job_id, "script", first.receive_token, 60)


async def test_a_live_earlier_receive_keeps_the_step_and_the_later_one_retries_later() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    first = MessageContext("m-1", "r-first", 1, 5, "{}")
    second = MessageContext("m-1", "r-second", 2, 5, "{}")
    async with claim_step(
        jobs, job.job_id, "script", first, 0.5, stage=SCRIPT_GENERATING, finished=scripted
    ) as claimed:
        assert claimed.kind is Claim.WORK
        renew = first.keep_alive[0]
        later = asyncio.create_task(
            run_step(Recorder(jobs, lease_s=0.5).step(), accepted(job), second, jobs, publisher)
        )
        for _ in range(4):  # the first receive keeps renewing past the second's patience
            await asyncio.sleep(0.3)
            await renew()
        await asyncio.sleep(0)
        with pytest.raises(LeaseHeld):
            await later  # it gives up for now: SQS brings the message back later
    assert publisher.events == []


async def test_the_keep_alive_is_removed_when_the_step_ends() -> None:
    jobs = InMemoryJobRepository()
    job = await new_job(jobs)
    async with claim(jobs, job, OWNER):
        assert len(OWNER.keep_alive) == 1
    assert OWNER.keep_alive == []


async def test_an_exhausted_scene_request_fails_the_job_naming_the_scene() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    job = await new_job(jobs)
    _on_poison, on_failure = failure_hooks(jobs, publisher)
    event = SceneRequested.create(
        job_id=job.job_id, user_id=job.user_id, data=SceneRequestedData(scene_number=3)
    )
    await on_failure(event, MessageContext("m", "r", 4, 4, "{}"), "the provider timed out")
    failed = await jobs.get_job(job.job_id)
    assert failed.error_message == "scene 3: the provider timed out"
    assert [e.event_type.value for e in publisher.events] == ["job.failed"]
