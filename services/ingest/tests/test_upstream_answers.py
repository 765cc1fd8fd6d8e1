"""Every upstream event that reaches the requests topic gets an answer, on both backends (moto,
and LocalStack for SQS/SNS): a job, or one `job.rejected` naming the fields at fault whenever
the sender can be identified (`user_id` and `data.request_id` readable); the rest end in the
ingest DLQ. Everything is published through SNS, as upstream does, and the events topic is read
from a tap queue subscribed to all of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.upstream import build_consumer
from omnigen.shared.adapters.dynamodb import job_id_for_key
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.events import (
    Event,
    EventType,
    JobRejected,
    JobRequested,
    JobRequestedData,
)
from omnigen.shared.messages import ConsumerSettings
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, depth_at, eventually, take_events

from .test_upstream import VALID

WAIT_S = 1


@dataclass
class Upstream:
    """The stack with ingest's consumer running, a way to publish raw bodies to the requests
    topic, and a tap queue on the events topic (no filter: it sees every event)."""

    stack: Stack
    tap_url: str

    async def publish(self, body: str, *, attribute: bool = True) -> None:
        """Publish `body` as upstream would; `attribute=False` leaves out `event_type`."""
        attributes: dict[str, Any] = {}
        if attribute:
            try:
                event_type = str(json.loads(body).get("event_type"))
            except (ValueError, AttributeError):
                event_type = EventType.JOB_REQUESTED.value
            attributes = {"event_type": {"DataType": "String", "StringValue": event_type}}
        sns = await self.stack.aws.sns()
        await sns.publish(
            TopicArn=self.stack.applied.topic_arns[self.stack.spec.requests_topic.name],
            Message=body,
            MessageAttributes=attributes,
        )

    async def tapped(self) -> list[Event]:
        """Every event on the tap right now (read and deleted)."""
        return await take_events(self.stack, self.tap_url)

    async def until_tapped(self, done: Callable[[list[Event]], bool], what: str) -> list[Event]:
        events: list[Event] = []

        async def arrived() -> bool:
            events.extend(await self.tapped())
            return done(events)

        await eventually(arrived, timeout=30, what=what)
        return events

    async def ingest_depth(self) -> int:
        return await depth(self.stack, self.stack.spec.ingest_queue.name)

    async def dlq_depth(self) -> int:
        return await depth(self.stack, self.stack.spec.ingest_queue.dlq_name)


@pytest.fixture
async def upstream(stack: Stack) -> AsyncIterator[Upstream]:
    sqs, sns = await stack.aws.sqs(), await stack.aws.sns()
    tap_url = (await sqs.create_queue(QueueName=f"{stack.spec.prefix}-events-tap"))["QueueUrl"]
    tap_arn = (await sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sns.subscribe(
        TopicArn=stack.applied.topic_arns[stack.spec.events_topic.name],
        Protocol="sqs",
        Endpoint=tap_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    ports = IngestPorts(
        repository=await stack.repository(),
        publisher=await stack.events_publisher(),
        assets=await stack.assets(),
    )
    running = build_consumer(
        sqs,
        stack.spec.ingest_queue.name,
        ports,
        ConsumerSettings(max_concurrency=4, wait_time_s=WAIT_S, visibility_timeout_s=10),
    )
    task = asyncio.create_task(running.run())
    try:
        yield Upstream(stack, tap_url)
    finally:
        running.stop()
        await asyncio.wait_for(task, timeout=15)


def request_body(**changes: Any) -> dict[str, Any]:
    """A valid `job.requested` body of a fresh user and request id, with `changes` applied
    (a value of None removes the key; `data` changes merge into data)."""
    event = JobRequested.create(
        job_id=None,
        user_id=f"upstream-{uuid.uuid4().hex[:8]}",
        data=JobRequestedData(request_id=f"req-{uuid.uuid4().hex[:8]}", request=VALID),
    )
    body: dict[str, Any] = json.loads(event.to_json())
    for key, value in changes.items():
        if key == "data":
            body["data"] = {**body["data"], **value}
        elif value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


def rejections(events: list[Event]) -> list[JobRejected]:
    return [e for e in events if isinstance(e, JobRejected)]


async def test_a_request_without_the_event_type_attribute_becomes_a_job(
    upstream: Upstream,
) -> None:
    body = request_body()
    await upstream.publish(json.dumps(body), attribute=False)
    job_id = job_id_for_key(body["user_id"], body["data"]["request_id"])

    events = await upstream.until_tapped(
        lambda seen: any(e.event_type is EventType.JOB_ACCEPTED for e in seen),
        what="job.accepted for a request published without the event_type attribute",
    )
    assert [(e.event_type, e.job_id, e.trace_id) for e in events] == [
        (EventType.JOB_ACCEPTED, job_id, body["trace_id"])
    ]
    job = await (await upstream.stack.repository()).get_job(job_id)
    assert (job.user_id, job.idempotency_key) == (body["user_id"], body["data"]["request_id"])
    await eventually(lambda: _zero(upstream.ingest_depth), timeout=20, what="message deleted")
    assert await upstream.dlq_depth() == 0


MALFORMED: dict[str, tuple[dict[str, Any], set[str]]] = {
    "unknown schema_version": ({"schema_version": 2}, {"schema_version"}),
    "a job_id set": ({"job_id": "job-from-upstream"}, {"job_id"}),
    "data.request not an object": ({"data": {"request": "make me a video"}}, {"data.request"}),
    "data.request missing": ({"data": {"request": None}}, {"data.request"}),
    "missing fields": ({"trace_id": None, "occurred_at": None}, {"trace_id", "occurred_at"}),
    "another event type": ({"event_type": "job.accepted"}, {"event_type"}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_request_from_an_identifiable_sender_is_rejected_once(
    upstream: Upstream, case: str
) -> None:
    changes, fields = MALFORMED[case]
    body = request_body(**changes)
    if body["data"].get("request") is None:
        body["data"].pop("request", None)
    await upstream.publish(json.dumps(body))

    events = await upstream.until_tapped(lambda seen: bool(rejections(seen)), what="job.rejected")
    # Answered and deleted: nothing of it is left to redeliver, nothing went to the DLQ.
    await eventually(lambda: _zero(upstream.ingest_depth), timeout=20, what="message deleted")
    events += await upstream.tapped()
    assert [e.event_type for e in events] == [EventType.JOB_REJECTED]
    rejected = rejections(events)[0]
    assert (rejected.user_id, rejected.data.request_id, rejected.job_id) == (
        body["user_id"],
        body["data"]["request_id"],
        None,
    )
    if "trace_id" in body:
        assert rejected.trace_id == body["trace_id"]
    reasons = {p.field: p.message for p in rejected.data.reasons}
    assert set(reasons) == fields, reasons
    assert all(reasons.values())
    assert await upstream.dlq_depth() == 0
    with pytest.raises(JobNotFound):
        await (await upstream.stack.repository()).get_job(
            job_id_for_key(body["user_id"], body["data"]["request_id"])
        )


async def test_a_redelivered_malformed_request_is_rejected_under_the_same_event_id(
    upstream: Upstream,
) -> None:
    with_id = json.dumps(request_body(schema_version=7))
    without_id = json.dumps(request_body(schema_version=7, event_id=None))
    for body in (with_id, with_id, without_id, without_id):
        await upstream.publish(body)

    events = await upstream.until_tapped(
        lambda seen: len(rejections(seen)) == 4, what="four rejections"
    )
    ids: dict[str, set[uuid.UUID]] = {}
    for rejected in rejections(events):
        ids.setdefault(rejected.data.request_id, set()).add(rejected.event_id)
    requests = {json.loads(body)["data"]["request_id"] for body in (with_id, without_id)}
    assert set(ids) == requests
    assert all(len(same) == 1 for same in ids.values()), ids
    assert len(set().union(*ids.values())) == 2


@pytest.mark.parametrize(
    "body",
    [
        "this is not an event {",
        json.dumps(request_body(user_id=None)),
        json.dumps(request_body(data={"request_id": None}, schema_version=3)),
        json.dumps(request_body(data={"request_id": ""}, job_id="job-1")),
        json.dumps(["a", "list"]),
    ],
    ids=["not-json", "no-user_id", "no-request_id", "empty-request_id", "not-an-object"],
)
async def test_a_body_from_an_unidentifiable_sender_ends_in_the_dlq_unanswered(
    upstream: Upstream, body: str
) -> None:
    await upstream.publish(body, attribute=False)

    await eventually(lambda: _is(upstream.dlq_depth, 1), timeout=60, what="the DLQ")
    assert await upstream.ingest_depth() == 0
    assert await upstream.tapped() == []
    assert await depth_at(upstream.stack, upstream.tap_url) == 0


async def _zero(count: Callable[[], Any]) -> bool:
    return bool(await count() == 0)


async def _is(count: Callable[[], Any], expected: int) -> bool:
    return bool(await count() == expected)
