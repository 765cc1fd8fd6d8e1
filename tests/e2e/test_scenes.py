"""Scenes as units of work, against the real service processes on moto: every renderer message
delivered twice (scene requests finishing together), and kill -9 of the clip worker mid-scene.
Each ends with one clip per scene, one "ready to compose", one video and one job.completed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from omnigen.testing.e2e import (
    api,
    log_events,
    running_pipeline,
    submit,
    wait_for_end,
    wait_for_stage,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import all_empty, depth, eventually, received_events


@contextlib.asynccontextmanager
async def renderer_messages_twice(stack: Stack) -> AsyncIterator[Counter[str]]:
    """Every message of the renderer and scenes queues delivered twice: a tap queue per
    subscription, copied into the worker queue. Yields the copies made per event type."""
    sqs, sns = await stack.aws.sqs(), await stack.aws.sns()
    topic = stack.applied.topic_arns[stack.spec.events_topic.name]
    copied: Counter[str] = Counter()
    taps: list[tuple[str, str]] = []
    for subscription in stack.spec.subscriptions:
        if subscription.queue not in (stack.spec.renderer_queue.name, stack.spec.scenes_queue.name):
            continue
        tap_url = (await sqs.create_queue(QueueName=f"{subscription.queue}-tap"))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])
        await sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=attributes["Attributes"]["QueueArn"],
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicy": json.dumps(subscription.filter_policy),
            },
        )
        taps.append((tap_url, stack.queue_url(subscription.queue)))

    async def copy_forever() -> None:
        while True:
            for tap_url, target in taps:
                response = await sqs.receive_message(QueueUrl=tap_url, WaitTimeSeconds=0)
                for message in response.get("Messages", []):
                    await sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
                    await sqs.delete_message(
                        QueueUrl=tap_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    copied[json.loads(message["Body"])["event_type"]] += 1
            await asyncio.sleep(0.2)

    task = asyncio.create_task(copy_forever())
    try:
        yield copied
        await eventually(
            lambda: all_empty(stack, *(url for pair in taps for url in pair)),
            timeout=60,
            what="the copies consumed",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_duplicated_scene_requests_finishing_together_make_one_of_everything(
    moto_stack: Stack, tmp_path: Path
) -> None:
    stack = moto_stack
    env = {"OMNIGEN_WORKER_CONCURRENCY": "4"}  # scenes and their copies side by side
    async with (
        renderer_messages_twice(stack) as copied,
        running_pipeline(stack, tmp_path, env=env) as pipeline,
        api(pipeline) as client,
    ):
        job_id = await submit(client, duration=12, continuity="none")
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        await eventually(lambda: copied["compose.requested"] >= 1, timeout=15, what="copies")
    total = job["render"]["scenes_total"]
    assert copied["scene.requested"] >= total and copied["audio.requested"] >= 1
    assert job["render"]["scenes_complete"] == total
    assert {s["state"] for s in job["render"]["scenes"]} == {"complete"}
    rendered = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    assert rendered == Counter(range(1, total + 1))  # one clip per scene
    readies = [r for r in log_events(pipeline, "renderer", "piece_recorded") if r["ready"]]
    assert len(readies) == 1  # one "ready to compose"
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1
    outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
    assert [(e.event_type.value, e.job_id) for e in outcomes] == [("job.completed", job_id)]
    assert await depth(stack, stack.spec.outcomes_queue.name) == 0  # and no second one


async def test_kill_9_of_the_clip_worker_mid_scene_renders_only_that_scene_again(
    moto_stack: Stack, tmp_path: Path
) -> None:
    env = {
        "OMNIGEN_RENDER_SCALE": "0.5",  # slow enough to be killed mid-scene
        "OMNIGEN_WORKER_VISIBILITY_TIMEOUT_S": "6",
        "OMNIGEN_WORKER_CONCURRENCY": "1",  # one scene in flight at the kill
    }
    async with running_pipeline(moto_stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=20, continuity="none")

        def mid_scene(job: dict) -> bool:
            render = job.get("render") or {}
            states = [s["state"] for s in render.get("scenes", [])]
            return "complete" in states and "generating" in states

        seen = await wait_for_stage(client, job_id, mid_scene, timeout=180)
        await asyncio.to_thread(pipeline.kill, "renderer")
        killed = next(
            s["scene_number"] for s in seen["render"]["scenes"] if s["state"] == "generating"
        )
        before = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
        await asyncio.to_thread(pipeline.start_service, "renderer")
        await asyncio.to_thread(pipeline.wait_ready)
        job = await wait_for_end(client, job_id)
    assert job["status"] == "completed", job.get("error_message")
    total = job["render"]["scenes_total"]
    after = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    again = after - before
    # Every scene finished before the kill stays; the killed one (and what never started) runs
    # once more; a scene whose clip was recorded just before the kill counts as finished.
    assert set(before) | set(again) == set(range(1, total + 1))
    assert all(n not in again for n in before if n != killed), (before, again, killed)
    assert max(after.values()) <= 2 and all(after[n] == 1 for n in after if n != killed)
    assert job["render"]["scenes"][killed - 1]["attempts"] >= 2
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1
