"""The `omnigen-ingest` process: HTTP API, upstream consumer and outbox sweeper together;
SIGTERM ends them all, open event streams included, and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from omnigen.cli.localaws.ports import free_port
from omnigen.shared.adapters.dynamodb import job_id_for_key
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.events import EventType, JobRequested, JobRequestedData
from omnigen.shared.domain.jobs import JobRequest
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import eventually

from .helpers import HS_SECRET, PROMPT, drain_events, hs_token, job_body

WAIT_TIME_S = 1  # the consumer's long poll


def entrypoint() -> list[str]:
    """The console script the package installs, beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name("omnigen-ingest")
    found = str(beside) if beside.exists() else shutil.which("omnigen-ingest")
    return [found] if found else [sys.executable, "-m", "omnigen.ingest.main"]


def process_env(stack: Stack, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "OMNIGEN_ENDPOINT_URL": stack.settings.endpoint_url or "",
        "OMNIGEN_RESOURCE_PREFIX": stack.settings.resource_prefix,
        "OMNIGEN_AUTH_HS256_SECRET": HS_SECRET,
        "OMNIGEN_PORT": str(port),
        "OMNIGEN_WORKER_WAIT_TIME_S": str(WAIT_TIME_S),
        "OMNIGEN_SSE_POLL_INTERVAL_S": "0.2",
        **extra,
    }


@pytest.fixture
async def ingest_process(stack_now: Stack) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *entrypoint(),
        env=process_env(stack_now, port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(healthy, timeout=30, interval=0.2, what="ingest to answer /healthz")
        yield process, url
    finally:
        # A process that exited by itself awaited its consumer's last long poll first (the test
        # checks for its `consumer_stopped` line). Only one killed here, the test having failed
        # already, can leave a poll open on the server that would hide the next test's message.
        if process.returncode is None:
            process.kill()
            await process.wait()
            await asyncio.sleep(WAIT_TIME_S + 0.2)


async def test_sigterm_stops_the_api_and_the_consumer_and_exits_0(
    stack_now: Stack, ingest_process: tuple[asyncio.subprocess.Process, str]
) -> None:
    process, url = ingest_process
    headers = {"Authorization": f"Bearer {hs_token('process-user')}"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        submitted = await client.post("/v1/jobs", json=job_body(), headers=headers)
        assert submitted.status_code == 202, submitted.text
        assert (await client.get("/readyz")).status_code == 200

        upstream = JobRequested.create(
            job_id=None,
            user_id="process-user",
            data=JobRequestedData(request_id="up-1", request={"prompt": PROMPT, "duration": 12}),
        )
        await (await stack_now.requests_publisher()).publish(upstream)
        repository = await stack_now.repository()

        async def upstream_job_exists() -> bool:
            try:
                await repository.get_job(job_id_for_key("process-user", "up-1"))
            except JobNotFound:
                return False
            return True

        await eventually(upstream_job_exists, timeout=20, what="the consumer to create the job")

        lines: list[str] = []

        async def stream() -> None:
            path = f"/v1/jobs/{submitted.json()['job_id']}/events"
            async with client.stream("GET", path, headers=headers) as response:
                async for line in response.aiter_lines():
                    lines.append(line)

        reader = asyncio.create_task(stream())
        await eventually(lambda: "event: update" in lines, timeout=10, what="the stream")

        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = await asyncio.wait_for(process.wait(), timeout=30)
        took = time.monotonic() - began
        await asyncio.wait_for(reader, timeout=5)

    stderr = (await process.stderr.read()).decode() if process.stderr else ""
    assert code == 0, stderr[-3000:]
    assert took < 10, took
    assert "event: reconnect" in lines
    for event in ("shutdown_requested", "consumer_stopped", "ingest_stopped"):
        assert f'"event": "{event}"' in stderr, event
    assert HS_SECRET not in stderr


async def test_without_auth_settings_the_process_refuses_to_start(stack_now: Stack) -> None:
    env = process_env(stack_now, free_port())
    del env["OMNIGEN_AUTH_HS256_SECRET"]
    process = await asyncio.create_subprocess_exec(
        *entrypoint(), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "OMNIGEN_AUTH_HS256_SECRET" in stderr.decode()


async def test_the_process_announces_a_job_its_creator_never_announced(moto_stack: Stack) -> None:
    """A job left owing `job.accepted` (its creator was killed before publishing) is announced
    by the sweeper every ingest process runs (`OMNIGEN_OUTBOX_SWEEP_*`)."""
    repository = await moto_stack.repository()
    request = JobRequest(prompt=PROMPT, duration=12)
    job = (await repository.create_job(user_id="orphan", request=request)).job
    env = process_env(
        moto_stack,
        free_port(),
        OMNIGEN_OUTBOX_SWEEP_INTERVAL_S="0.2",
        OMNIGEN_OUTBOX_SWEEP_AGE_S="0",
    )
    process = await asyncio.create_subprocess_exec(
        *entrypoint(), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:

        async def announced() -> bool:
            published = (await repository.get_job(job.job_id)).published
            return EventType.JOB_ACCEPTED.value in published

        await eventually(announced, timeout=30, interval=0.2, what="the sweeper to announce")
        events = await drain_events(moto_stack, moto_stack.spec.scripter_queue.name, expect=1)
        assert [(e.job_id, e.event_type) for e in events] == [(job.job_id, EventType.JOB_ACCEPTED)]
        assert (await repository.get_job(job.job_id)).outbox is None
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode() if process.stderr else ""
    assert code == 0, stderr[-3000:]
    for event in ("outbox_announced", "outbox_sweeper_stopped", "ingest_stopped"):
        assert f'"event": "{event}"' in stderr, event
