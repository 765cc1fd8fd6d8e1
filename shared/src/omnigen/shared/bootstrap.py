"""Apply the resource spec to any endpoint, idempotently (moto, LocalStack or AWS).

Running it twice changes nothing; running it after the spec changed brings queue attributes,
redrive policies and subscription filters in line, and adds the table's missing indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from omnigen.shared.adapters.aws import AwsClients, error_code
from omnigen.shared.logging import configure_logging
from omnigen.shared.resources import Index, Queue, ResourceSpec, Subscription
from omnigen.shared.settings import AwsSettings

log = structlog.get_logger()


@dataclass
class AppliedResources:
    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    subscription_arns: list[str] = field(default_factory=list)
    table: str = ""
    bucket: str = ""


async def apply_spec(aws: AwsClients, spec: ResourceSpec) -> AppliedResources:
    applied = AppliedResources()
    await _ensure_table(aws, spec)
    applied.table = spec.table.name
    sns = await aws.sns()
    for topic in spec.topics:
        arn = (await sns.create_topic(Name=topic.name))["TopicArn"]
        applied.topic_arns[topic.name] = arn
        policy = topic.publish_policy(arn)
        if policy is not None:
            await sns.set_topic_attributes(
                TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
            )
    for queue in spec.queues:
        await _ensure_queue(aws, queue, applied)
    await _allow_topics_to_send(aws, spec.subscriptions, applied)
    for subscription in spec.subscriptions:
        applied.subscription_arns.append(await _ensure_subscription(aws, subscription, applied))
    await _ensure_bucket(aws, spec.bucket.name, aws.settings.region)
    applied.bucket = spec.bucket.name
    if spec.bucket.cors_rules:  # none given: an operator's own rule is left as it is
        s3 = await aws.s3()
        await s3.put_bucket_cors(
            Bucket=spec.bucket.name,
            CORSConfiguration={"CORSRules": spec.bucket.cors_rules},  # type: ignore[typeddict-item]
        )
    await _ensure_bucket_notifications(aws, spec, applied)
    log.info("bootstrap_applied", prefix=spec.prefix, queues=len(spec.queues))
    return applied


async def _ensure_table(aws: AwsClients, spec: ResourceSpec) -> None:
    ddb = await aws.dynamodb()
    table = spec.table
    definitions: list[Any] = [
        {"AttributeName": name, "AttributeType": kind}
        for name, kind in table.attribute_types.items()
    ]
    try:
        described = await ddb.describe_table(TableName=table.name)
    except ddb.exceptions.ResourceNotFoundException:
        await ddb.create_table(
            TableName=table.name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=definitions,
            KeySchema=[{"AttributeName": table.hash_key, "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[_index(index) for index in table.indexes],
        )
        waiter = ddb.get_waiter("table_exists")
        await waiter.wait(TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    else:
        # An older table: add each index the spec gained since (one per UpdateTable, as
        # DynamoDB allows), waiting for it to be built before the next.
        present = {i["IndexName"] for i in described["Table"].get("GlobalSecondaryIndexes", [])}
        for index in table.indexes:
            if index.name in present:
                continue
            await ddb.update_table(
                TableName=table.name,
                AttributeDefinitions=definitions,
                GlobalSecondaryIndexUpdates=[{"Create": _index(index)}],
            )
            log.info("bootstrap_index_added", table=table.name, index=index.name)
            await _table_active(aws, table.name)
    ttl = await ddb.describe_time_to_live(TableName=table.name)
    if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        await ddb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


def _index(index: Index) -> Any:
    return {
        "IndexName": index.name,
        "KeySchema": [
            {"AttributeName": index.hash_key, "KeyType": "HASH"},
            {"AttributeName": index.range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": index.projection},
    }


async def _table_active(aws: AwsClients, name: str, timeout_s: float = 600.0) -> None:
    """Wait until the table and every one of its indexes are ACTIVE (an index is backfilled
    from the table's items before it is)."""
    ddb = await aws.dynamodb()
    deadline = time.monotonic() + timeout_s
    while True:
        table = (await ddb.describe_table(TableName=name))["Table"]
        statuses = [table.get("TableStatus")]
        statuses += [i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])]
        if all(status in (None, "ACTIVE") for status in statuses):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} not active after {timeout_s:.0f}s: {statuses}")
        await asyncio.sleep(2)


async def _ensure_queue(aws: AwsClients, queue: Queue, applied: AppliedResources) -> None:
    sqs = await aws.sqs()
    dlq_url = (await sqs.create_queue(QueueName=queue.dlq_name))["QueueUrl"]
    await sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "MessageRetentionPeriod": str(queue.dlq_retention_s),
            "SqsManagedSseEnabled": "true",
        },
    )
    dlq_arn = await _queue_arn(aws, dlq_url)
    url = (await sqs.create_queue(QueueName=queue.name))["QueueUrl"]
    arn = await _queue_arn(aws, url)
    await sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(queue.visibility_timeout_s),
            "MessageRetentionPeriod": str(queue.retention_s),
            "ReceiveMessageWaitTimeSeconds": "20",
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
            ),
        },
    )
    for name, queue_url, queue_arn in ((queue.name, url, arn), (queue.dlq_name, dlq_url, dlq_arn)):
        applied.queue_urls[name] = queue_url
        applied.queue_arns[name] = queue_arn


