"""Ingest's handlers against the in-memory ports: exactly-once `job.accepted` (also after a crash
between create and publish), upstream validation, cancel versus delete."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import pytest

from omnigen.ingest.handlers import (
    ACCEPT_STEP,
    IngestPorts,
    cancel_or_delete,
    handle_job_requested,
    reject_unparseable,
    submit_job,
)
from omnigen.shared.domain.errors import IdempotencyConflict, JobNotFound
from omnigen.shared.domain.events import (
    Event,
    JobAccepted,
    JobFailed,
    JobRejected,
    JobRequested,
    JobRequestedData,
    stable_event_id,
)
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.ports import video_key
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher

from .helpers import PROMPT

REQUEST = JobRequest(prompt=PROMPT, duration=20)


class FlakyPublisher(RecordingPublisher):
    """Fails the first `failures` publishes, as SNS does when the process loses its network."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, event: Event) -> str:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("sns unreachable")
        return await super().publish(event)


@dataclass
class Fakes:
    repository: InMemoryJobRepository
    publisher: RecordingPublisher
    assets: InMemoryAssetStore

    @property
    def ports(self) -> IngestPorts:
        return IngestPorts(self.repository, self.publisher, self.assets)


def make_fakes(publisher: RecordingPublisher | None = None) -> Fakes:
    return Fakes(InMemoryJobRepository(), publisher or RecordingPublisher(), InMemoryAssetStore())


async def submit(fakes: Fakes, key: str | None = "k", request: JobRequest = REQUEST) -> str:
    submission = await submit_job(
        fakes.ports, user_id="u1", request=request, idempotency_key=key, trace_id="trace-1"
    )
    return submission.job.job_id


async def test_retries_with_the_key_publish_accepted_once() -> None:
    fakes = make_fakes()
    first = await submit(fakes)
    second = await submit(fakes)
    assert first == second
    [event] = fakes.publisher.events
    assert isinstance(event, JobAccepted)
    assert (event.job_id, event.trace_id, event.data.duration) == (first, "trace-1", 20)
    job = await fakes.repository.get_job(first)
    assert job.published == {"job.accepted": str(event.event_id)}


async def test_a_failed_publish_still_accepts_the_job_and_the_retry_announces_it() -> None:
    publisher = FlakyPublisher(failures=1)
    fakes = make_fakes(publisher)
    submission = await submit_job(
        fakes.ports, user_id="u1", request=REQUEST, idempotency_key="k", trace_id=None
    )
    assert (submission.created, submission.announced) == (True, False)
    job_id = submission.job.job_id
    owed = await fakes.repository.get_job(job_id)
    assert (owed.published, owed.outbox) == ({}, "job.accepted")  # the sweeper's to send

    assert await submit(fakes) == job_id  # the client retries with the same key
    assert await submit(fakes) == job_id
    assert [e.job_id for e in publisher.events] == [job_id]


async def test_racing_submissions_publish_once_and_each_answers_after_it_went_out() -> None:
    fakes = make_fakes()
    ports = fakes.ports
    submissions = await asyncio.gather(
        *(
            submit_job(ports, user_id="u1", request=REQUEST, idempotency_key="k", trace_id=None)
            for _ in range(20)
        )
    )
    assert len({s.job.job_id for s in submissions}) == 1
    assert [s.created for s in submissions].count(True) == 1
    assert all("job.accepted" in s.job.published for s in submissions)
    assert len(fakes.publisher.events) == 1


async def test_a_publisher_that_died_holding_the_lease_is_taken_over() -> None:
    fakes = make_fakes()
    created = await fakes.repository.create_job(user_id="u1", request=REQUEST, idempotency_key="k")
    job_id = created.job.job_id  # created, then the process died before publishing
    await fakes.repository.acquire_lease(job_id, ACCEPT_STEP, "dead-process", 0.3)

    began = time.monotonic()
    assert await submit(fakes) == job_id
    assert 0.2 < time.monotonic() - began < 3
    assert [e.job_id for e in fakes.publisher.events] == [job_id]


async def test_the_same_key_with_another_request_conflicts() -> None:
    fakes = make_fakes()
    await submit(fakes)
    with pytest.raises(IdempotencyConflict):
        await submit(fakes, request=JobRequest(prompt=PROMPT, duration=40))


async def test_a_job_cancelled_before_its_event_went_out_is_not_announced() -> None:
    publisher = FlakyPublisher(failures=1)
    fakes = make_fakes(publisher)
    job_id = await submit(fakes)
    await fakes.repository.mark_job_failed(job_id, "cancelled")
    assert await submit(fakes) == job_id
    assert publisher.events == []


def requested(request: dict[str, object], request_id: str = "req-1") -> JobRequested:
    return JobRequested.create(
        job_id=None, user_id="up", data=JobRequestedData(request_id=request_id, request=request)
    )


