"""The scripter handler against in-memory ports and the real offline planner."""

from __future__ import annotations

import asyncio

import pytest

from omnigen.scripter.errors import ProviderFailed, ScriptRefused
from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.planner import OfflinePlanner
from omnigen.scripter.ports import ScriptWriter
from omnigen.shared.domain.events import JobAccepted, JobAcceptedData
from omnigen.shared.domain.jobs import CANCELLED_REASON, Job, JobRequest
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.messages import MessageContext
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher

REQUEST = JobRequest(prompt="A cosy cafe on a rainy morning, new oat latte", duration=20)
CTX = MessageContext("m-1", "r-1", 1, 5, "{}")


class CountingPlanner:
    def __init__(self, on_write: object = None) -> None:
        self.calls = 0
        self._planner = OfflinePlanner()
        self._on_write = on_write

    async def write(self, request: JobRequest) -> Script:
        self.calls += 1
        if callable(self._on_write):
            await self._on_write()
        await asyncio.sleep(0.01)
        return await self._planner.write(request)

    async def aclose(self) -> None:
        return None


class FailingWriter:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def write(self, request: JobRequest) -> Script:
        raise self.error

    async def aclose(self) -> None:
        return None


class FlakyPublisher(RecordingPublisher):
    """Fails its first publish, as if the process died right after embedding the script."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    async def publish(self, event: object) -> str:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("sns unreachable")
        return await super().publish(event)  # type: ignore[arg-type]


async def setup(
    writer: ScriptWriter, publisher: RecordingPublisher | None = None
) -> tuple[ScripterDeps, Job, JobAccepted]:
    jobs = InMemoryJobRepository()
    job = (await jobs.create_job(user_id="u1", request=REQUEST, trace_id="trace-1")).job
    deps = ScripterDeps(
        jobs=jobs,
        publisher=publisher or RecordingPublisher(),
        writer=writer,
    )
    event = JobAccepted.create(
        job_id=job.job_id,
        user_id="u1",
        trace_id="trace-1",
        data=JobAcceptedData(duration=20, aspect_ratio="16:9"),
    )
    return deps, job, event


def events(deps: ScripterDeps) -> list[str]:
    return [e.event_type.value for e in deps.publisher.events]  # type: ignore[attr-defined]


async def test_accepted_job_gets_an_embedded_script_and_one_script_ready() -> None:
    deps, job, event = await setup(CountingPlanner())
    await handle_job_accepted(event, CTX, deps)
    stored = await deps.jobs.get_job(job.job_id)
    assert stored.stage == "script_complete" and stored.status is JobStatus.PROCESSING
    assert stored.script is not None and abs(stored.script.total_duration - 20) < 0.5
    assert stored.metadata["scenes_total"] == len(stored.script.scenes)
    assert "scene_count" not in stored.metadata  # one name for one fact
    assert stored.metadata["music_mood"] == stored.script.audio_spec.music_mood.value
    assert events(deps) == ["script.ready"]
    ready = deps.publisher.events[0]  # type: ignore[attr-defined]
    assert ready.data.scene_count == len(stored.script.scenes) and ready.trace_id == "trace-1"
    assert stored.leases["script"]["holder"] == CTX.receive_token  # lapses with the step
    assert stored.lease_message("script") == CTX.message_id  # its owner re-announces


async def test_duplicate_accepted_events_write_one_script_and_announce_once() -> None:
    writer = CountingPlanner()
    deps, _job, event = await setup(writer)
    await handle_job_accepted(event, CTX, deps)
    await handle_job_accepted(event, MessageContext("m-2", "r-2", 1, 5, "{}"), deps)
    assert writer.calls == 1
    assert events(deps) == ["script.ready"]


async def test_the_owners_redelivered_message_reannounces_the_same_event() -> None:
    writer = CountingPlanner()
    deps, _job, event = await setup(writer)
    await handle_job_accepted(event, CTX, deps)
    await handle_job_accepted(event, MessageContext("m-1", "r-2", 2, 5, "{}"), deps)
    assert writer.calls == 1
    first, again = deps.publisher.events  # type: ignore[attr-defined]
    assert again.event_type.value == "script.ready" and again.event_id == first.event_id


async def test_concurrent_duplicate_messages_write_one_script() -> None:
    writer = CountingPlanner()
    deps, _job, event = await setup(writer)
    duplicate = MessageContext("m-2", "r-2", 1, 5, "{}")
    await asyncio.gather(
        handle_job_accepted(event, CTX, deps), handle_job_accepted(event, duplicate, deps)
    )
    await handle_job_accepted(event, duplicate, deps)  # and once more, later
    assert writer.calls == 1 and events(deps) == ["script.ready"]


async def test_redelivery_of_the_same_message_after_a_crash_takes_over_once_the_lease_lapses() -> (
    None
):
    writer = CountingPlanner()
    deps, job, event = await setup(writer)
    # The first receive died holding the step; its lease was last renewed 0.3 s before expiry.
    await deps.jobs.acquire_lease(job.job_id, "script", "first-receive", 0.3, message="m-1")
    redelivery = MessageContext("m-1", "r-redelivered", 2, 5, "{}")
    await handle_job_accepted(event, redelivery, deps)
    assert writer.calls == 1 and events(deps) == ["script.ready"]
    stored = await deps.jobs.get_job(job.job_id)
    assert stored.leases["script"]["holder"] == redelivery.receive_token


async def test_crash_before_publishing_is_repaired_by_redelivery() -> None:
    deps, job, event = await setup(CountingPlanner(), FlakyPublisher())
    with pytest.raises(ConnectionError):
        await handle_job_accepted(event, CTX, deps)
    assert (await deps.jobs.get_job(job.job_id)).stage == "script_complete"
    await handle_job_accepted(event, CTX, deps)
    assert events(deps) == ["script.ready"]
    await handle_job_accepted(event, MessageContext("m-2", "r-2", 1, 5, "{}"), deps)
    assert events(deps) == ["script.ready"]  # a duplicate message never announces


async def test_cancelled_job_is_left_alone() -> None:
    writer = CountingPlanner()
    deps, job, event = await setup(writer)
    await deps.jobs.mark_job_failed(job.job_id, CANCELLED_REASON)
    await handle_job_accepted(event, CTX, deps)
    assert writer.calls == 0 and events(deps) == []


async def test_cancellation_while_writing_stops_before_embedding() -> None:
    jobs_holder: dict[str, object] = {}

    async def cancel() -> None:
        deps_ = jobs_holder["deps"]
        await deps_.jobs.mark_job_failed(jobs_holder["job_id"], CANCELLED_REASON)  # type: ignore[attr-defined]

    deps, job, event = await setup(CountingPlanner(on_write=cancel))
    jobs_holder.update(deps=deps, job_id=job.job_id)
    await handle_job_accepted(event, CTX, deps)
    stored = await deps.jobs.get_job(job.job_id)
    assert stored.is_cancelled and stored.script is None
    assert events(deps) == []


async def test_refusal_fails_the_job_with_the_models_words() -> None:
    deps, job, event = await setup(FailingWriter(ScriptRefused("I can't help with that request.")))
    await handle_job_accepted(event, CTX, deps)
    stored = await deps.jobs.get_job(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.error_message == "the script model refused: I can't help with that request."
    assert stored.stage == "script_generating"
    assert events(deps) == ["job.failed"]
    assert deps.publisher.events[0].data.error_message == stored.error_message  # type: ignore[attr-defined]


async def test_transient_provider_failure_is_left_to_the_consumer_to_retry() -> None:
    deps, job, event = await setup(FailingWriter(ProviderFailed("openai: 503", transient=True)))
    with pytest.raises(ProviderFailed):
        await handle_job_accepted(event, CTX, deps)
    stored = await deps.jobs.get_job(job.job_id)
    assert stored.status is JobStatus.PROCESSING and events(deps) == []
    assert stored.leases == {}  # released, so the retry is not blocked