async def _queue_arn(aws: AwsClients, url: str) -> str:
    sqs = await aws.sqs()
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


async def _ensure_subscription(
    aws: AwsClients, subscription: Subscription, applied: AppliedResources
) -> str:
    sns = await aws.sns()
    topic_arn = applied.topic_arns[subscription.topic]
    queue_arn = applied.queue_arns[subscription.queue]
    attributes = {"RawMessageDelivery": "true" if subscription.raw_message_delivery else "false"}
    if subscription.filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(subscription.filter_policy)
        attributes["FilterPolicyScope"] = "MessageAttributes"
    existing = await _find_subscription(aws, topic_arn, queue_arn)
    if existing is not None and subscription.filter_policy is None:
        attributes["FilterPolicy"] = "{}"  # removes a filter an earlier spec had set
    if existing is None:
        response = await sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        return response["SubscriptionArn"]
    for name, value in attributes.items():
        await sns.set_subscription_attributes(
            SubscriptionArn=existing, AttributeName=name, AttributeValue=value
        )
    return existing


async def _find_subscription(aws: AwsClients, topic_arn: str, queue_arn: str) -> str | None:
    sns = await aws.sns()
    paginator = sns.get_paginator("list_subscriptions_by_topic")
    async for page in paginator.paginate(TopicArn=topic_arn):
        for entry in page.get("Subscriptions", []):
            if entry.get("Endpoint") == queue_arn and entry.get("Protocol") == "sqs":
                return entry["SubscriptionArn"]
    return None


async def _allow_topics_to_send(
    aws: AwsClients, subscriptions: tuple[Subscription, ...], applied: AppliedResources
) -> None:
    """One policy per queue: only the topics subscribed to it may send to it (the ingest queue
    has several, the shared requests topic and one per upstream publisher)."""
    sqs = await aws.sqs()
    topics: dict[str, list[str]] = {}
    for subscription in subscriptions:
        topics.setdefault(subscription.queue, []).append(applied.topic_arns[subscription.topic])
    for queue, topic_arns in topics.items():
        policy = _queue_policy(applied.queue_arns[queue], topic_arns)
        await sqs.set_queue_attributes(
            QueueUrl=applied.queue_urls[queue], Attributes={"Policy": json.dumps(policy)}
        )


def _queue_policy(queue_arn: str, topic_arns: list[str]) -> dict[str, Any]:
    """Only these topics may send to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
            }
        ],
    }


async def _ensure_bucket_notifications(
    aws: AwsClients, spec: ResourceSpec, applied: AppliedResources
) -> None:
    """The bucket's notifications, exactly the spec's (a put replaces the whole set); each
    queue first lets the bucket (and only it) send to it, as S3 checks when it is set."""
    sqs = await aws.sqs()
    bucket_arn = f"arn:aws:s3:::{spec.bucket.name}"
    configurations: list[Any] = []
    for notification in spec.bucket_notifications:
        queue_arn = applied.queue_arns[notification.queue]
        policy = _bucket_queue_policy(queue_arn, bucket_arn)
        await sqs.set_queue_attributes(
            QueueUrl=applied.queue_urls[notification.queue],
            Attributes={"Policy": json.dumps(policy)},
        )
        configurations.append(
            {
                "QueueArn": queue_arn,
                "Events": list(notification.events),
                "Filter": {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": notification.prefix}]}
                },
            }
        )
    s3 = await aws.s3()
    await s3.put_bucket_notification_configuration(
        Bucket=spec.bucket.name,
        NotificationConfiguration={"QueueConfigurations": configurations},
    )


def _bucket_queue_policy(queue_arn: str, bucket_arn: str) -> dict[str, Any]:
    """Only the bucket may send to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowBucket",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": bucket_arn}},
            }
        ],
    }


async def _ensure_bucket(aws: AwsClients, bucket: str, region: str) -> None:
    s3 = await aws.s3()
    try:
        if region == "us-east-1":
            await s3.create_bucket(Bucket=bucket)
        else:
            await s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except Exception as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


async def _main(settings: AwsSettings) -> AppliedResources:
    async with AwsClients(settings) as aws:
        return await apply_spec(aws, settings.resources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="omnigen-bootstrap",
        description="Create or update omnigen's queues, topics, table and bucket (idempotent). "
        "OMNIGEN_UPSTREAM_PUBLISHERS (JSON: name -> principal ARNs) adds a requests topic per "
        "upstream publisher, publishable by those principals alone.",
    )
    parser.add_argument("--endpoint-url", help="one endpoint for every service (moto, LocalStack)")
    parser.add_argument("--prefix", help="resource name prefix (default: omnigen)")
    args = parser.parse_args(argv)
    configure_logging("bootstrap")
    overrides: dict[str, Any] = {}
    if args.endpoint_url:
        overrides["endpoint_url"] = args.endpoint_url
    if args.prefix:
        overrides["resource_prefix"] = args.prefix
    settings = AwsSettings(**overrides)
    applied = asyncio.run(_main(settings))
    json.dump(asdict(applied), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
