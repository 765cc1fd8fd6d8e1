"""The outbox, on both backends: a job created while SNS is unreachable (POST answers 202 and
nobody retries), or by an ingest that died before publishing, is announced by the sweeper once
SNS is back, exactly once even with two sweepers at work; a job cancelled before it was
announced never is; a failed job re-opened by a retry while SNS is unreachable is announced
the same way, and so is a regeneration's version (its work items)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiobotocore.config import AioConfig

from omnigen.cli.localaws.ports import free_port
from omnigen.ingest.handlers import ACCEPT_STEP, IngestPorts, retry_job
from omnigen.ingest.outbox import OutboxSweeper
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.domain.events import Event, EventType, stable_event_id
from omnigen.shared.domain.jobs import OUTBOX_EVENT, JobRequest
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.versions import piece_event_id, version_history
from omnigen.shared.ports import EventPublisher, LeaseClaim
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import eventually, take_events

from .helpers import PROMPT, Api, drain_events, serve_api, settings_for
from .test_versions import completed_job, regenerate_url

ACCEPTED = EventType.JOB_ACCEPTED.value
FAILED = EventType.JOB_FAILED.value
READY = EventType.SCRIPT_READY.value
SCENE = EventType.SCENE_REQUESTED.value


class CountingPublisher:
    """The real publisher, counting what it published by event id."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.published: Counter[str] = Counter()

    async def publish(self, event: Event) -> str:
        message_id = await self.inner.publish(event)
        self.published[str(event.event_id)] += 1
        return message_id


@dataclass
class Outbox:
    """The real ingest app over a fresh stack, SNS switchable between unreachable (a client of
    a closed port on 127.0.0.1) and back, and a tap queue on the events topic (no filter)."""

    stack: Stack
    api: Api
    down: SnsEventPublisher
    up: CountingPublisher
    tap_url: str

    def sns_down(self) -> None:
        self.api.context.ports = dataclasses.replace(self.api.context.ports, publisher=self.down)

    def sns_back(self) -> IngestPorts:
        self.api.context.ports = dataclasses.replace(self.api.context.ports, publisher=self.up)
        return self.api.context.ports

    def sweeper(self, *, interval_s: float = 60.0, age_s: float = 0.0) -> OutboxSweeper:
        return OutboxSweeper(self.api.context.ports, interval_s=interval_s, age_s=age_s)

    async def tapped(self) -> list[Event]:
        """Every event on the tap right now (read and deleted)."""
        return await take_events(self.stack, self.tap_url)

    async def until_tapped(self, wanted: set[tuple[str, str]]) -> list[Event]:
        """Tapped events until every (job id, event type) in `wanted` has arrived."""
        events: list[Event] = []

        async def arrived() -> bool:
            events.extend(await self.tapped())
            return wanted <= {(str(e.job_id), e.event_type.value) for e in events}

        await eventually(arrived, timeout=30, what=f"{len(wanted)} events on the tap")
        return events


