"""A worker started before its resources exist waits for them (retrying with backoff, a log
line each time) instead of crash-looping; past its deadline it exits 2 naming what is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.settings import AwsSettings
from omnigen.testing.fixtures import new_prefix

BIN = Path(sys.executable).parent
SCRIPTER = str(BIN / "omnigen-scripter")


def worker_env(moto: MotoServer, prefix: str, wait_s: float) -> dict[str, str]:
    return {
        **os.environ,
        "OMNIGEN_ENDPOINT_URL": moto.endpoint_url,
        "OMNIGEN_RESOURCE_PREFIX": prefix,
        "OMNIGEN_WORKER_RESOURCE_WAIT_S": str(wait_s),
        "OMNIGEN_WORKER_WAIT_TIME_S": "1",
        "OMNIGEN_LOG_JSON": "true",
        "OMNIGEN_SCRIPT_WRITER": "planner",
        "OMNIGEN_AUTH_HS256_SECRET": "startup-test-secret-0123456789abcdef",
        "OMNIGEN_PORT": "0",
    }


async def read_until(process: asyncio.subprocess.Process, marker: str, timeout: float) -> str:
    """Output lines up to and including the first one holding `marker`."""
    assert process.stdout is not None
    seen: list[str] = []

    async def read() -> str:
        while True:
            raw = await process.stdout.readline()  # type: ignore[union-attr]
            if not raw:
                raise AssertionError(f"exited before {marker!r}:\n" + "".join(seen))
            seen.append(raw.decode())
            if marker in seen[-1]:
                return "".join(seen)

    return await asyncio.wait_for(read(), timeout=timeout)


@pytest.mark.parametrize(
    ("script", "queue"), [("omnigen-scripter", "scripter"), ("omnigen-ingest", "ingest-requests")]
)
async def test_a_service_without_its_resources_exits_2_naming_them(
    moto_server: MotoServer, script: str, queue: str
) -> None:
    prefix = new_prefix()
    process = await asyncio.create_subprocess_exec(
        str(BIN / script),
        env=worker_env(moto_server, prefix, wait_s=2),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode()

    assert process.returncode == 2, text
    assert "waiting_for_resources" in text
    [final] = [line for line in text.splitlines() if '"resources_missing"' in line]
    for name in (f"{prefix}-jobs", f"{prefix}-job-events", f"{prefix}-{queue}"):
        assert name in final, text


async def test_a_worker_started_before_bootstrap_starts_consuming_once_it_ran(
    moto_server: MotoServer,
) -> None:
    prefix = new_prefix()
    process = await asyncio.create_subprocess_exec(
        SCRIPTER,
        env=worker_env(moto_server, prefix, wait_s=60),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await read_until(process, "waiting_for_resources", timeout=30)
        settings = AwsSettings(endpoint_url=moto_server.endpoint_url, resource_prefix=prefix)
        async with AwsClients(settings) as aws:
            await apply_spec(aws, settings.resources)

        await read_until(process, "consumer_started", timeout=40)

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
