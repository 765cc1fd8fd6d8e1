"""Upstream job requests end to end on moto: SNS requests topic -> ingest queue -> the consumer
-> a job and `job.accepted` on the scripter queue, `job.rejected` on the outcomes queue, or the
ingest DLQ for a body nobody can parse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.upstream import build_consumer
from omnigen.shared.adapters.dynamodb import job_id_for_key
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.events import (
    EventType,
    JobRejected,
    JobRequested,
    JobRequestedData,
)
from omnigen.shared.messages import ConsumerSettings
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import CountingSqs, depth, eventually, send_raw

from .helpers import PROMPT, drain, drain_events

WAIT_S = 1


@pytest.fixture
async def consumer(stack_now: Stack) -> AsyncIterator[Stack]:
    """The ingest consumer running over the stack (as main runs it) for the test's duration."""
    ports = IngestPorts(
        repository=await stack_now.repository(),
        publisher=await stack_now.events_publisher(),
        assets=await stack_now.assets(),
    )
    queue = stack_now.spec.ingest_queue
    sqs = CountingSqs(await stack_now.aws.sqs())
    running = build_consumer(
        sqs,  # type: ignore[arg-type]
        queue.name,
        ports,
        ConsumerSettings(max_concurrency=4, wait_time_s=WAIT_S, visibility_timeout_s=10),
    )
    task = asyncio.create_task(running.run())
    yield stack_now
    running.stop()
    await asyncio.wait_for(task, timeout=15)
    # A poll still open on the server would take (and hide) the next test's first message;
    # the consumer does not abandon its last poll on stop but awaits its answer.
    assert sqs.calls["receive_message"] >= 1
    assert sqs.in_flight("receive_message") == 0


def requested(user: str, request_id: str, request: dict[str, Any]) -> JobRequested:
    return JobRequested.create(
        job_id=None, user_id=user, data=JobRequestedData(request_id=request_id, request=request)
    )


VALID = {
    "prompt": PROMPT,
    "duration": 30,
    "aspect_ratio": "1:1",
    "options": {"style": "documentary", "platform": "instagram"},
}


async def test_a_valid_request_becomes_a_job_and_an_accepted_event(consumer: Stack) -> None:
    stack = consumer
    publisher = await stack.requests_publisher()
    event = requested("upstream-user-1", "crm-req-1", VALID)
    await publisher.publish(event)
    await publisher.publish(event)  # at-least-once upstream: the same request twice
    job_id = job_id_for_key("upstream-user-1", "crm-req-1")
    repository = await stack.repository()

    async def accepted_recorded() -> bool:
        try:
            return "job.accepted" in (await repository.get_job(job_id)).published
        except JobNotFound:
            return False

    await eventually(accepted_recorded, timeout=20, what="the job and its accepted event")
    await eventually(
        lambda: _empty(stack, stack.spec.ingest_queue.name), timeout=20, what="both handled"
    )
    job = await repository.get_job(job_id)
    assert (job.user_id, job.idempotency_key, job.trace_id) == (
        "upstream-user-1",
        "crm-req-1",
        event.trace_id,
    )
    assert (job.duration, job.aspect_ratio.value, job.options.style) == (30, "1:1", "documentary")
    events = await drain_events(stack, stack.spec.scripter_queue.name, expect=1)
    assert [(e.event_type, e.job_id, e.trace_id) for e in events] == [
        (EventType.JOB_ACCEPTED, job_id, event.trace_id)
    ]
    assert await drain(stack, stack.spec.ingest_queue.dlq_name) == []


