"""The reliability invariant every chaos test ends with (issue 16): once the system is quiet,
every job ended `completed` exactly once (its video stored, one `job.completed` event id) or
`failed` with a reason (a `job.failed`, no `job.completed`); no job is `pending` or
`processing`; no worker queue holds a message; and no dead letter is left but those the test
expects to stay (each was reported: by `omnigen dlq redrive`, or recorded by a worker's
dead-letter watcher when it failed the job)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from omnigen.shared.domain.events import Event, EventType
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.stages import JobStatus
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, eventually, take_events

COMPLETED = EventType.JOB_COMPLETED.value
FAILED = EventType.JOB_FAILED.value


@dataclass(frozen=True)
class Ended:
    """What the invariant found: each job as it ended, and the outcome events it read (and
    removed) from the outcomes queue, in arrival order."""

    jobs: dict[str, Job]
    outcomes: list[Event]

    def outcomes_of(self, job_id: str) -> list[tuple[str, str]]:
        return [(e.event_type.value, str(e.event_id)) for e in self.outcomes if e.job_id == job_id]


async def assert_every_job_ended_once(
    stack: Stack,
    job_ids: Iterable[str],
    *,
    users: Iterable[str] = ("e2e-user",),
    kept_letters: Mapping[str, int] | None = None,
    timeout: float = 90.0,
    quiet_s: float = 3.0,
) -> Ended:
    """Wait (up to `timeout`) for every job of `job_ids` to end and for its outcome to arrive
    on the outcomes queue, let the system be quiet for `quiet_s` more, then assert the
    invariant. `kept_letters` maps a DLQ's name to the letters the test expects to stay."""
    wanted = list(job_ids)
    repo = await stack.repository()
    jobs: dict[str, Job] = {}

    async def all_ended() -> bool:
        for job_id in wanted:
            jobs[job_id] = await repo.get_job(job_id)
        return all(job.is_terminal for job in jobs.values())

    await eventually(all_ended, timeout=timeout, interval=0.5, what=f"jobs {wanted} to end")
    url = stack.queue_url(stack.spec.outcomes_queue.name)
    outcomes: list[Event] = []

    async def outcomes_arrived() -> bool:
        outcomes.extend(await take_events(stack, url))
        told = {(str(e.job_id), e.event_type.value) for e in outcomes}
        return all((job_id, _outcome_type(jobs[job_id])) in told for job_id in wanted)

    await eventually(outcomes_arrived, timeout=60, interval=0.5, what="every job's outcome")
    await asyncio.sleep(quiet_s)  # a second announcement would arrive by now
    outcomes.extend(await take_events(stack, url))

    by_job: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for event in outcomes:
        by_job[str(event.job_id)][event.event_type.value].add(str(event.event_id))
    assets = await stack.assets()
    for job_id in wanted:
        job = await repo.get_job(job_id)
        told = by_job[job_id]
        failures = job.attempt - 1  # each earlier attempt failed once
        if job.status is JobStatus.COMPLETED:
            assert job.video_key and job.error_message is None, job
            assert await _stored(assets, job.video_key), f"{job_id}: its video is not stored"
            assert len(told[COMPLETED]) == 1, f"{job_id}: job.completed ids {told[COMPLETED]}"
            videos = {
                getattr(e.data, "video_key", None)
                for e in outcomes
                if e.job_id == job_id and e.event_type.value == COMPLETED
            }
            assert videos == {job.video_key}, f"{job_id}: job.completed names {videos}"
        else:
            assert job.status is JobStatus.FAILED, f"{job_id} is {job.status}"
            assert job.error_message, f"{job_id} failed without a reason"
            assert not told[COMPLETED], f"{job_id} failed, yet job.completed {told[COMPLETED]}"
            failures += 1
        assert len(told[FAILED]) == failures, f"{job_id}: job.failed ids {told[FAILED]}"
        jobs[job_id] = job
    for user in users:
        page = await repo.get_jobs_by_user(user, limit=100)
        running = [(j.job_id, j.status.value, j.stage) for j in page.jobs if not j.is_terminal]
        assert running == [], f"jobs still running once quiet: {running}"

    expected = dict(kept_letters or {})
    spec = stack.spec

    async def queues_settled() -> bool:
        for queue in spec.queues:
            if await depth(stack, queue.dlq_name) != expected.get(queue.dlq_name, 0):
                return False
        for queue in spec.queues:
            if await depth(stack, queue.name) != 0:
                return False
        return True

    try:
        await eventually(queues_settled, timeout=45, interval=0.5, what="queues to settle")
    except AssertionError:
        found = {q.dlq_name: await depth(stack, q.dlq_name) for q in spec.queues}
        found |= {q.name: await depth(stack, q.name) for q in spec.queues}
        raise AssertionError(
            f"queues not settled: {found}; expected dead letters {expected}"
        ) from None
    return Ended(jobs, outcomes)


def _outcome_type(job: Job) -> str:
    return COMPLETED if job.status is JobStatus.COMPLETED else FAILED


async def _stored(assets: object, key: str) -> bool:
    async for found in assets.list_keys(key):  # type: ignore[attr-defined]
        if found == key:
            return True
    return False
