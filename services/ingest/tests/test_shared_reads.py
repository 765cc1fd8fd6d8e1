"""One read of a job serves every event stream watching it, and reads back off while nothing
changes (against an in-memory repository and a clock the test moves)."""

from __future__ import annotations

import asyncio

import pytest

from omnigen.ingest.sse import SharedJobReads
from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.jobs import JobRequest
from omnigen.testing.fakes import InMemoryJobRepository

REQUEST = JobRequest(prompt="A lighthouse keeper's last night on a stormy island", duration=10)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def setup() -> tuple[InMemoryJobRepository, str, SharedJobReads, Clock]:
    jobs = InMemoryJobRepository()
    job_id = (await jobs.create_job(user_id="u", request=REQUEST)).job.job_id
    clock = Clock()
    return jobs, job_id, SharedJobReads(jobs.get_job, base_s=1, max_s=8, clock=clock), clock


async def test_twenty_watchers_at_once_cost_one_read() -> None:
    _jobs, job_id, reads, _clock = await setup()
    seen = await asyncio.gather(*(reads.get(job_id) for _ in range(20)))
    assert reads.reads == 1 and {job.job_id for job in seen} == {job_id}


async def test_reads_back_off_while_nothing_changes_and_catch_up_on_a_change() -> None:
    jobs, job_id, reads, clock = await setup()
    read_at = []
    for second in range(40):  # every watcher asks once a second
        clock.now = float(second)
        before = reads.reads
        await reads.get(job_id)
        if reads.reads > before:
            read_at.append(second)
        if second == 20:
            await jobs.update_job_stage_with_metadata(job_id, "script_generating")
    # 1, 2, 4, 8, 8 ... apart while queued; the change is seen at the next read (t=23), then
    # the wait starts again from 1 s
    assert read_at[:5] == [0, 1, 3, 7, 15]
    assert 23 in read_at and read_at[read_at.index(23) + 1] == 24
    assert (await reads.get(job_id)).stage == "script_generating"


async def test_a_deleted_job_is_not_found_and_forgotten() -> None:
    jobs, job_id, reads, clock = await setup()
    await reads.get(job_id)
    await jobs.delete_job(job_id)
    clock.now = 10.0
    with pytest.raises(JobNotFound):
        await reads.get(job_id)
