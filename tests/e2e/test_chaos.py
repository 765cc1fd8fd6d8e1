"""Chaos against the real service processes: duplicates, kill -9 of each worker at each stage,
poison messages, dead letters and their redrive on every queue, SIGTERM mid-render, a provider
outage and a provider throttled for a minute. Where the backend matters (SQS delivery,
visibility, DLQs, redrive) a case runs on moto and on LocalStack (`stack`); the rest on moto.
Every case ends with the one invariant of issue 16 (`assert_every_job_ended_once`)."""

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

import pytest

from omnigen.cli.localaws.ports import free_port
from omnigen.scripter.planner import plan_script
from omnigen.shared.domain.events import (
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import JobRequest
from omnigen.testing.e2e import (
    api,
    log_events,
    running_pipeline,
    submit,
    wait_for_end,
    wait_for_stage,
)
from omnigen.testing.fake_openai import FakeOpenAI, Reply
from omnigen.testing.fixtures import Stack
from omnigen.testing.invariant import assert_every_job_ended_once
from omnigen.testing.queues import (
    all_empty,
    depth,
    eventually,
    receive_all,
    send_raw,
)
from omnigen.testing.samples import accepted_json

SLOW_RENDER = {"OMNIGEN_RENDER_SCALE": "0.5"}
PROMPT = "A lighthouse keeper's last night on a stormy island"
REPLICATE_TOKEN = "r8_placeholder_token_for_tests"


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


async def test_every_message_delivered_twice_makes_one_video(stack: Stack, tmp_path: Path) -> None:
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
        ended = await assert_every_job_ended_once(stack, [job_id])
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
    assert [kind for kind, _ in ended.outcomes_of(job_id)] == ["job.completed"]  # no second one


async def test_kill_9_of_the_renderer_mid_scene_then_restart_completes_the_job_once(
    stack: Stack, tmp_path: Path
) -> None:
    await _kill_at_stage_then_restart(stack, tmp_path, "renderer", "scene_1_complete")


@pytest.mark.parametrize(
    ("worker", "stage"),
    [
        pytest.param("scripter", "script_generating", id="scripter-writing"),
        pytest.param("renderer", "composing", id="renderer-composing"),
    ],
)
async def test_kill_9_of_a_worker_at_another_stage_then_restart_completes_the_job_once(
    moto_stack: Stack, tmp_path: Path, worker: str, stage: str
) -> None:
    """The same recovery at the other stages: SQS behaves as in the case above, so moto."""
    await _kill_at_stage_then_restart(moto_stack, tmp_path, worker, stage)


async def _kill_at_stage_then_restart(
    stack: Stack, tmp_path: Path, worker: str, stage: str
) -> None:
    """The worker dies with the step in hand (its lease held, its message invisible); the
    restarted worker takes the redelivery over once the dead receive's lease lapsed, reuses
    what was finished, and the job completes exactly once. The scripter is held in its model
    call (a fake OpenAI server that answers its first request never) so the kill lands while
    it writes."""
    duration = 20
    env = {
        **SLOW_RENDER,
        "OMNIGEN_WORKER_VISIBILITY_TIMEOUT_S": "6",
        "OMNIGEN_RATE_LIMIT_PER_MINUTE": "100000",  # the stage is watched closely
        "OMNIGEN_RATE_LIMIT_BURST": "10000",
    }
    with FakeOpenAI() as model:
        if worker == "scripter":
            model.reply(Reply.hanging())  # the first attempt is killed while it waits for this
        request = JobRequest(prompt=PROMPT, duration=duration)
        model.reply_always(Reply.json_answer(plan_script(request).model_dump(mode="json")))
        scripter_env = {
            "OMNIGEN_SCRIPT_WRITER": "openai",
            "OMNIGEN_OPENAI_API_KEY": "sk-placeholder-for-tests",
            "OMNIGEN_OPENAI_BASE_URL": model.base_url,
        }
        async with (
            running_pipeline(
                stack, tmp_path, env=env, service_env={"scripter": scripter_env}
            ) as pipeline,
            api(pipeline) as client,
        ):
            job_id = await submit(client, prompt=PROMPT, duration=duration)
            if worker == "scripter":
                await eventually(lambda: len(model.requests) == 1, what="the model call")
            at = await wait_for_stage(
                client,
                job_id,
                lambda j: j["stage"] == stage or j["status"] in ("completed", "failed"),
                interval=0.05,
            )
            assert (at["status"], at["stage"]) == ("processing", stage), at
            await asyncio.to_thread(pipeline.kill, worker)
            before = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
            await asyncio.to_thread(pipeline.start_service, worker)
            await asyncio.to_thread(pipeline.wait_ready)
            ended = await assert_every_job_ended_once(stack, [job_id], timeout=180)
    job = ended.jobs[job_id]
    assert job.status.value == "completed", job.error_message
    assert len(log_events(pipeline, "scripter", "script_embedded")) == 1
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1
    if worker == "scripter":
        assert len(model.requests) == 2  # the killed call, then the redelivery's
        assert not before
    else:  # each scene is its own message: nothing finished before the kill runs again
        assert before
    after = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    assert set(after.values()) == {1} and len(after) == len(job.scenes or [])


async def test_poison_in_every_queue_fails_its_job_and_others_keep_flowing(
    stack: Stack, tmp_path: Path
) -> None:
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
        await assert_every_job_ended_once(stack, [victim_a.job_id, victim_b.job_id, healthy])
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
        await assert_every_job_ended_once(moto_stack, [job_id])
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
        await assert_every_job_ended_once(moto_stack, [job_id])
    assert job["status"] == "failed"
    assert job["stage"] == "scene_1_generating"
    assert "replicate" in job["error_message"].lower()
    assert "r8_placeholder" not in job["error_message"]
    assert processing["jobs"] == []
    assert "r8_placeholder_token_for_tests" not in pipeline.log_path("renderer").read_text()


async def test_a_renderer_killed_on_every_receive_fails_the_job_with_a_reason(
    stack: Stack, tmp_path: Path
) -> None:
    """SQS gives up on the message by itself (no handler ever failed): the restarted
    renderer's dead-letter watcher fails the job, which never stays `processing`."""
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
        ended = await assert_every_job_ended_once(stack, [job_id])  # its DLQ left empty
    assert len(holders) == attempts
    assert job["status"] == "failed"
    # every kill also interrupts what runs beside scene 1 (the audio, or the plan whose delete
    # was not sent yet): whichever letter comes first fails the job
    interrupted = ("rendering scene 1", "rendering the audio", "planning the render")
    assert job["error_message"].startswith(
        tuple(f"{w} was interrupted {attempts} times" for w in interrupted)
    )
    # both letters' watchers may announce the failure at the same instant: one event id
    assert {kind for kind, _ in ended.outcomes_of(job_id)} == {"job.failed"}
    assert log_events(pipeline, "renderer", "dead_letter_recorded")


async def test_the_same_message_received_twice_while_the_first_worker_lives_makes_one_video(
    stack: Stack, tmp_path: Path
) -> None:
    """Renderer A stalls (SIGSTOP) past its visibility while it renders; the message goes to
    renderer B, which takes the step over once A's lease lapsed. A, resumed, learns at its next
    heartbeat that the work is B's and stops: one completion, one job.completed, and the
    completed video's files are not written again."""
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
            ended = await assert_every_job_ended_once(stack, [job_id])
            assert [kind for kind, _ in ended.outcomes_of(job_id)] == ["job.completed"]
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
    stack: Stack, tmp_path: Path
) -> None:
    """A drain shorter than the render: the renderer hands its message back at once and exits
    0; the next renderer takes the step over and reuses every scene finished before."""
    env = {**SLOW_RENDER, "OMNIGEN_WORKER_DRAIN_TIMEOUT_S": "0.5"}
    async with running_pipeline(stack, tmp_path, env=env) as pipeline, api(pipeline) as client:
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
        await assert_every_job_ended_once(stack, [job_id])
    assert job["status"] == "completed", job.get("error_message")
    stopped = log_events(pipeline, "renderer", "consumer_stopped")
    scenes_queue = stack.spec.scenes_queue.name  # the scene in progress went back
    stopped = [s for s in stopped if s["queue"] == scenes_queue]
    assert stopped and stopped[0]["released"] == 1  # the message went back, not waited out
    after = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
    assert all(after[n] == 1 for n in before)  # finished scenes are never rendered again
