"""Chaos against the real service processes on moto: duplicates, kill -9, poison messages,
SIGTERM mid-render and a provider outage. Each ends with the jobs in a truthful final state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from omnigen.cli.localaws.ports import free_port
from omnigen.shared.domain.events import ScriptReady, ScriptReadyData
from omnigen.shared.domain.jobs import JobRequest
from omnigen.testing.e2e import (
    api,
    log_events,
    running_pipeline,
    submit,
    wait_for_end,
    wait_for_stage,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import (
    all_empty,
    depth,
    eventually,
    receive_all,
    received_events,
    send_raw,
)
from omnigen.testing.samples import accepted_json

SLOW_RENDER = {"OMNIGEN_RENDER_SCALE": "0.5"}


@dataclass
class Duplicates:
    copied: Counter[str] = field(default_factory=Counter)  # copies made, per event type
    urls: list[str] = field(default_factory=list)  # the tap queues and the worker queues

    async def all_consumed(self, stack: Stack) -> bool:
        """Nothing left to copy, and every original and copy received and deleted."""
        return await all_empty(stack, *self.urls)


@contextlib.asynccontextmanager
async def duplicating(stack: Stack) -> AsyncIterator[Duplicates]:
    """Deliver every event twice: a tap queue per worker queue, copied into the worker queue."""
    sqs, sns = await stack.aws.sqs(), await stack.aws.sns()
    topic = stack.applied.topic_arns[stack.spec.events_topic.name]
    duplicates = Duplicates()
    copied = duplicates.copied
    taps: list[tuple[str, str]] = []
    for subscription in stack.spec.subscriptions:
        if subscription.queue not in (
            stack.spec.scripter_queue.name,
            stack.spec.renderer_queue.name,
        ):
            continue
        tap_url = (await sqs.create_queue(QueueName=f"{subscription.queue}-tap"))["QueueUrl"]
        tap_arn = (await sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        await sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=tap_arn,
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicy": json.dumps(subscription.filter_policy),
            },
        )
        taps.append((tap_url, stack.queue_url(subscription.queue)))
        duplicates.urls += [tap_url, stack.queue_url(subscription.queue)]

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
        yield duplicates
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_every_message_delivered_twice_makes_one_video(
    moto_stack: Stack, tmp_path: Path
) -> None:
    stack = moto_stack
    async with (
        duplicating(stack) as duplicates,
        running_pipeline(stack, tmp_path) as pipeline,
        api(pipeline) as client,
    ):
        copied = duplicates.copied
        job_id = await submit(client, duration=12)
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        await eventually(lambda: copied["script.ready"] >= 1, timeout=15, what="a duplicate")
        await eventually(
            lambda: duplicates.all_consumed(stack), timeout=60, what="the duplicates consumed"
        )
    assert copied["job.accepted"] >= 1 and copied["script.ready"] >= 1
    # Each worker received its event and the copy, and neither went back to the queue.
    queues = {
        "scripter": stack.spec.scripter_queue.name,
        "renderer": stack.spec.renderer_queue.name,
    }
    for service, copies in (("scripter", "job.accepted"), ("renderer", "script.ready")):
        stopped = log_events(pipeline, service, "consumer_stopped")
        (stats,) = [s for s in stopped if s["queue"] == queues[service]]  # the renderer has two
        assert stats["received"] >= 1 + copied[copies], (service, stats)
        assert stats["succeeded"] + stats["settled"] >= 1 + copied[copies], (service, stats)
    assert len(log_events(pipeline, "scripter", "script_embedded")) == 1
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1
    rendered = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    assert rendered and set(rendered.values()) == {1}
    outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
    assert [(e.event_type.value, e.job_id) for e in outcomes] == [("job.completed", job_id)]
    assert await depth(stack, stack.spec.outcomes_queue.name) == 0  # and no second one


async def test_kill_9_mid_render_then_restart_reuses_finished_scenes(
    moto_stack: Stack, tmp_path: Path
) -> None:
    env = {**SLOW_RENDER, "OMNIGEN_WORKER_VISIBILITY_TIMEOUT_S": "6"}
    async with running_pipeline(moto_stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=20)
        # scene 1 done, scene 2 under way (scene_N_complete counts finished scenes)
        await wait_for_stage(client, job_id, lambda j: j["stage"] == "scene_1_complete", 120, 0.5)
        await asyncio.to_thread(pipeline.kill, "renderer")
        before = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
        assert before[1] == 1
        await asyncio.to_thread(pipeline.start_service, "renderer")
        await asyncio.to_thread(pipeline.wait_ready)
        job = await wait_for_end(client, job_id)
    assert job["status"] == "completed", job.get("error_message")
    after = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    # nothing finished before the kill was rendered again (each scene is its own message)
    assert set(after.values()) == {1} and len(after) == len(job["scenes"])


async def test_poison_in_every_queue_fails_its_job_and_others_keep_flowing(
    moto_stack: Stack, tmp_path: Path
) -> None:
    stack = moto_stack
    spec = stack.spec
    repo = await stack.repository()
    request = JobRequest(prompt="A job whose event arrives broken", duration=10)
    victim_a = (await repo.create_job(user_id="e2e-user", request=request)).job
    victim_b = (await repo.create_job(user_id="e2e-user", request=request)).job
    bad_ready = json.loads(
        ScriptReady.create(
            job_id=victim_b.job_id,
            user_id="e2e-user",
            data=ScriptReadyData(title="t", scene_count=1),
        ).to_json()
    )
    bad_ready["schema_version"] = 99
    async with running_pipeline(stack, tmp_path) as pipeline, api(pipeline) as client:
        await send_raw(stack, spec.ingest_queue.name, "not json at all")
        broken_accepted = json.loads(accepted_json(victim_a.job_id))
        broken_accepted["data"]["duration"] = "a long time"
        await send_raw(stack, spec.scripter_queue.name, json.dumps(broken_accepted))
        await send_raw(stack, spec.renderer_queue.name, json.dumps(bad_ready))
        healthy = await submit(client, duration=10)
        job = await wait_for_end(client, healthy)
        assert job["status"] == "completed", job.get("error_message")
        # ingest keeps its dead letter (it names no job); each worker's dead-letter watcher
        # records the letter its poison became (the job is failed already) and removes it
        dead = await receive_all(stack, spec.ingest_queue.dlq_name, wait_s=60, expect=1)
        assert len(dead) == 1, f"{spec.ingest_queue.dlq_name} holds {len(dead)} messages"
        for worker in ("scripter", "renderer"):

            def recorded(service: str = worker) -> bool:
                return bool(log_events(pipeline, service, "dead_letter_recorded"))

            await eventually(recorded, timeout=60, what=f"{worker}'s watcher to record it")
        for queue in (spec.scripter_queue, spec.renderer_queue):
            assert await depth(stack, queue.dlq_name) == 0
        a = (await client.get(f"/v1/jobs/{victim_a.job_id}")).json()
        b = (await client.get(f"/v1/jobs/{victim_b.job_id}")).json()
    assert a["status"] == "failed" and a["error_message"].startswith("malformed event:")
    assert "data.duration" in a["error_message"]
    assert b["status"] == "failed" and "version 99 is not supported" in b["error_message"]


async def test_sigterm_during_a_render_exits_cleanly_and_the_job_completes(
    moto_stack: Stack, tmp_path: Path
) -> None:
    async with (
        running_pipeline(moto_stack, tmp_path, env=SLOW_RENDER) as pipeline,
        api(pipeline) as client,
    ):
        job_id = await submit(client, duration=15)
        await wait_for_stage(client, job_id, lambda j: j["stage"].startswith("scene_2_"))
        began = time.monotonic()
        code = await asyncio.to_thread(pipeline.stop_service, "renderer", 120.0)
        took = time.monotonic() - began
        assert code == 0 and took < 120
        drained = (await client.get(f"/v1/jobs/{job_id}")).json()
        if drained["status"] != "completed":  # released for the next worker
            await asyncio.to_thread(pipeline.start_service, "renderer")
            await asyncio.to_thread(pipeline.wait_ready)
        job = await wait_for_end(client, job_id)
    assert job["status"] == "completed", job.get("error_message")
    assert log_events(pipeline, "renderer", "consumer_stopped")


async def test_provider_outage_fails_the_job_with_a_clear_error(
    moto_stack: Stack, tmp_path: Path
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    renderer_env = {
        "OMNIGEN_CLIP_PROVIDER": "replicate",
        "OMNIGEN_REPLICATE_API_TOKEN": "r8_placeholder_token_for_tests",
        "OMNIGEN_REPLICATE_BASE_URL": unreachable,
        "OMNIGEN_PROVIDER_RETRY_BUDGET_S": "0.5",
        "OMNIGEN_PROVIDER_RETRY_BASE_DELAY_S": "0.1",
        "OMNIGEN_WORKER_RETRY_BASE_S": "1",
        "OMNIGEN_WORKER_RETRY_MAX_S": "1",
    }
    async with (
        running_pipeline(moto_stack, tmp_path, service_env={"renderer": renderer_env}) as pipeline,
        api(pipeline) as client,
    ):
        job_id = await submit(client, duration=10)
        job = await wait_for_end(client, job_id, timeout=180)
        processing = (await client.get("/v1/jobs", params={"status": "processing"})).json()
    assert job["status"] == "failed"
    assert job["stage"] == "scene_1_generating"
    assert "replicate" in job["error_message"].lower()
    assert "r8_placeholder" not in job["error_message"]
    assert processing["jobs"] == []
    assert "r8_placeholder_token_for_tests" not in pipeline.log_path("renderer").read_text()


async def test_a_renderer_killed_on_every_receive_fails_the_job_with_a_reason(
    moto_stack: Stack, tmp_path: Path
) -> None:
    """SQS gives up on the message by itself (no handler ever failed): the restarted
    renderer's dead-letter watcher fails the job, which never stays `processing`."""
    stack = moto_stack
    attempts = stack.spec.scenes_queue.max_receive_count  # scene 1's request is interrupted
    env = {**SLOW_RENDER, "OMNIGEN_WORKER_VISIBILITY_TIMEOUT_S": "3"}
    repo = await stack.repository()
    async with running_pipeline(stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=20)
        holders: list[str] = []
        for _ in range(attempts):

            async def claimed_by_a_new_receive() -> bool:
                lease = (await repo.get_job(job_id)).leases.get("scene_1") or {}
                return bool(lease) and lease["holder"] not in holders

            await eventually(claimed_by_a_new_receive, timeout=60, what="the render claimed")
            holders.append((await repo.get_job(job_id)).leases["scene_1"]["holder"])
            await asyncio.to_thread(pipeline.kill, "renderer")
            await asyncio.to_thread(pipeline.start_service, "renderer")
            await asyncio.to_thread(pipeline.wait_ready)
        job = await wait_for_end(client, job_id)
        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
    assert len(holders) == attempts
    assert job["status"] == "failed"
    # every kill also interrupts what runs beside scene 1 (the audio, or the plan whose delete
    # was not sent yet): whichever letter comes first fails the job
    interrupted = ("rendering scene 1", "rendering the audio", "planning the render")
    assert job["error_message"].startswith(
        tuple(f"{w} was interrupted 4 times" for w in interrupted)
    )
    # both letters' watchers may announce the failure at the same instant: one event (its id)
    assert {(e.event_type.value, e.job_id, e.event_id) for e in outcomes} == {
        ("job.failed", job_id, outcomes[0].event_id)
    }
    for queue in (stack.spec.scenes_queue, stack.spec.renderer_queue):
        assert await depth(stack, queue.dlq_name) == 0  # recorded, then removed
    assert log_events(pipeline, "renderer", "dead_letter_recorded")


