"""The shared rate limit across ingest processes: two `omnigen-ingest` processes (their real
entry point, configured by environment only) over one jobs table admit one user's burst
together, not once each; with the in-memory store each admits it on its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from omnigen.cli.localaws.pipeline import LocalPipeline
from omnigen.testing.fixtures import Stack

BURST = 10
WINDOW_S = 300.0  # burst / per_minute minutes: 10 per 5 minutes
LIMITS = {"OMNIGEN_RATE_LIMIT_PER_MINUTE": "2", "OMNIGEN_RATE_LIMIT_BURST": str(BURST)}


@contextmanager
def ingest_processes(stack: Stack, workdir: Path, store: str) -> Iterator[list[LocalPipeline]]:
    with ExitStack() as started:
        processes = []
        for n in range(2):
            ingest = LocalPipeline(
                stack.settings,
                workdir / f"ingest-{n}",
                env={**LIMITS, "OMNIGEN_RATE_LIMIT_STORE": store},
            )
            started.callback(ingest.stop)
            ingest.start(["ingest"])
            processes.append(ingest)
        yield processes


async def statuses_of_a_burst(processes: list[LocalPipeline], user: str) -> list[int]:
    """12 GETs by one user to each process, all at once (within one rate window)."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < 20:
        await asyncio.sleep(left + 0.05)
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.get(
                    f"{ingest.api_url}/v1/jobs",
                    headers={"Authorization": f"Bearer {ingest.mint_token(user)}"},
                )
                for _ in range(12)
                for ingest in processes
            )
        )
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
    return [r.status_code for r in responses]


@pytest.mark.parametrize(("store", "admitted"), [("dynamodb", BURST), ("memory", 2 * BURST)])
async def test_two_ingest_processes_share_one_users_rate_limit(
    moto_stack: Stack, tmp_path: Path, store: str, admitted: int
) -> None:
    with ingest_processes(moto_stack, tmp_path, store) as processes:
        statuses = await statuses_of_a_burst(processes, f"burst-{store}-{time.time_ns()}")
    assert sorted(statuses) == [200] * admitted + [429] * (24 - admitted), statuses
