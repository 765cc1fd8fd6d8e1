"""Who may request jobs for whom (issue 17 item 11). Each upstream publisher has a requests
topic of its own, publishable by its principals alone; the ingest queue gets SNS's envelope,
so the topic names the publisher, and the publisher's rule says which user ids it may act for.
A refused request gets `job.rejected` naming `user_id`; the shared topic keeps its old rule
(every user) unless closed. On both backends, through bootstrap's real topics and policies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from omnigen.cli.dlq import peek
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.upstream import build_consumer
from omnigen.shared.adapters.dynamodb import job_id_for_key
from omnigen.shared.adapters.sns import SnsEventPublisher, unwrap_notification
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.events import Event, JobRejected, JobRequested, JobRequestedData
from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.settings import AwsSettings
from omnigen.testing.fixtures import Stack, bootstrapped, moto_settings
from omnigen.testing.queues import depth, eventually, send_raw

from .helpers import PROMPT, drain, drain_events, settings_for

CRM_ROLE = "arn:aws:iam::111122223333:role/crm-publisher"
PARTNER_ACCOUNT = "arn:aws:iam::444455556666:root"
PUBLISHERS = {"crm": [CRM_ROLE], "partner": [PARTNER_ACCOUNT]}
VALID = {"prompt": PROMPT, "duration": 20, "aspect_ratio": "9:16"}


@dataclass
class Upstream:
    stack: Stack

    def topic_arn(self, publisher: str | None) -> str:
        name = self.stack.spec.requests_topic.name
        return self.stack.applied.topic_arns[name if publisher is None else f"{name}-{publisher}"]

    async def request(self, publisher: str | None, user_id: str, request_id: str) -> JobRequested:
        """What the publisher's own client does: publish to the topic its principal may use."""
        event = JobRequested.create(
            job_id=None,
            user_id=user_id,
            data=JobRequestedData(request_id=request_id, request=VALID),
        )
        sns = await self.stack.aws.sns()
        await SnsEventPublisher(sns, self.topic_arn(publisher)).publish(event)
        return event

    async def job_exists(self, user_id: str, request_id: str) -> bool:
        try:
            await (await self.stack.repository()).get_job(job_id_for_key(user_id, request_id))
        except JobNotFound:
            return False
        return True

    async def outcomes(self, expect: int) -> list[Event]:
        events: list[Event] = []

        async def arrived() -> bool:
            events.extend(await drain_events(self.stack, self.stack.spec.outcomes_queue.name))
            return len(events) >= expect

        await eventually(arrived, timeout=30, what=f"{expect} events on the outcomes queue")
        return events

    async def handled(self) -> None:
        queue = self.stack.spec.ingest_queue.name
        await eventually(lambda: _empty(self.stack, queue), timeout=30, what="requests handled")


async def _empty(stack: Stack, queue: str) -> bool:
    return await depth(stack, queue) == 0


async def _running(stack: Stack, **overrides: Any) -> AsyncIterator[Upstream]:
    """The ingest consumer as main wires it (its trust from IngestSettings) over `stack`."""
    settings = settings_for(stack, upstream_publishers=PUBLISHERS, **overrides)
    ports = IngestPorts(
        repository=await stack.repository(),
        publisher=await stack.events_publisher(),
        assets=await stack.assets(),
    )
    consumer = build_consumer(
        await stack.aws.sqs(),
        stack.spec.ingest_queue.name,
        ports,
        ConsumerSettings(max_concurrency=4, wait_time_s=1, visibility_timeout_s=10),
        settings.upstream_trust,
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield Upstream(stack)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=15)


def _with_publishers(settings: AwsSettings) -> AwsSettings:
    return settings.model_copy(update={"upstream_publishers": PUBLISHERS})


@pytest.fixture
async def publishers_stack(aws_settings: AwsSettings) -> AsyncIterator[Stack]:
    """A stack bootstrapped with two publishers' topics, once on moto, once on LocalStack."""
    async for stack in bootstrapped(_with_publishers(aws_settings)):
        yield stack


@pytest.fixture
async def upstream(publishers_stack: Stack) -> AsyncIterator[Upstream]:
    crm_rule = {"crm": ["crm-*", "vip-1"]}  # partner: a topic, but no rule
    async for running in _running(publishers_stack, upstream_user_rules=crm_rule):
        yield running


async def test_bootstrap_gives_each_publisher_a_topic_only_it_may_publish_to(
    publishers_stack: Stack,
) -> None:
    stack, spec = publishers_stack, publishers_stack.spec
    sns, sqs = await stack.aws.sns(), await stack.aws.sqs()
    crm_arn = stack.applied.topic_arns[f"{spec.requests_topic.name}-crm"]
    policy = json.loads((await sns.get_topic_attributes(TopicArn=crm_arn))["Attributes"]["Policy"])
    allow, deny = policy["Statement"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == (
        "Allow",
        {"AWS": [CRM_ROLE]},
        "sns:Publish",
    )
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == (
        "Deny",
        {"AWS": "*"},
        "sns:Publish",
    )
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [CRM_ROLE]}}
    partner_arn = stack.applied.topic_arns[f"{spec.requests_topic.name}-partner"]
    partner = json.loads(
        (await sns.get_topic_attributes(TopicArn=partner_arn))["Attributes"]["Policy"]
    )
    # An account publisher: any principal of that account, nobody else.
    assert partner["Statement"][1]["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::444455556666:*"]}
    }
    # The ingest queue takes deliveries from exactly the three requests topics, as envelopes.
    queue = stack.queue_url(spec.ingest_queue.name)
    attributes = await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])
    [statement] = json.loads(attributes["Attributes"]["Policy"])["Statement"]
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    requests = stack.applied.topic_arns[spec.requests_topic.name]
    assert sorted(sources) == sorted([requests, crm_arn, partner_arn])
    for topic_arn in (requests, crm_arn, partner_arn):
        [subscription] = (await sns.list_subscriptions_by_topic(TopicArn=topic_arn))[
            "Subscriptions"
        ]
        assert subscription["Endpoint"] == stack.applied.queue_arns[spec.ingest_queue.name]
        found = await sns.get_subscription_attributes(
            SubscriptionArn=subscription["SubscriptionArn"]
        )
        assert found["Attributes"]["RawMessageDelivery"] == "false"


