"""Topics, subscriptions and filter policies as the bootstrap creates them, on both backends."""

from __future__ import annotations

import json

from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.events import (
    Event,
    JobAccepted,
    JobAcceptedData,
    JobCompleted,
    JobCompletedData,
    JobFailed,
    JobFailedData,
    JobRejected,
    JobRejectedData,
    JobRequested,
    JobRequestedData,
    Problem,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, receive_all, received_events


def _flow() -> list[Event]:
    job = {"job_id": "job-7", "user_id": "u-7", "trace_id": "trace-7"}
    return [
        JobAccepted.create(**job, data=JobAcceptedData(duration=30, aspect_ratio="16:9")),
        ScriptReady.create(**job, data=ScriptReadyData(title="t", scene_count=4)),
        JobCompleted.create(**job, data=JobCompletedData(video_key="k", duration=30.0)),
        JobFailed.create(**job, data=JobFailedData(stage="composing", error_message="boom")),
        JobRejected.create(
            job_id=None,
            user_id="u-7",
            data=JobRejectedData(request_id="r", reasons=[Problem(field="duration", message="x")]),
        ),
    ]


async def test_filter_policies_route_each_event_type_to_its_queue(stack: Stack) -> None:
    publisher = await stack.events_publisher()
    flow = _flow()
    for event in flow:
        await publisher.publish(event)
    spec = stack.spec
    scripter = await received_events(stack, spec.scripter_queue.name, expect=1)
    renderer = await received_events(stack, spec.renderer_queue.name, expect=1)
    outcomes = await received_events(stack, spec.outcomes_queue.name, expect=3)
    assert scripter == [flow[0]]
    assert renderer == [flow[1]]
    assert sorted(e.event_type.value for e in outcomes) == [
        "job.completed",
        "job.failed",
        "job.rejected",
    ]
    # Nothing else, visible or in flight. The last publish has been delivered, so every one
    # was: moto delivers within the publish, LocalStack applies the filter policies within it
    # and hands the sends to its thread pool in publishing order.
    for queue in (spec.scripter_queue, spec.renderer_queue, spec.outcomes_queue, spec.ingest_queue):
        assert await depth(stack, queue.name) == 0, queue.name


async def test_raw_delivery_carries_the_event_itself(stack: Stack) -> None:
    publisher = await stack.requests_publisher()
    event = JobRequested.create(
        job_id=None,
        user_id="upstream-user",
        data=JobRequestedData(request_id="req-1", request={"prompt": "p" * 20, "duration": 20}),
    )
    await publisher.publish(event)
    [message] = await receive_all(stack, stack.spec.ingest_queue.name, expect=1)
    body = json.loads(message["Body"])
    assert "TopicArn" not in body  # not wrapped in an SNS envelope
    assert body["event_id"] == str(event.event_id)
    assert message["MessageAttributes"]["event_type"]["StringValue"] == "job.requested"


async def test_bootstrap_is_idempotent(stack: Stack) -> None:
    again = await apply_spec(stack.aws, stack.spec)
    assert again.queue_urls == stack.applied.queue_urls
    assert again.topic_arns == stack.applied.topic_arns
    assert sorted(again.subscription_arns) == sorted(stack.applied.subscription_arns)
    sqs = await stack.aws.sqs()
    attributes = await sqs.get_queue_attributes(
        QueueUrl=stack.queue_url(stack.spec.renderer_queue.name), AttributeNames=["All"]
    )
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == stack.spec.renderer_queue.max_receive_count
    assert redrive["deadLetterTargetArn"].endswith(stack.spec.renderer_queue.dlq_name)
    assert attributes["Attributes"]["VisibilityTimeout"] == str(
        stack.spec.renderer_queue.visibility_timeout_s
    )
