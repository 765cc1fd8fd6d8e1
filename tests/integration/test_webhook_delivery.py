"""Webhook delivery end to end on each backend: job.completed published on the events topic,
the webhooks queue, the worker's consumer, the real sender, a receiver on 127.0.0.1 verifying
with the Standard Webhooks library; retries through SQS visibility (short backoff here). And
the store's endpoints with their owner's list: capped, deleted, another owner's apart; and a
delivery record opened with its job's list in one write, a repeat answered by the stored one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from standardwebhooks.webhooks import Webhook

from omnigen.cli.webhook_listener import WebhookListener
from omnigen.shared.adapters.webhook_store import DynamoWebhookStore
from omnigen.shared.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    SigningSecret,
    TooManyEndpoints,
    WebhookEndpoint,
    WebhookNotFound,
    new_endpoint_id,
    new_secret,
    rotated,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.webhooks import completed_jobs, endpoint_for, eventually, webhook_worker


async def test_a_receiver_down_then_up_gets_exactly_one_delivery_per_event(stack: Stack) -> None:
    owner = f"hooks-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    listener = WebhookListener([secret]).start()
    listener.stop()  # down: connections refused on its port
    publisher = await stack.events_publisher()
    try:
        async with webhook_worker(stack) as deps:
            await endpoint_for(deps.store, owner, listener.url, secret)
            events = await completed_jobs(stack, owner, 3)
            for event in events:
                await publisher.publish(event)
            ids = {str(e.event_id) for e in events}

            async def failed_twice() -> bool:
                for event in events:
                    found = await deps.store.deliveries(event.job_id or "")
                    if not found or len(found[0].attempts) < 2:
                        return False
                return True

            await eventually(failed_twice, timeout=30)
            listener.start()  # up again, same port
            await eventually(lambda: set(listener.delivered_ids()) == ids, timeout=30)
            await asyncio.sleep(2.5)  # longer than a retry step: any duplicate would be here
        assert Counter(listener.delivered_ids()) == dict.fromkeys(ids, 1)
        assert all(r.verified_with == 0 for r in listener.received)
        for event in events:
            [delivery] = await deps.store.deliveries(event.job_id or "")
            assert delivery.status is DeliveryStatus.SUCCEEDED
            assert delivery.attempts[0].status_code is None and delivery.attempts[0].error
            assert delivery.attempts[-1].status_code == 204
    finally:
        listener.stop()


async def test_410_disables_and_a_rotation_mid_stream_verifies_with_both(stack: Stack) -> None:
    owner = f"hooks-{uuid.uuid4().hex[:8]}"
    old, new = new_secret(), new_secret()
    publisher = await stack.events_publisher()
    with WebhookListener([old]) as listener, WebhookListener([new]) as gone:
        gone.respond = lambda _r: 410
        async with webhook_worker(stack) as deps:
            hook = await endpoint_for(deps.store, owner, listener.url, old)
            doomed = await endpoint_for(deps.store, owner, gone.url, new)
            first, second, third = await completed_jobs(stack, owner, 3)
            await publisher.publish(first)
            await eventually(lambda: len(listener.delivered_ids()) == 1)
            await eventually(lambda: len(gone.received) == 1)

            async def disabled() -> bool:
                stored = await deps.store.get_endpoint(owner, doomed.endpoint_id)
                return stored.disabled and bool(stored.disabled_reason)

            # The worker records the 410 after the receiver has answered: poll, not read once.
            await eventually(disabled, timeout=10)

            # Rotate mid-stream: the old secret signs along for the grace period.
            current = await deps.store.get_endpoint(owner, hook.endpoint_id)
            secrets = rotated(current.secrets, new, now=time.time(), grace_s=3600)
            await deps.store.set_endpoint_secrets(owner, hook.endpoint_id, secrets)
            listener.secrets = [new]  # the receiver already moved to the new secret
            await publisher.publish(second)
            await eventually(lambda: len(listener.delivered_ids()) == 2)
            during = listener.received[-1]
            headers = {
                "webhook-id": during.webhook_id,
                "webhook-timestamp": during.timestamp,
                "webhook-signature": during.signature,
            }
            Webhook(old).verify(during.body, headers)  # a receiver still on the old one: fine
            Webhook(new).verify(during.body, headers)

            # Grace over: only the new secret signs.
            await deps.store.set_endpoint_secrets(owner, hook.endpoint_id, secrets[:1])
            await publisher.publish(third)
            await eventually(lambda: len(listener.delivered_ids()) == 3)
            assert len(listener.received[-1].signature.split(" ")) == 1
            await asyncio.sleep(1)
        assert len(gone.received) == 1  # disabled: nothing after the 410
        assert all(r.verified_with == 0 for r in listener.received)


async def test_dlq_redrive_delivers_what_was_not_delivered_and_leaves_the_job_alone(
    stack: Stack,
) -> None:
    from omnigen.cli import dlq as dlq_ops

    owner = f"hooks-{uuid.uuid4().hex[:8]}"
    secret = new_secret()
    sqs = await stack.aws.sqs()
    queue = stack.spec.webhooks_queue
    with WebhookListener([secret]) as listener:
        async with webhook_worker(stack) as deps:
            await endpoint_for(deps.store, owner, listener.url, secret)
            [event] = await completed_jobs(stack, owner, 1)  # completed in the table too
            repository = await stack.repository()
            # As if its receives ran out: the event sits in the DLQ.
            await sqs.send_message(
                QueueUrl=stack.queue_url(queue.dlq_name), MessageBody=event.to_json()
            )
            [letter] = await dlq_ops.redrive(stack.aws, queue, stack.spec)
            assert letter.outcome == "requeued" and "webhooks are tried again" in letter.why
            await eventually(lambda: listener.delivered_ids() == [str(event.event_id)])

            async def recorded() -> bool:  # the worker records it after the receiver answered
                found = await deps.store.deliveries(event.job_id or "")
                return bool(found) and found[0].status is DeliveryStatus.SUCCEEDED

            await eventually(recorded, timeout=10)
            # A second redrive of the same event (a copy) sends nothing new: it was delivered.
            await sqs.send_message(
                QueueUrl=stack.queue_url(queue.dlq_name), MessageBody=event.to_json()
            )
            await dlq_ops.redrive(stack.aws, queue, stack.spec)
            await asyncio.sleep(2)
        assert listener.delivered_ids() == [str(event.event_id)]
        job = await repository.get_job(event.job_id or "")
        assert job.status.value == "completed"  # the job was not touched


async def test_endpoints_are_capped_per_owner_and_a_delete_takes_one_off_the_list(
    stack: Stack,
) -> None:
    store = DynamoWebhookStore(await stack.aws.dynamodb(), stack.spec.table)
    now = time.time()

    def endpoint(owner: str, n: int) -> WebhookEndpoint:
        return WebhookEndpoint(
            endpoint_id=new_endpoint_id(),
            owner=owner,
            url=f"https://hooks.example/{n}",
            event_types=["job.completed"],
            secrets=[SigningSecret(secret=new_secret(), created_at=now)],
            created_at=now + n,
        )

    owner, other = (f"cap-{uuid.uuid4().hex[:8]}" for _ in range(2))
    mine = [endpoint(owner, n) for n in range(3)]
    for e in mine:
        await store.add_endpoint(e, limit=3)
    theirs = endpoint(other, 0)
    await store.add_endpoint(theirs, limit=3)
    with pytest.raises(TooManyEndpoints):
        await store.add_endpoint(endpoint(owner, 9), limit=3)
    assert [e.endpoint_id for e in await store.endpoints(owner)] == [e.endpoint_id for e in mine]

    with pytest.raises(WebhookNotFound):  # someone else's: as if it did not exist
        await store.delete_webhook(other, mine[1].endpoint_id)
    await store.delete_webhook(owner, mine[1].endpoint_id)
    with pytest.raises(WebhookNotFound):
        await store.get_endpoint(owner, mine[1].endpoint_id)
    assert [e.endpoint_id for e in await store.endpoints(owner)] == [
        mine[0].endpoint_id,
        mine[2].endpoint_id,
    ]
    await store.add_endpoint(endpoint(owner, 5), limit=3)  # room again after the delete
    assert [e.endpoint_id for e in await store.endpoints(other)] == [theirs.endpoint_id]


async def test_a_delivery_is_opened_with_its_jobs_list_and_a_repeat_answers_the_stored_one(
    stack: Stack,
) -> None:
    store = DynamoWebhookStore(await stack.aws.dynamodb(), stack.spec.table)
    job_id, now = uuid.uuid4().hex, time.time()
    first, second = (
        Delivery(
            delivery_id=f"dl_{uuid.uuid4().hex}",
            job_id=job_id,
            owner="opener",
            event_id=f"e{n}",
            event_type="job.completed",
            target="job",
            url="https://hooks.example/",
            created_at=now + n,
            updated_at=now + n,
            event_body="{}",
        )
        for n in range(2)
    )
    assert await store.open_delivery(first) == first
    tried = await store.record_attempt(
        first, Attempt(at=now, status_code=503, latency_ms=9), DeliveryStatus.PENDING
    )
    # the message comes back: its repeat gets the stored record (with the attempt), not its own
    again = await store.open_delivery(first.model_copy(update={"url": "https://other.example/"}))
    assert again.updated_at >= tried.updated_at  # the store stamps the attempt's write
    assert again.model_copy(update={"updated_at": tried.updated_at}) == tried
    assert again.url == "https://hooks.example/"
    assert [a.status_code for a in again.attempts] == [503]
    await store.open_delivery(second)
    listed = await store.deliveries(job_id)
    assert sorted(d.delivery_id for d in listed) == sorted([first.delivery_id, second.delivery_id])