@pytest.fixture
async def outbox(stack: Stack) -> AsyncIterator[Outbox]:
    sqs, sns = await stack.aws.sqs(), await stack.aws.sns()
    tap_url = (await sqs.create_queue(QueueName=f"{stack.spec.prefix}-events-tap"))["QueueUrl"]
    attributes = await sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])
    topic_arn = stack.applied.topic_arns[stack.spec.events_topic.name]
    await sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=attributes["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    closed = f"http://127.0.0.1:{free_port()}"
    config = AioConfig(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2)
    async with (
        stack.aws.session.create_client(
            "sns", region_name=stack.settings.region, endpoint_url=closed, config=config
        ) as unreachable,
        serve_api(stack, settings_for(stack)) as api,
    ):
        up = CountingPublisher(api.context.ports.publisher)
        yield Outbox(stack, api, SnsEventPublisher(unreachable, topic_arn), up, tap_url)


async def test_jobs_created_while_sns_is_down_are_announced_once_by_the_sweeper(
    outbox: Outbox,
) -> None:
    api, repository = outbox.api, outbox.api.context.ports.repository
    outbox.sns_down()
    answers = await asyncio.gather(
        *(api.submit("alice") for _ in range(3)), api.submit("alice", key="order-1")
    )
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    jobs = (await repository.get_jobs_by_user(api.user_id("alice"), limit=100)).jobs
    assert sorted(a.json()["job_id"] for a in answers) == sorted(job.job_id for job in jobs)
    assert {a.json()["status"] for a in answers} == {"pending"}
    assert all(job.outbox == OUTBOX_EVENT and not job.published for job in jobs)
    assert sorted(await repository.unannounced_jobs(created_before=1e12)) == sorted(
        job.job_id for job in jobs
    )

    outbox.sns_back()
    # two ingest tasks sweeping at the same moment
    await asyncio.gather(outbox.sweeper().sweep(), outbox.sweeper().sweep())

    expected = {str(stable_event_id(job.job_id, ACCEPTED)) for job in jobs}
    assert outbox.up.published == Counter(dict.fromkeys(expected, 1))
    events = await outbox.until_tapped({(job.job_id, ACCEPTED) for job in jobs})
    assert Counter(str(e.event_id) for e in events) == Counter(dict.fromkeys(expected, 1))
    for job in jobs:
        announced = await repository.get_job(job.job_id)
        assert announced.outbox is None and ACCEPTED in announced.published
    assert await repository.unannounced_jobs(created_before=1e12) == []
    assert await outbox.sweeper().sweep() == 0  # nothing owed any more: nothing published
    assert sum(outbox.up.published.values()) == len(jobs)


async def test_a_job_cancelled_before_it_was_announced_is_never_announced(
    outbox: Outbox,
) -> None:
    api, repository = outbox.api, outbox.api.context.ports.repository
    outbox.sns_down()
    answer = await api.submit("bob")
    assert answer.status_code == 202, answer.text
    [job] = (await repository.get_jobs_by_user(api.user_id("bob"), limit=10)).jobs
    assert job.outbox == OUTBOX_EVENT

    outbox.sns_back()
    cancelled = await api.client.delete(f"/v1/jobs/{job.job_id}", headers=api.auth("bob"))
    assert cancelled.status_code == 202, cancelled.text
    ended = await repository.get_job(job.job_id)
    assert ended.is_cancelled and ended.outbox is None
    assert await repository.unannounced_jobs(created_before=1e12) == []
    assert await outbox.sweeper().sweep() == 0

    events = await outbox.until_tapped({(job.job_id, FAILED)})
    assert [e.event_type.value for e in events] == [FAILED]
    assert set(outbox.up.published) == {str(stable_event_id(job.job_id, FAILED))}


async def test_a_job_whose_creator_died_is_announced_by_the_running_sweeper(
    outbox: Outbox,
) -> None:
    """As after a kill -9 between the create and the publish: the job exists, owes its
    announcement, and its dead creator's publishing lease runs out."""
    ports = outbox.sns_back()
    created = await ports.repository.create_job(
        user_id=outbox.api.user_id("carol"),
        request=JobRequest(prompt=PROMPT, duration=20),
        lease=LeaseClaim(ACCEPT_STEP, "killed-ingest", 0.5),
    )
    job = created.job
    assert await outbox.sweeper(age_s=3600).sweep() == 0  # not owed for long enough yet
    assert (await ports.repository.get_job(job.job_id)).outbox == OUTBOX_EVENT

    sweeper = outbox.sweeper(interval_s=0.05, age_s=0)
    running = asyncio.create_task(sweeper.run())
    try:
        events = await outbox.until_tapped({(job.job_id, ACCEPTED)})
    finally:
        sweeper.stop()
        await asyncio.wait_for(running, timeout=15)
    assert [str(e.event_id) for e in events] == [str(stable_event_id(job.job_id, ACCEPTED))]
    assert (await ports.repository.get_job(job.job_id)).outbox is None


async def test_a_failed_job_retried_while_sns_is_down_is_announced_by_the_sweeper(
    outbox: Outbox, sample_script: Script
) -> None:
    """The retry's re-open makes the new attempt owe its announcement, as a create does: SNS
    unreachable at the retry leaves no job running unannounced."""
    api, ports = outbox.api, outbox.sns_back()
    repository = ports.repository
    job_id = (await api.submit("erin")).json()["job_id"]
    await outbox.until_tapped({(job_id, ACCEPTED)})
    await repository.update_job_stage_with_metadata(job_id, "script_generating")
    await repository.embed_script(job_id, sample_script)
    await repository.update_job_stage_with_metadata(job_id, "scene_2_generating")
    await repository.mark_job_failed(job_id, "rendering was interrupted 4 times")

    outbox.sns_down()
    answer = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("erin"))
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "not_queued"
    reopened = await repository.get_job(job_id)
    assert reopened.attempt == 2 and reopened.status is JobStatus.PROCESSING
    assert reopened.outbox == OUTBOX_EVENT and not reopened.announced
    assert await repository.unannounced_jobs(created_before=1e12) == [job_id]
    assert await outbox.tapped() == []  # nothing reached the topic

    outbox.sns_back()
    sweeper = outbox.sweeper(interval_s=0.05, age_s=30)  # a job created long ago is owed too
    running = asyncio.create_task(sweeper.run())
    try:
        events = await outbox.until_tapped({(job_id, READY)})
    finally:
        sweeper.stop()
        await asyncio.wait_for(running, timeout=15)
    resumed = stable_event_id(f"{job_id}#attempt-2", READY)
    assert [(e.event_type.value, str(e.event_id)) for e in events] == [(READY, str(resumed))]
    announced = await repository.get_job(job_id)
    assert announced.outbox is None and announced.published[f"{READY}#2"] == str(resumed)
    assert await repository.unannounced_jobs(created_before=1e12) == []
    assert await outbox.sweeper(age_s=0).sweep() == 0
    assert outbox.up.published[str(resumed)] == 1  # once, although the sweeper kept looking


