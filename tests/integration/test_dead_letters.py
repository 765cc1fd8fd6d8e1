"""The dead-letter watcher against real queues (moto and host LocalStack): a message SQS gave
up on fails its job with a reason, and nothing is dropped from a DLQ without being reported."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.stages import SCRIPT_GENERATING, JobStatus
from omnigen.shared.runtime.deadletters import DeadLetterWatcher
from omnigen.shared.workflow import fail_job
from omnigen.testing.fakes import RecordingPublisher
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth_at, eventually
from omnigen.testing.samples import accepted_json

REQUEST = JobRequest(prompt="A lighthouse keeper's last night on a stormy island", duration=10)


@contextlib.asynccontextmanager
async def watching(stack: Stack, publisher: RecordingPublisher) -> AsyncIterator[DeadLetterWatcher]:
    queue = stack.spec.scripter_queue
    watcher = DeadLetterWatcher(
        await stack.aws.sqs(),
        queue,
        await stack.repository(),
        publisher,
        work="writing the script",
        wait_time_s=1,
        park_s=30,
    )
    task = asyncio.create_task(watcher.run())
    try:
        yield watcher
    finally:
        watcher.stop()
        await asyncio.wait_for(task, timeout=30)


async def dlq_url(stack: Stack) -> str:
    sqs = await stack.aws.sqs()
    return (await sqs.get_queue_url(QueueName=stack.spec.scripter_queue.dlq_name))["QueueUrl"]


async def letter(stack: Stack, body: str) -> None:
    sqs = await stack.aws.sqs()
    await sqs.send_message(QueueUrl=await dlq_url(stack), MessageBody=body)


async def test_a_job_whose_message_sqs_gave_up_on_fails_with_a_reason(stack: Stack) -> None:
    jobs, publisher = await stack.repository(), RecordingPublisher()
    job = (await jobs.create_job(user_id="u1", request=REQUEST)).job
    await jobs.acquire_lease(job.job_id, "script", "killed-receive", 45, stage=SCRIPT_GENERATING)
    await letter(stack, accepted_json(job.job_id, user_id="u1"))
    async with watching(stack, publisher) as watcher:
        await eventually(lambda: watcher.failed == 1, timeout=20, what="the job failed")
        url = await dlq_url(stack)
        await eventually(lambda: _empty(stack, url), timeout=20, what="the letter deleted")
    failed = await jobs.get_job(job.job_id)
    assert failed.status is JobStatus.FAILED and failed.stage == SCRIPT_GENERATING
    assert failed.error_message is not None
    assert failed.error_message.startswith("writing the script was interrupted 5 times")
    assert f"omnigen retry {job.job_id}" in failed.error_message
    (event,) = publisher.of_type("job.failed")
    assert event.job_id == job.job_id and event.data.error_message == failed.error_message  # type: ignore[attr-defined]


async def test_a_letter_of_a_job_already_failed_is_deleted_and_says_nothing_new(
    stack: Stack,
) -> None:
    jobs, publisher = await stack.repository(), RecordingPublisher()
    job = (await jobs.create_job(user_id="u1", request=REQUEST)).job
    await fail_job(jobs, publisher, job.job_id, "the script model refused: off-topic")
    before = len(publisher.events)
    await letter(stack, accepted_json(job.job_id, user_id="u1"))
    url = await dlq_url(stack)
    async with watching(stack, publisher):
        await eventually(lambda: _empty(stack, url), timeout=20, what="the letter deleted")
    assert (await jobs.get_job(job.job_id)).error_message == "the script model refused: off-topic"
    assert len(publisher.events) == before


async def test_a_letter_that_names_no_job_stays_for_the_operator(stack: Stack) -> None:
    publisher = RecordingPublisher()
    await letter(stack, "not an event at all")
    url = await dlq_url(stack)
    async with watching(stack, publisher) as watcher:
        await eventually(lambda: watcher.kept == 1, timeout=20, what="the letter looked at")
    assert await depth_at(stack, url) == 1
    assert publisher.events == []


async def _empty(stack: Stack, url: str) -> bool:
    return await depth_at(stack, url) == 0