async def test_a_valid_upstream_request_takes_the_post_path() -> None:
    fakes = make_fakes()
    event = requested({"prompt": PROMPT, "duration": 15, "aspect_ratio": "9:16"})
    job = await handle_job_requested(fakes.ports, event)
    again = await handle_job_requested(fakes.ports, event)
    assert job is not None and again is not None
    assert job.job_id == again.job_id
    assert (job.user_id, job.idempotency_key, job.duration) == ("up", "req-1", 15)
    assert [type(e) for e in fakes.publisher.events] == [JobAccepted]


async def test_an_invalid_upstream_request_is_rejected_with_each_field() -> None:
    fakes = make_fakes()
    event = requested({"prompt": "", "duration": "long", "options": {"tone": 3}})
    assert await handle_job_requested(fakes.ports, event) is None
    [rejected] = fakes.publisher.events
    assert isinstance(rejected, JobRejected)
    assert rejected.data.request_id == "req-1"
    assert [p.field for p in rejected.data.reasons] == ["prompt", "duration", "options.tone"]
    assert fakes.repository.jobs == {}


async def test_cancel_a_running_job_delete_a_finished_one() -> None:
    fakes = make_fakes()
    running = await fakes.repository.get_job(await submit(fakes, key="a"))
    removal = await cancel_or_delete(fakes.ports, running)
    assert removal.cancelled
    assert removal.job.status is JobStatus.FAILED
    assert removal.job.is_cancelled
    [failed] = fakes.publisher.of_type("job.failed")
    assert isinstance(failed, JobFailed)
    assert (failed.job_id, failed.data.error_message) == (running.job_id, "cancelled")

    finished_id = await submit(fakes, key="b")
    await fakes.assets.put_bytes(video_key(finished_id, "r1"), b"mp4", "video/mp4")
    await fakes.repository.mark_job_complete(finished_id, video_key(finished_id, "r1"))
    finished = await fakes.repository.get_job(finished_id)
    removal = await cancel_or_delete(fakes.ports, finished)
    assert not removal.cancelled
    assert not await fakes.assets.exists(video_key(finished_id, "r1"))
    with pytest.raises(JobNotFound):
        await fakes.repository.get_job(finished_id)


async def test_a_job_that_finishes_while_being_cancelled_is_deleted() -> None:
    fakes = make_fakes()
    job_id = await submit(fakes)
    stale = await fakes.repository.get_job(job_id)  # read before it completed
    await fakes.repository.mark_job_complete(job_id, video_key(job_id, "r1"))
    removal = await cancel_or_delete(fakes.ports, stale)
    assert not removal.cancelled
    with pytest.raises(JobNotFound):
        await fakes.repository.get_job(job_id)


def _malformed(**changes: object) -> dict[str, object]:
    event = JobRequested.create(
        job_id=None,
        user_id="u-up",
        trace_id="trace-up",
        data=JobRequestedData(request_id="req-up", request={"prompt": PROMPT}),
    )
    body: dict[str, object] = {**event.model_dump(mode="json"), "schema_version": 9}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def test_an_unparseable_request_from_a_known_sender_is_rejected_under_a_stable_id() -> None:
    fakes = make_fakes()
    with_id = json.dumps(_malformed())
    without_id = json.dumps(_malformed(event_id=None))
    for body in (with_id, with_id, without_id, without_id, without_id + " "):
        assert await reject_unparseable(fakes.ports, body, "reason from the runtime")
    ids = [e.event_id for e in fakes.publisher.events]
    assert ids[0] == ids[1] == stable_event_id(json.loads(with_id)["event_id"], "job.rejected")
    assert ids[2] == ids[3] != ids[0]  # no event id: derived from the body
    assert ids[4] != ids[2]  # another body is another request
    for event in fakes.publisher.events:
        assert isinstance(event, JobRejected)
        assert (event.user_id, event.trace_id, event.data.request_id) == (
            "u-up",
            "trace-up",
            "req-up",
        )
        assert [p.field for p in event.data.reasons] == ["schema_version"]


async def test_an_unparseable_request_is_not_answered_when_its_sender_is_unknown() -> None:
    fakes = make_fakes()
    for body in (
        "{",
        "[]",
        json.dumps(_malformed(user_id=None)),
        json.dumps(_malformed(user_id="u" * 201)),
        json.dumps(_malformed(data={"request": {}})),
        json.dumps(_malformed(data="req-up")),
    ):
        assert not await reject_unparseable(fakes.ports, body, "reason")
    assert fakes.publisher.events == []


async def test_a_rejection_that_cannot_be_published_raises_so_the_message_stays() -> None:
    fakes = make_fakes(FlakyPublisher(failures=1))
    with pytest.raises(ConnectionError):
        await reject_unparseable(fakes.ports, json.dumps(_malformed()), "reason")
    assert await reject_unparseable(fakes.ports, json.dumps(_malformed()), "reason")
    assert len(fakes.publisher.events) == 1