async def test_a_publisher_may_request_jobs_only_for_the_users_its_rule_names(
    upstream: Upstream,
) -> None:
    await upstream.request("crm", "crm-alice", "r-1")  # prefix rule
    await upstream.request("crm", "vip-1", "r-2")  # exact rule
    refused = await upstream.request("crm", "vip-10", "r-3")  # neither
    unruled = await upstream.request("partner", "crm-bob", "r-4")  # a topic, but no rule
    await upstream.request(None, "anyone-at-all", "r-5")  # the shared topic: as before

    events = await upstream.outcomes(expect=2)
    await upstream.handled()
    rejected = {e.data.request_id: e for e in events if isinstance(e, JobRejected)}
    assert sorted(rejected) == ["r-3", "r-4"], events
    assert rejected["r-3"].user_id == "vip-10" and rejected["r-3"].trace_id == refused.trace_id
    [(field, message)] = [(p.field, p.message) for p in rejected["r-3"].data.reasons]
    assert field == "user_id" and message == "publisher 'crm' may not request jobs for this user"
    [problem] = rejected["r-4"].data.reasons
    assert (problem.field, problem.message) == (
        "user_id",
        "publisher 'partner' has no user-id rule",
    )
    assert rejected["r-4"].trace_id == unruled.trace_id

    for user, request in (("crm-alice", "r-1"), ("vip-1", "r-2"), ("anyone-at-all", "r-5")):
        assert await upstream.job_exists(user, request), (user, request)
    for user, request in (("vip-10", "r-3"), ("crm-bob", "r-4")):
        assert not await upstream.job_exists(user, request), (user, request)
    accepted = await drain_events(upstream.stack, upstream.stack.spec.scripter_queue.name, expect=3)
    assert len(accepted) == 3
    assert await depth(upstream.stack, upstream.stack.spec.ingest_queue.dlq_name) == 0


@pytest.fixture
async def closed_shared(moto_server: MotoServer) -> AsyncIterator[Upstream]:
    """The shared topic closed (`[]`), crm's own topic open to `crm-*`; on moto."""
    async for stack in bootstrapped(_with_publishers(moto_settings(moto_server))):
        rules = {"upstream_shared_topic_users": [], "upstream_user_rules": {"crm": ["crm-*"]}}
        async for running in _running(stack, **rules):
            yield running


async def test_a_closed_shared_topic_refuses_requests_and_direct_sends_believing_no_forgery(
    closed_shared: Upstream,
) -> None:
    upstream, stack = closed_shared, closed_shared.stack
    await upstream.request(None, "crm-carol", "s-1")
    # Straight to the queue (no SNS): the shared rule, whatever the body claims.
    direct = JobRequested.create(
        job_id=None,
        user_id="crm-dave",
        data=JobRequestedData(request_id="s-2", request=VALID),
    )
    await send_raw(stack, stack.spec.ingest_queue.name, direct.to_json())
    # An envelope naming crm's topic, published on the shared topic: SNS wraps it in
    # its own envelope (the shared topic's), so it is never read as crm's.
    forged = json.dumps(
        {
            "Type": "Notification",
            "TopicArn": upstream.topic_arn("crm"),
            "Message": JobRequested.create(
                job_id=None,
                user_id="crm-erin",
                data=JobRequestedData(request_id="s-3", request=VALID),
            ).to_json(),
        }
    )
    sns = await stack.aws.sns()
    await sns.publish(TopicArn=upstream.topic_arn(None), Message=forged)
    await upstream.request("crm", "crm-frank", "s-4")  # crm's own topic still works

    events = await upstream.outcomes(expect=2)
    rejected = sorted(
        (e.data.request_id, e.data.reasons[0].field, e.data.reasons[0].message)
        for e in events
        if isinstance(e, JobRejected)
    )
    assert rejected == [
        ("s-1", "user_id", "the shared requests topic may not request jobs for this user"),
        ("s-2", "user_id", "the shared requests topic may not request jobs for this user"),
    ]
    dlq = stack.spec.ingest_queue.dlq_name
    await eventually(lambda: _depth_is(stack, dlq, 1), timeout=45, what="the forgery in the DLQ")
    # `omnigen dlq list` shows what was published, not SNS's envelope around it.
    [shown] = await peek(stack.aws, stack.spec.ingest_queue)
    assert shown.body == forged and shown.problem
    [letter] = await drain(stack, dlq, expect=1)
    assert unwrap_notification(letter["Body"]) == (forged, upstream.topic_arn(None))
    assert await upstream.job_exists("crm-frank", "s-4")
    for user, request in (("crm-carol", "s-1"), ("crm-dave", "s-2"), ("crm-erin", "s-3")):
        assert not await upstream.job_exists(user, request), (user, request)


async def _depth_is(stack: Stack, queue: str, expected: int) -> bool:
    return await depth(stack, queue) == expected
