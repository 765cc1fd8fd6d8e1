"""SIGTERM against a real worker process: stop polling, finish or release, exit 0 in time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, eventually, receive_all, send_raw
from omnigen.testing.samples import accepted_json as accepted


async def start_worker(stack: Stack, markers: Path, drain_s: float) -> asyncio.subprocess.Process:
    settings = stack.settings
    env = {
        **os.environ,
        "OMNIGEN_ENDPOINT_URL": settings.endpoint_url or "",
        "OMNIGEN_DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url or "",
        "OMNIGEN_RESOURCE_PREFIX": settings.resource_prefix,
        "OMNIGEN_TEST_QUEUE": stack.spec.scripter_queue.name,
        "OMNIGEN_TEST_MARKERS": str(markers),
        "OMNIGEN_TEST_DRAIN_S": str(drain_s),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "omnigen.testing.sleepy_worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def lines(markers: Path) -> list[str]:
    return markers.read_text().splitlines() if markers.exists() else []


async def test_sigterm_lets_the_running_handler_finish_and_exits_0(
    stack: Stack, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    queue = stack.spec.scripter_queue.name
    worker = await start_worker(stack, markers, drain_s=20)
    await send_raw(stack, queue, accepted("job-a", duration=30))  # handler sleeps 3 s
    await eventually(lambda: "start job-a" in lines(markers), timeout=30, what="handler start")
    await send_raw(stack, queue, accepted("job-b", duration=30))
    worker.send_signal(signal.SIGTERM)
    began = time.monotonic()
    code = await asyncio.wait_for(worker.wait(), timeout=30)
    took = time.monotonic() - began
    stderr = (await worker.stderr.read()).decode() if worker.stderr else ""
    assert code == 0, stderr
    assert lines(markers) == ["start job-a", "done job-a"]
    assert took < 20
    assert '"event": "consumer_stopped"' in stderr
    # job-a was deleted; job-b was never started and is there for the next worker at once
    left = await receive_all(stack, queue, wait_s=3, expect=1)
    assert [m["Body"] for m in left] == [accepted_body_of(left, "job-b")]
    assert await depth(stack, queue) == 0  # nothing else, visible or in flight


async def test_sigterm_past_the_drain_deadline_releases_the_message(
    stack: Stack, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    queue = stack.spec.scripter_queue.name
    worker = await start_worker(stack, markers, drain_s=1)
    await send_raw(stack, queue, accepted("job-long", duration=600))  # would sleep 60 s
    await eventually(lambda: "start job-long" in lines(markers), timeout=30, what="handler start")
    worker.send_signal(signal.SIGTERM)
    began = time.monotonic()
    assert await asyncio.wait_for(worker.wait(), timeout=20) == 0
    assert time.monotonic() - began < 10
    assert lines(markers) == ["start job-long"]
    # released: visible again at once (its 4 s visibility timeout has not run out yet)
    sqs = await stack.aws.sqs()
    response = await sqs.receive_message(
        QueueUrl=stack.queue_url(queue), WaitTimeSeconds=1, MaxNumberOfMessages=1
    )
    assert len(response.get("Messages", [])) == 1


def accepted_body_of(messages: list[dict[str, str]], job_id: str) -> str:
    for message in messages:
        if f'"job_id":"{job_id}"' in message["Body"]:
            return message["Body"]
    raise AssertionError(f"{job_id} not among {len(messages)} messages")
