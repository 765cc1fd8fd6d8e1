"""The SQS consumer runtime against real queues on moto and on host LocalStack."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from omnigen.shared.domain.events import JobAccepted, ScriptReady
from omnigen.shared.messages import ConsumerSettings, MessageContext, PermanentFailure, WorkLost
from omnigen.shared.runtime.consumer import Consumer
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import CountingSqs, depth, eventually, receive_all, send_raw
from omnigen.testing.samples import accepted_json as accepted


@contextlib.asynccontextmanager
async def running(consumer: Consumer) -> AsyncIterator[Consumer]:
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=30)


async def send_accepted(stack: Stack, prefix: str, count: int) -> None:
    """`count` job.accepted events for jobs `prefix-0`.. into the scripter queue, 10 a call."""
    sqs = await stack.aws.sqs()
    url = stack.queue_url(stack.spec.scripter_queue.name)
    for start in range(0, count, 10):
        await sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": accepted(f"{prefix}-{i}")}
                for i in range(start, min(start + 10, count))
            ],
        )


async def make_consumer(stack: Stack, **settings: object) -> Consumer:
    """A consumer on the scripter queue whose client is a `CountingSqs` (see `sqs_of`)."""
    defaults: dict[str, object] = {
        "wait_time_s": 1,
        "visibility_timeout_s": 2,
        "retry_base_s": 1,
        "retry_max_s": 1,
    }
    return Consumer(
        CountingSqs(await stack.aws.sqs()),  # type: ignore[arg-type]
        stack.spec.scripter_queue.name,
        ConsumerSettings(**{**defaults, **settings}),  # type: ignore[arg-type]
    )


def sqs_of(consumer: Consumer) -> CountingSqs:
    assert isinstance(consumer.sqs, CountingSqs)
    return consumer.sqs


async def deleted_and_polled_again(stack: Stack, consumer: Consumer, polls: int = 2) -> None:
    """Wait until the queue holds nothing, neither visible nor in flight (the message was
    deleted, not merely hidden), then until the consumer has finished `polls` more receives,
    so at least one poll began after that: a message handed back would have been received."""
    await eventually(lambda: _is_empty(stack), timeout=10, what="the message to be deleted")
    sqs = sqs_of(consumer)
    seen = sqs.answered["receive_message"]
    await eventually(
        lambda: sqs.answered["receive_message"] >= seen + polls,
        timeout=15,
        interval=0.05,
        what=f"{polls} more polls of the emptied queue",
    )


async def test_handler_running_3x_the_visibility_timeout_is_not_redelivered(stack: Stack) -> None:
    calls: Counter[str] = Counter()
    finished = asyncio.Event()
    consumer = await make_consumer(stack)
    sqs = sqs_of(consumer)
    during: dict[str, int] = {}

    async def slow(event: JobAccepted, _ctx: MessageContext) -> None:
        calls[event.job_id] += 1
        polls, extensions = sqs.answered["receive_message"], sqs.calls["change_message_visibility"]
        await asyncio.sleep(6)  # the simulated slow work: 3x the 2 s visibility timeout
        during["polls"] = sqs.answered["receive_message"] - polls
        during["extensions"] = sqs.calls["change_message_visibility"] - extensions
        finished.set()

    consumer.register(JobAccepted, slow)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("slow-1"))
        await asyncio.wait_for(finished.wait(), timeout=30)
        await deleted_and_polled_again(stack, consumer)
    assert calls == {"slow-1": 1}
    assert consumer.stats.succeeded == 1 and consumer.stats.retried == 0
    # The consumer kept polling while the handler outlived the visibility timeout (1 s polls),
    # and none of those polls brought the message back: the heartbeat kept it hidden.
    assert during["polls"] >= 3, during
    assert during["extensions"] >= 3, during
    assert consumer.stats.received == 1


async def test_a_crashing_handler_is_redelivered_and_then_succeeds(stack: Stack) -> None:
    attempts: list[int] = []

    async def flaky(_event: JobAccepted, ctx: MessageContext) -> None:
        attempts.append(ctx.receive_count)
        if len(attempts) == 1:
            raise RuntimeError("provider hiccup")

    consumer = await make_consumer(stack)
    consumer.register(JobAccepted, flaky)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("flaky-1"))
        await eventually(lambda: len(attempts) == 2, timeout=20, what="a redelivery")
        await eventually(lambda: _is_empty(stack), timeout=10, what="the message to be deleted")
    assert attempts == [1, 2]
    assert (consumer.stats.retried, consumer.stats.succeeded) == (1, 1)


async def test_poison_message_reaches_the_dlq_after_max_receive_count(stack: Stack) -> None:
    poisoned: list[tuple[str, int]] = []

    async def on_poison(reason: str, ctx: MessageContext) -> None:
        poisoned.append((reason, ctx.receive_count))

    consumer = await make_consumer(stack)
    consumer.on_poison = on_poison
    consumer.register(JobAccepted, _never_called)
    queue = stack.spec.scripter_queue
    async with running(consumer):
        await send_raw(stack, queue.name, '{"event_type": "job.accepted", "schema_version": 1')
        dead = await receive_all(stack, queue.dlq_name, wait_s=30, expect=1)
    assert [m["Body"] for m in dead] == ['{"event_type": "job.accepted", "schema_version": 1']
    assert len(poisoned) == queue.max_receive_count
    assert all("not JSON" in reason for reason, _ in poisoned)
    assert await depth(stack, queue.name) == 0


async def test_handler_that_always_fails_gives_up_once_and_lands_in_the_dlq(stack: Stack) -> None:
    failures: list[str] = []

    async def broken(_event: JobAccepted, _ctx: MessageContext) -> None:
        raise ConnectionError("renderer backend unreachable")

    async def on_failure(event: object, ctx: MessageContext, reason: str) -> None:
        failures.append(reason)

    consumer = await make_consumer(stack)
    consumer.on_failure = on_failure
    consumer.register(JobAccepted, broken)
    queue = stack.spec.scripter_queue
    async with running(consumer):
        await send_raw(stack, queue.name, accepted("doomed-1"))
        dead = await receive_all(stack, queue.dlq_name, wait_s=40, expect=1)
    assert len(dead) == 1 and json.loads(dead[0]["Body"])["job_id"] == "doomed-1"
    assert failures == [
        f"gave up after {queue.max_receive_count} attempts: "
        "ConnectionError: renderer backend unreachable"
    ]


async def test_permanent_failure_is_settled_without_retrying(stack: Stack) -> None:
    reasons: list[str] = []
    calls = 0

    async def refuses(_event: JobAccepted, _ctx: MessageContext) -> None:
        nonlocal calls
        calls += 1
        raise PermanentFailure("the model refused: unsafe request")

    async def on_failure(_event: object, _ctx: MessageContext, reason: str) -> None:
        reasons.append(reason)

    consumer = await make_consumer(stack)
    consumer.on_failure = on_failure
    consumer.register(JobAccepted, refuses)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("refused-1"))
        await eventually(lambda: reasons != [], timeout=15, what="the failure hook")
        await deleted_and_polled_again(stack, consumer)
    assert calls == 1 and reasons == ["the model refused: unsafe request"]
    stats = consumer.stats
    assert (stats.received, stats.settled, stats.retried, stats.succeeded) == (1, 1, 0, 0)
    assert await depth(stack, stack.spec.scripter_queue.dlq_name) == 0  # nothing dead-lettered


async def test_many_messages_bounded_concurrency_each_once(stack: Stack) -> None:
    active = peak = 0
    done: Counter[str] = Counter()

    async def handler(event: JobAccepted, _ctx: MessageContext) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.2)
        active -= 1
        done[event.job_id] += 1

    consumer = await make_consumer(stack, max_concurrency=4, visibility_timeout_s=30)
    consumer.register(JobAccepted, handler)
    await send_accepted(stack, "bulk", 30)
    async with running(consumer):
        await eventually(lambda: len(done) == 30, timeout=60, what="30 messages handled")
        await eventually(lambda: _is_empty(stack), timeout=15, what="all deleted")
    assert set(done.values()) == {1}
    assert 2 <= peak <= 4


async def test_receives_and_deletes_are_batched_under_load(stack: Stack) -> None:
    done: Counter[str] = Counter()

    async def handler(event: JobAccepted, _ctx: MessageContext) -> None:
        await asyncio.sleep(0.2)
        done[event.job_id] += 1

    sqs = CountingSqs(await stack.aws.sqs())
    consumer = Consumer(
        sqs,  # type: ignore[arg-type]
        stack.spec.scripter_queue.name,
        ConsumerSettings(max_concurrency=8, wait_time_s=1, visibility_timeout_s=30),
    )
    consumer.register(JobAccepted, handler)
    await send_accepted(stack, "batch", 40)
    async with running(consumer):
        await eventually(lambda: len(done) == 40, timeout=60, what="40 messages handled")
        await eventually(lambda: _is_empty(stack), timeout=15, what="all deleted")
        receives, deletes = sqs.calls["receive_message"], sqs.calls["delete_message_batch"]
    assert set(done.values()) == {1}
    # One receive and one delete per message would be 40 each.
    assert receives <= 20, f"{receives} receives for 40 messages"
    assert deletes <= 10, f"{deletes} delete batches for 40 messages"
    assert sqs.calls["delete_message"] == 0


async def test_unregistered_event_type_is_poison(stack: Stack) -> None:
    consumer = await make_consumer(stack)
    reasons: list[str] = []

    async def on_poison(reason: str, _ctx: MessageContext) -> None:
        reasons.append(reason)

    consumer.on_poison = on_poison
    consumer.register(ScriptReady, _never_called)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("misrouted-1"))
        await eventually(lambda: reasons != [], timeout=15, what="poison hook")
    assert reasons[0] == "no handler for job.accepted v1 on this queue"


@pytest.mark.parametrize("outage_s", [2.0])
async def test_consumer_reconnects_when_the_endpoint_goes_away(
    moto_stack: Stack, outage_s: float
) -> None:
    """Route the consumer through a TCP proxy, cut it, and check work resumes afterwards."""
    from omnigen.shared.adapters.aws import AwsClients
    from omnigen.shared.settings import AwsSettings
    from omnigen.testing.proxy import TcpProxy

    stack = moto_stack
    target = stack.settings.endpoint_for("sqs")
    assert target is not None
    proxy = TcpProxy(target)
    await proxy.start()
    handled: list[str] = []

    async def handler(event: JobAccepted, _ctx: MessageContext) -> None:
        handled.append(event.job_id)

    settings = AwsSettings(
        endpoint_url=proxy.endpoint_url, resource_prefix=stack.settings.resource_prefix
    )
    async with AwsClients(settings) as aws:
        sqs = CountingSqs(await aws.sqs())
        consumer = Consumer(
            sqs,  # type: ignore[arg-type]
            stack.spec.scripter_queue.name,
            ConsumerSettings(wait_time_s=1, visibility_timeout_s=5, reconnect_max_s=1),
        )
        consumer.register(JobAccepted, handler)
        async with running(consumer):
            await send_raw(stack, stack.spec.scripter_queue.name, accepted("before"))
            await eventually(lambda: handled == ["before"], timeout=15, what="first message")
            # and deleted: a delete still pending would fail through the outage, and the
            # message come back when its visibility timeout ran out
            await eventually(lambda: _is_empty(stack), timeout=10, what="first message deleted")
            await proxy.stop()
            await send_raw(stack, stack.spec.scripter_queue.name, accepted("during"))
            await asyncio.sleep(outage_s)  # the outage lasts this long at least ...
            await eventually(  # ... and until the consumer has seen it
                lambda: sqs.failed["receive_message"] >= 1, timeout=30, what="a failed receive"
            )
            await proxy.start()
            await eventually(lambda: "during" in handled, timeout=30, what="work after outage")
    assert handled == ["before", "during"]


async def _is_empty(stack: Stack) -> bool:
    return await depth(stack, stack.spec.scripter_queue.name) == 0


async def _never_called(_event: object, _ctx: MessageContext) -> None:
    raise AssertionError("handler must not run")


async def test_a_keep_alive_that_lost_the_work_stops_the_handler_and_keeps_the_message(
    stack: Stack,
) -> None:
    """Two workers must not do one message's work: when the step's lease was taken over (the
    keep-alive raises WorkLost), the heartbeat cancels the handler; the message is not deleted
    by the loser, so whoever holds the work decides its fate (here: its redelivery succeeds)."""
    attempts: list[int] = []
    cancelled = asyncio.Event()

    async def lost() -> None:
        raise WorkLost("another receive took the step over")

    async def handler(_event: JobAccepted, ctx: MessageContext) -> None:
        attempts.append(ctx.receive_count)
        if len(attempts) == 1:
            ctx.keep_alive.append(lost)
            try:
                await asyncio.sleep(30)  # the simulated long work, stopped by the heartbeat
            except asyncio.CancelledError:
                cancelled.set()
                raise

    consumer = await make_consumer(stack, heartbeat_interval_s=0.3)
    consumer.register(JobAccepted, handler)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("lost-1"))
        await asyncio.wait_for(cancelled.wait(), timeout=15)
        await eventually(lambda: consumer.stats.succeeded == 1, timeout=20, what="redelivery")
    assert consumer.stats.lost == 1 and attempts[:2] == [1, 2]
    assert consumer.stats.retried == 0  # a lost receive is not a failure of the work


async def test_a_stale_receipt_stops_the_handler(stack: Stack) -> None:
    """A receive whose receipt handle no longer holds the message (deleted or received again
    elsewhere) cannot keep it hidden: its heartbeat stops the work instead of logging on."""
    cancelled = asyncio.Event()
    consumer = await make_consumer(stack, heartbeat_interval_s=0.3)

    async def handler(_event: JobAccepted, ctx: MessageContext) -> None:
        sqs = await stack.aws.sqs()
        url = stack.queue_url(stack.spec.scripter_queue.name)
        await sqs.delete_message(QueueUrl=url, ReceiptHandle=ctx.receipt_handle)  # gone
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    consumer.register(JobAccepted, handler)
    async with running(consumer):
        await send_raw(stack, stack.spec.scripter_queue.name, accepted("stale-1"))
        await asyncio.wait_for(cancelled.wait(), timeout=15)
    assert consumer.stats.lost == 1 and consumer.stats.succeeded == 0
