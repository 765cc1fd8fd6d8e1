"""What watching a job costs: job reads per minute for one and for twenty event streams on one
ingest task, with the shared reads (one read serves every stream, backing off while nothing
changes) and without them (each stream reads the job every poll, as before).

    .venv/bin/python tests/benchmarks/bench_sse_reads.py [--seconds 60 --change-every 15]

All four cases run at once in this process, on jobs whose stage moves at the same moments,
through the same `job_events` generator the endpoint streams; reads are counted at the
repository (the in-memory one: the reads our code makes are the same calls DynamoDB would get).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from omnigen.ingest.sse import SharedJobReads, StreamTimings, job_events
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.stages import scene_generating
from omnigen.testing.fakes import InMemoryJobRepository

REQUEST = JobRequest(prompt="A lighthouse keeper's last night on a stormy island", duration=60)
POLL_S, MAX_POLL_S = 1.0, 8.0  # the defaults of OMNIGEN_SSE_POLL_(MAX_)INTERVAL_S


class CountingReads:
    def __init__(self, jobs: InMemoryJobRepository) -> None:
        self.jobs = jobs
        self.reads = 0

    async def get_job(self, job_id: str) -> Job:
        self.reads += 1
        return await self.jobs.get_job(job_id)


async def watch(load: Callable[[], Awaitable[Job]], stopping: asyncio.Event) -> None:
    timings = StreamTimings(poll_s=POLL_S, heartbeat_s=15.0, max_duration_s=3600.0)
    async for _chunk in job_events(load, timings, stopping):
        pass


async def case(watchers: int, shared: bool, seconds: float, change_every: float) -> float:
    jobs = InMemoryJobRepository()
    counting = CountingReads(jobs)
    job_id = (await jobs.create_job(user_id="u", request=REQUEST)).job.job_id
    reads = SharedJobReads(counting.get_job, base_s=POLL_S, max_s=MAX_POLL_S)

    async def load() -> Job:
        return await (reads.get(job_id) if shared else counting.get_job(job_id))

    stopping = asyncio.Event()
    streams = [asyncio.create_task(watch(load, stopping)) for _ in range(watchers)]
    began, scene = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        await asyncio.sleep(change_every)
        scene += 1
        await jobs.update_job_stage_with_metadata(job_id, scene_generating(scene))
    stopping.set()
    await asyncio.gather(*streams)
    return counting.reads * 60.0 / (time.monotonic() - began)


async def run(seconds: float, change_every: float) -> None:
    cases = [(1, False), (20, False), (1, True), (20, True)]
    results = await asyncio.gather(*(case(n, s, seconds, change_every) for n, s in cases))
    print(f"job reads per minute, a stage change every {change_every:g} s, {seconds:g} s run:")
    for (watchers, shared), per_minute in zip(cases, results, strict=True):
        how = "shared reads (now)" if shared else "a read per stream per poll (before)"
        print(f"  {watchers:2d} watcher(s), {how:<36} {per_minute:7.1f}")
    print(f"  20 vs 1 watcher with shared reads: {results[3] / results[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--change-every", type=float, default=15.0)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.change_every))


if __name__ == "__main__":
    main()
