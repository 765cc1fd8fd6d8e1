"""End-to-end helpers: the three services as real processes on a bootstrapped stack, driven
through the HTTP API like a client would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from omnigen.cli.localaws.pipeline import LocalPipeline
from omnigen.testing.fixtures import Stack

FAST_ENV = {
    "OMNIGEN_RENDER_SCALE": "0.25",  # 480x270 for 16:9: same pipeline, less CPU
    "OMNIGEN_WORKER_WAIT_TIME_S": "1",
    "OMNIGEN_LOG_LEVEL": "INFO",
}


@asynccontextmanager
async def running_pipeline(
    stack: Stack,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
) -> AsyncIterator[LocalPipeline]:
    pipeline = LocalPipeline(
        stack.settings, workdir, env={**FAST_ENV, **(env or {})}, service_env=service_env
    )
    await asyncio.to_thread(pipeline.start)
    try:
        yield pipeline
    finally:
        codes = await asyncio.to_thread(pipeline.stop)
        assert all(code == 0 for code in codes.values()), f"unclean exits: {codes}"


def api(pipeline: LocalPipeline, user: str = "e2e-user") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=pipeline.api_url,
        headers={"Authorization": f"Bearer {pipeline.mint_token(user)}"},
        timeout=30,
    )


async def submit(client: httpx.AsyncClient, **body: Any) -> str:
    payload = {
        "prompt": "A lighthouse keeper's last night on a stormy island",
        "duration": 10,
        "aspect_ratio": "16:9",
        **body,
    }
    response = await client.post("/v1/jobs", json=payload)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def wait_for_end(
    client: httpx.AsyncClient, job_id: str, timeout: float = 240.0
) -> dict[str, Any]:
    """Poll the job until it completes or fails; returns the final job body."""
    return await wait_for_stage(
        client, job_id, lambda job: job["status"] in ("completed", "failed"), timeout, 0.5
    )


async def wait_for_stage(
    client: httpx.AsyncClient,
    job_id: str,
    predicate: Any,
    timeout: float = 120.0,
    interval: float = 0.2,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} still {job['status']}/{job['stage']} after {timeout}s"
            )
        await asyncio.sleep(interval)


async def download_video(client: httpx.AsyncClient, job_id: str, out: Path) -> Path:
    redirect = await client.get(f"/v1/jobs/{job_id}/video")
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient(timeout=60) as plain:
        video = await plain.get(redirect.headers["location"])
    assert video.status_code == 200
    await asyncio.to_thread(out.write_bytes, video.content)
    return out


def log_events(pipeline: LocalPipeline, service: str, event: str) -> list[dict[str, Any]]:
    """The service's JSON log lines whose `event` is `event`."""
    found = []
    for line in pipeline.log_path(service).read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            found.append(record)
    return found


async def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> tuple[int, str]:
    """Run the installed `omnigen` CLI as a user would: its exit code and its output."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "omnigen"),
        *args,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    return process.returncode or 0, output.decode(errors="replace")
