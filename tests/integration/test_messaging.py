"""Topics, subscriptions and filter policies as the bootstrap creates them, on both backends."""

from __future__ import annotations

import dataclasses
import json

from omnigen.shared.adapters.sns import unwrap_notification
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


async def test_requests_arrive_in_the_envelope_naming_their_topic_events_arrive_raw(
    stack: Stack,
) -> None:
    """The ingest queue gets SNS's envelope (its topic names the publisher); the workers'
    queues get the event itself (raw delivery)."""
    publisher = await stack.requests_publisher()
    event = JobRequested.create(
        job_id=None,
        user_id="upstream-user",
        data=JobRequestedData(request_id="req-1", request={"prompt": "p" * 20, "duration": 20}),
    )
    await publisher.publish(event)
    [message] = await receive_all(stack, stack.spec.ingest_queue.name, expect=1)
    body, topic_arn = unwrap_notification(message["Body"])
    assert topic_arn == stack.applied.topic_arns[stack.spec.requests_topic.name]
    assert json.loads(body)["event_id"] == str(event.event_id)
    assert json.loads(message["Body"])["MessageAttributes"]["event_type"]["Value"] == (
        "job.requested"
    )

    accepted = JobAccepted.create(
        job_id="j" * 32, user_id="u", data=JobAcceptedData(duration=20, aspect_ratio="9:16")
    )
    await (await stack.events_publisher()).publish(accepted)
    [raw] = await receive_all(stack, stack.spec.scripter_queue.name, expect=1)
    assert unwrap_notification(raw["Body"]) == (raw["Body"], None)
    assert json.loads(raw["Body"])["event_id"] == str(accepted.event_id)
    assert raw["MessageAttributes"]["event_type"]["StringValue"] == "job.accepted"


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


async def test_bootstrap_removes_a_filter_the_spec_no_longer_has(stack: Stack) -> None:
    """A stack applied when ingest-requests filtered on `event_type` (which dropped requests
    sent without the attribute) takes every request once the current spec is applied."""
    spec = stack.spec
    old = dataclasses.replace(
        spec,
        subscriptions=tuple(
            dataclasses.replace(sub, event_types=("job.requested",))
            if sub.queue == spec.ingest_queue.name
            else sub
            for sub in spec.subscriptions
        ),
    )
    await apply_spec(stack.aws, old)
    sns = await stack.aws.sns()
    ingest_arn = stack.applied.queue_arns[spec.ingest_queue.name]
    [arn] = [
        a
        for a in stack.applied.subscription_arns
        if (await sns.get_subscription_attributes(SubscriptionArn=a))["Attributes"]["Endpoint"]
        == ingest_arn
    ]
    filtered = await sns.get_subscription_attributes(SubscriptionArn=arn)
    assert json.loads(filtered["Attributes"]["FilterPolicy"]) == {"event_type": ["job.requested"]}

    await apply_spec(stack.aws, spec)
    current = (await sns.get_subscription_attributes(SubscriptionArn=arn))["Attributes"]
    assert json.loads(current.get("FilterPolicy") or "{}") == {}
    await sns.publish(
        TopicArn=stack.applied.topic_arns[spec.requests_topic.name], Message='{"no": "attribute"}'
    )
    [message] = await receive_all(stack, spec.ingest_queue.name, expect=1)
    assert unwrap_notification(message["Body"])[0] == '{"no": "attribute"}'
