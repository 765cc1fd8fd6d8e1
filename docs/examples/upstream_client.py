"""An upstream system asks omnigen for a video and waits for the outcome, with boto3 only.

It does what docs/integrating.md describes: subscribe a queue of its own to omnigen's events
topic (filtered to the events it cares about), publish one `job.requested` to the requests
topic, and read events until its job ends. It matches answers by the `trace_id` it chose
(`job.accepted`, `job.completed`, `job.failed` carry it) and by its `request_id`
(`job.rejected`). Exit code: 0 completed, 1 failed or rejected, 2 no answer in time.

    python docs/examples/upstream_client.py \
        --requests-topic-arn arn:aws:sns:us-east-1:123456789012:omnigen-job-requests \
        --events-topic-arn arn:aws:sns:us-east-1:123456789012:omnigen-job-events \
        --user-id customer-42 --request-id campaign-2026-12-01 \
        --prompt "Three tips for keeping houseplants alive through winter" --duration 20

Credentials and region come from the usual AWS settings; `AWS_ENDPOINT_URL` points it at an
emulator. Only the standard library and boto3 are used, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

ANSWERS = ["job.accepted", "job.rejected", "job.completed", "job.failed"]


def job_requested(
    *, user_id: str, request_id: str, request: dict[str, Any], trace_id: str
) -> dict[str, Any]:
    """A `job.requested` v1 event (docs/schemas/job.requested.v1.json)."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "job.requested",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "job_id": None,
        "user_id": user_id,
        "trace_id": trace_id,
        "data": {"request_id": request_id, "request": request},
    }


def own_queue(sqs: Any, sns: Any, events_topic_arn: str, name: str) -> tuple[str, str]:
    """A queue subscribed to the events topic, receiving only the answers (raw delivery: the
    body is the event itself). Returns the queue URL and the subscription ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": events_topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    subscription = sns.subscribe(
        TopicArn=events_topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"event_type": ANSWERS}),
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return url, subscription


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests-topic-arn", required=True)
    parser.add_argument("--events-topic-arn", required=True)
    parser.add_argument("--user-id", required=True, help="the omnigen user the job is for")
    parser.add_argument("--request-id", required=True, help="your idempotency key")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--duration", type=int, default=20, help="seconds, 10-60")
    parser.add_argument("--aspect-ratio", default="16:9")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait")
    parser.add_argument("--print-event", action="store_true", help="print the event, send none")
    args = parser.parse_args(argv)

    trace_id = uuid.uuid4().hex
    event = job_requested(
        user_id=args.user_id,
        request_id=args.request_id,
        request={
            "prompt": args.prompt,
            "duration": args.duration,
            "aspect_ratio": args.aspect_ratio,
        },
        trace_id=trace_id,
    )
    if args.print_event:
        print(json.dumps(event))
        return 0

    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    queue_url, subscription = own_queue(
        sqs, sns, args.events_topic_arn, f"upstream-answers-{trace_id[:12]}"
    )
    try:
        sns.publish(
            TopicArn=args.requests_topic_arn,
            Message=json.dumps(event),
            # Subscribers filter on this attribute; the body's `event_type` is authoritative.
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": "job.requested"}
            },
        )
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            for message in sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5
            ).get("Messages", []):
                answer = json.loads(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                ours = answer.get("trace_id") == trace_id or (
                    answer["event_type"] == "job.rejected"
                    and answer["user_id"] == args.user_id
                    and answer["data"]["request_id"] == args.request_id
                )
                if not ours:
                    continue  # another job's event: this queue sees every user's
                print(json.dumps(answer), flush=True)
                if answer["event_type"] == "job.completed":
                    return 0
                if answer["event_type"] in ("job.failed", "job.rejected"):
                    return 1
        print("no answer in time", file=sys.stderr)
        return 2
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=queue_url)


if __name__ == "__main__":
    sys.exit(main())