async def test_a_regeneration_while_sns_is_down_is_requested_once_by_the_sweeper(
    outbox: Outbox, sample_script: Script
) -> None:
    """The version's start owes its work items (the outbox marker, set by the same write):
    SNS unreachable at the regenerate still answers 202, and the sweeper sends the scene's
    request once, under its stable id; recording it clears the marker; the version completes."""
    api, ports = outbox.api, outbox.sns_back()
    repository = ports.repository
    job_id = await completed_job(api, sample_script, "gale")
    await outbox.until_tapped({(job_id, ACCEPTED)})

    outbox.sns_down()
    answer = await api.client.post(
        regenerate_url(job_id, 2), json={"camera_move": "static"}, headers=api.auth("gale")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["version"] == 2 and answer.json()["status"] == "processing"
    started = await repository.get_job(job_id)
    assert started.outbox == OUTBOX_EVENT and not started.announced
    assert await repository.unannounced_jobs(created_before=1e12) == [job_id]
    assert await outbox.tapped() == []  # nothing reached the topic

    outbox.sns_back()
    sweeper = outbox.sweeper(interval_s=0.05, age_s=30)
    running = asyncio.create_task(sweeper.run())
    try:
        events = await outbox.until_tapped({(job_id, SCENE)})
        await asyncio.sleep(0.3)  # a few more passes: none may send it again
    finally:
        sweeper.stop()
        await asyncio.wait_for(running, timeout=15)
    request = piece_event_id(started, 2, EventType.SCENE_REQUESTED, "scene-2")
    events += await outbox.tapped()
    assert [(e.event_type.value, str(e.event_id)) for e in events] == [(SCENE, str(request))]
    assert outbox.up.published[str(request)] == 1
    (queued,) = await drain_events(outbox.stack, outbox.stack.spec.scenes_queue.name, expect=1)
    assert queued.event_id == request and queued.data.version == 2  # type: ignore[attr-defined]
    announced = await repository.get_job(job_id)
    assert announced.outbox is None and announced.published["version#2"] == str(request)
    assert await outbox.sweeper(age_s=0).sweep() == 0

    # the renderer's completing write: version 2 completes, owing nothing
    await repository.mark_job_complete(job_id, f"jobs/{job_id}/renders/r2/video.mp4", {})
    done = await repository.get_job(job_id)
    assert done.status is JobStatus.COMPLETED and done.outbox is None
    assert [(v["version"], v["status"]) for v in version_history(done)] == [
        (1, "completed"),
        (2, "completed"),
    ]


async def test_a_retried_job_is_announced_once_when_sns_is_up() -> None:
    """The retry holds the announcing step from its re-open: a sweeper at the same moment
    waits for it and publishes nothing."""
    repository, publisher = InMemoryJobRepository(), RecordingPublisher()
    ports = IngestPorts(repository=repository, publisher=publisher, assets=InMemoryAssetStore())
    request = JobRequest(prompt=PROMPT, duration=20)
    job = (await repository.create_job(user_id="fay", request=request)).job
    await repository.record_published(job.job_id, ACCEPTED, "first")
    failed = await repository.mark_job_failed(job.job_id, "writing the script was interrupted")
    sweeper = OutboxSweeper(ports, interval_s=60, age_s=0)
    retried, swept = await asyncio.gather(retry_job(ports, failed), sweeper.sweep())
    assert retried.attempt == 2 and retried.outbox is None and retried.announced
    expected = str(stable_event_id(f"{job.job_id}#attempt-2", ACCEPTED))
    assert [str(e.event_id) for e in publisher.of_type(ACCEPTED)] == [expected]
    assert swept in (0, 1)  # it found the attempt owing, or already announced
    assert await repository.unannounced_jobs(created_before=1e12) == []


class UnreachablePublisher:
    def __init__(self) -> None:
        self.attempts = 0

    async def publish(self, event: Event) -> str:
        self.attempts += 1
        raise ConnectionError("SNS is unreachable")


class HangingPublisher:
    """A publish that never answers (a stalled connection)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def publish(self, event: Event) -> str:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def owing_jobs(repository: InMemoryJobRepository, count: int) -> list[str]:
    request = JobRequest(prompt=PROMPT, duration=20)
    return [
        (await repository.create_job(user_id="dana", request=request)).job.job_id
        for _ in range(count)
    ]


async def test_the_first_failed_announcement_ends_the_pass() -> None:
    """While SNS is down a pass costs one failed publish, not one per job owed."""
    repository, down = InMemoryJobRepository(), UnreachablePublisher()
    jobs = await owing_jobs(repository, 3)
    ports = IngestPorts(repository=repository, publisher=down, assets=InMemoryAssetStore())
    assert await OutboxSweeper(ports, interval_s=60, age_s=0).sweep() == 0
    assert down.attempts == 1
    assert sorted(await repository.unannounced_jobs(created_before=1e12)) == sorted(jobs)

    up = RecordingPublisher()
    ports = dataclasses.replace(ports, publisher=up)
    assert await OutboxSweeper(ports, interval_s=60, age_s=0).sweep() == 3
    assert sorted(str(e.job_id) for e in up.of_type(ACCEPTED)) == sorted(jobs)
    assert await repository.unannounced_jobs(created_before=1e12) == []


async def test_stop_ends_the_sweeper_in_the_middle_of_a_pass() -> None:
    repository, stalled = InMemoryJobRepository(), HangingPublisher()
    [job_id] = await owing_jobs(repository, 1)
    ports = IngestPorts(repository=repository, publisher=stalled, assets=InMemoryAssetStore())
    sweeper = OutboxSweeper(ports, interval_s=60, age_s=0)
    running = asyncio.create_task(sweeper.run())
    await asyncio.wait_for(stalled.entered.wait(), timeout=5)
    sweeper.stop()
    await asyncio.wait_for(running, timeout=5)
    assert await repository.unannounced_jobs(created_before=1e12) == [job_id]  # still owed