async def test_an_invalid_request_is_rejected_with_reasons_and_deleted(consumer: Stack) -> None:
    stack = consumer
    bad = {"prompt": "short", "duration": 5, "options": {"style": "watercolour"}, "colour": "red"}
    event = requested("upstream-user-2", "crm-req-2", bad)
    await (await stack.requests_publisher()).publish(event)

    events: list[Any] = []

    async def rejected_arrived() -> bool:
        events.extend(await drain_events(stack, stack.spec.outcomes_queue.name))
        return bool(events)

    await eventually(rejected_arrived, timeout=20, what="job.rejected on the outcomes queue")
    assert len(events) == 1
    rejected = events[0]
    assert isinstance(rejected, JobRejected)
    assert (rejected.user_id, rejected.trace_id) == ("upstream-user-2", event.trace_id)
    assert rejected.data.request_id == "crm-req-2"
    reasons = {p.field: p.message for p in rejected.data.reasons}
    assert set(reasons) == {"prompt", "duration", "options.style", "colour"}
    assert all(reasons.values())
    await eventually(
        lambda: _empty(stack, stack.spec.ingest_queue.name), timeout=20, what="message deleted"
    )
    with pytest.raises(JobNotFound):
        await (await stack.repository()).get_job(job_id_for_key("upstream-user-2", "crm-req-2"))
    assert await drain(stack, stack.spec.scripter_queue.name) == []
    assert await depth(stack, stack.spec.ingest_queue.dlq_name) == 0


async def test_a_language_nothing_can_write_is_rejected_naming_the_option(
    consumer: Stack,
) -> None:
    stack = consumer
    request = {**VALID, "options": {"language": "hi", "captions": {"mode": "both"}}}
    event = requested("upstream-user-9", "crm-req-9", request)
    await (await stack.requests_publisher()).publish(event)

    events: list[Any] = []

    async def rejected_arrived() -> bool:
        events.extend(await drain_events(stack, stack.spec.outcomes_queue.name))
        return bool(events)

    await eventually(rejected_arrived, timeout=20, what="job.rejected on the outcomes queue")
    (rejected,) = events
    assert isinstance(rejected, JobRejected)
    (reason,) = rejected.data.reasons
    assert reason.field == "options.language" and "Hindi" in reason.message
    with pytest.raises(JobNotFound):
        await (await stack.repository()).get_job(job_id_for_key("upstream-user-9", "crm-req-9"))
    assert await drain(stack, stack.spec.scripter_queue.name) == []


async def test_a_reused_request_id_with_another_payload_is_rejected(consumer: Stack) -> None:
    stack = consumer
    publisher = await stack.requests_publisher()
    await publisher.publish(requested("upstream-user-3", "crm-req-3", VALID))
    job_id = job_id_for_key("upstream-user-3", "crm-req-3")

    async def exists() -> bool:
        try:
            await (await stack.repository()).get_job(job_id)
        except JobNotFound:
            return False
        return True

    await eventually(exists, timeout=20, what="the first job")
    await publisher.publish(requested("upstream-user-3", "crm-req-3", {**VALID, "duration": 45}))
    events: list[Any] = []

    async def rejected_arrived() -> bool:
        events.extend(await drain_events(stack, stack.spec.outcomes_queue.name))
        return bool(events)

    await eventually(rejected_arrived, timeout=20, what="job.rejected")
    assert [p.field for p in events[0].data.reasons] == ["request_id"]
    assert (await (await stack.repository()).get_job(job_id)).duration == 30


async def test_an_unparseable_body_ends_in_the_ingest_dlq(consumer: Stack) -> None:
    stack = consumer
    await send_raw(stack, stack.spec.ingest_queue.name, "this is not an event {")
    dlq = stack.spec.ingest_queue.dlq_name

    await eventually(lambda: _depth_is(stack, dlq, 1), timeout=45, what="the message in the DLQ")
    messages = await drain(stack, dlq, expect=1)
    assert [m["Body"] for m in messages] == ["this is not an event {"]
    assert await drain(stack, stack.spec.outcomes_queue.name) == []


async def _depth_is(stack: Stack, queue: str, expected: int) -> bool:
    return await depth(stack, queue) == expected


async def _empty(stack: Stack, queue: str) -> bool:
    return await depth(stack, queue) == 0