async def test_the_same_message_received_twice_while_the_first_worker_lives_makes_one_video(
    moto_stack: Stack, tmp_path: Path
) -> None:
    """Renderer A stalls (SIGSTOP) past its visibility while it renders; the message goes to
    renderer B, which takes the step over once A's lease lapsed. A, resumed, learns at its next
    heartbeat that the work is B's and stops: one completion, one job.completed, and the
    completed video's files are not written again."""
    stack = moto_stack
    env = {**SLOW_RENDER, "OMNIGEN_WORKER_VISIBILITY_TIMEOUT_S": "3"}
    repo, assets = await stack.repository(), await stack.assets()
    async with running_pipeline(stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=20)
        await wait_for_stage(client, job_id, lambda j: j["stage"].startswith("scene_1_"))

        async def scene_1_claimed() -> bool:  # the step renderer A holds: scene 1's clip
            return "scene_1" in (await repo.get_job(job_id)).leases

        await eventually(scene_1_claimed, timeout=60, what="scene 1 claimed")
        first = (await repo.get_job(job_id)).leases["scene_1"]["holder"]
        stalled = pipeline.pid("renderer")
        os.killpg(stalled, signal.SIGSTOP)
        second_log = tmp_path / "renderer-b.log"
        with second_log.open("ab") as log_file:
            second = subprocess.Popen(  # renderer B, beside the frozen A
                [str(Path(sys.executable).parent / "omnigen-renderer")],
                env=pipeline.environment("renderer"),
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            async def taken_over() -> bool:
                return (await repo.get_job(job_id)).leases["scene_1"]["holder"] != first

            await eventually(taken_over, timeout=60, what="renderer B to take the step over")
            os.killpg(stalled, signal.SIGCONT)
            job = await wait_for_end(client, job_id)
            assert job["status"] == "completed", job.get("error_message")
            completed = await repo.get_job(job_id)
            assert completed.video_key is not None
            video = await _object_bytes(assets, completed.video_key)

            def a_stopped() -> bool:
                return bool(log_events(pipeline, "renderer", "work_stopped")) or bool(
                    log_events(pipeline, "renderer", "job_stopped")
                )

            await eventually(a_stopped, timeout=60, what="renderer A to stop its work")
            outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
            assert [(e.event_type.value, e.job_id) for e in outcomes] == [("job.completed", job_id)]
            assert await depth(stack, stack.spec.outcomes_queue.name) == 0
            assert await _object_bytes(assets, completed.video_key) == video  # never rewritten
            assert (await repo.get_job(job_id)).video_key == completed.video_key
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            await asyncio.to_thread(second.wait, 60)


async def _object_bytes(assets: object, key: str) -> bytes:
    path = Path(tempfile.mkdtemp()) / "object"
    await assets.get_file(key, path)  # type: ignore[attr-defined]
    return path.read_bytes()


async def test_sigterm_with_a_short_drain_hands_the_render_back_and_it_resumes(
    moto_stack: Stack, tmp_path: Path
) -> None:
    """A drain shorter than the render: the renderer hands its message back at once and exits
    0; the next renderer takes the step over and reuses every scene finished before."""
    env = {**SLOW_RENDER, "OMNIGEN_WORKER_DRAIN_TIMEOUT_S": "0.5"}
    async with running_pipeline(moto_stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=20)
        await wait_for_stage(client, job_id, lambda j: j["stage"].startswith("scene_2_"))
        began = time.monotonic()
        code = await asyncio.to_thread(pipeline.stop_service, "renderer", 60.0)
        took = time.monotonic() - began
        assert code == 0 and took < 30
        handed_back = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert handed_back["status"] == "processing"
        before = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
        await asyncio.to_thread(pipeline.start_service, "renderer")
        await asyncio.to_thread(pipeline.wait_ready)
        job = await wait_for_end(client, job_id)
    assert job["status"] == "completed", job.get("error_message")
    stopped = log_events(pipeline, "renderer", "consumer_stopped")
    scenes_queue = moto_stack.spec.scenes_queue.name  # the scene in progress went back
    stopped = [s for s in stopped if s["queue"] == scenes_queue]
    assert stopped and stopped[0]["released"] == 1  # the message went back, not waited out
    after = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    assert all(after[n] == 1 for n in before)  # finished scenes are never rendered again
