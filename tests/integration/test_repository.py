"""The job repository against DynamoDB over HTTP (moto server; the LocalStack leg also keeps its
DynamoDB on moto, by design), including races between concurrent writers."""

from __future__ import annotations

import asyncio
import time

import pytest

from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    InvalidCursor,
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
    StageRegression,
)
from omnigen.shared.domain.jobs import TTL_SECONDS, JobOptions, JobRequest
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.ports import LeaseClaim
from omnigen.testing.fixtures import Stack

REQUEST = JobRequest(
    prompt="a lighthouse keeper's last night on the island",
    duration=30,
    aspect_ratio="9:16",
    options=JobOptions(style="film noir", tone="wistful", voice="en-gb"),
)


async def test_concurrent_creates_with_one_key_make_one_job(stack: Stack) -> None:
    repo = await stack.repository()
    results = await asyncio.gather(
        *(
            repo.create_job(user_id="alice", request=REQUEST, idempotency_key="order-42")
            for _ in range(20)
        )
    )
    assert len({r.job.job_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    page = await repo.get_jobs_by_user("alice", limit=100)
    assert [j.job_id for j in page.jobs] == [results[0].job.job_id]


async def test_same_key_other_payload_is_a_conflict(stack: Stack) -> None:
    repo = await stack.repository()
    first = await repo.create_job(user_id="alice", request=REQUEST, idempotency_key="k1")
    again = await repo.create_job(user_id="alice", request=REQUEST, idempotency_key="k1")
    assert again.job == first.job and not again.created
    other = REQUEST.model_copy(update={"duration": 45})
    with pytest.raises(IdempotencyConflict, match="different payload"):
        await repo.create_job(user_id="alice", request=other, idempotency_key="k1")
    # the key is scoped to the user: bob's "k1" is his own job
    bobs = await repo.create_job(user_id="bob", request=other, idempotency_key="k1")
    assert bobs.created and bobs.job.job_id != first.job.job_id


async def test_new_job_is_pending_queued_with_ttl_and_options(stack: Stack) -> None:
    repo = await stack.repository()
    created = (await repo.create_job(user_id="u", request=REQUEST, trace_id="t-1")).job
    job = await repo.get_job(created.job_id)
    assert job == created
    assert (job.status, job.stage, job.options.voice, job.trace_id) == (
        JobStatus.PENDING,
        "queued",
        "en-gb",
        "t-1",
    )
    assert job.ttl == int(job.created_at) + TTL_SECONDS
    assert abs(job.created_at - time.time()) < 60
    ddb = await stack.aws.dynamodb()
    ttl = await ddb.describe_time_to_live(TableName=stack.spec.table.name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"


async def test_two_stage_writers_the_newer_wins(stack: Stack) -> None:
    repo = await stack.repository()
    for round_ in range(6):
        job = (await repo.create_job(user_id="u", request=REQUEST)).job
        older, newer = "scene_1_generating", "scene_2_complete"
        writers = [older, newer] if round_ % 2 else [newer, older]
        results = await asyncio.gather(
            *(repo.update_job_stage_with_metadata(job.job_id, s) for s in writers),
            return_exceptions=True,
        )
        final = await repo.get_job(job.job_id)
        assert final.stage == newer
        for stage, result in zip(writers, results, strict=True):
            if isinstance(result, BaseException):
                assert stage == older and isinstance(result, StageRegression)
                assert result.current == newer


async def test_older_stage_is_refused_and_the_caller_is_told(stack: Stack) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "scene_3_complete")
    with pytest.raises(StageRegression, match="already at 'scene_3_complete'"):
        await repo.update_job_stage_with_metadata(job.job_id, "script_generating")
    await repo.update_job_stage_with_metadata(job.job_id, "scene_3_complete", {"x": 1})
    again = await repo.get_job(job.job_id)
    assert again.stage == "scene_3_complete" and again.metadata["x"] == 1


async def test_concurrent_metadata_writes_merge_instead_of_clobbering(stack: Stack) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await asyncio.gather(
        *(
            repo.update_job_stage_with_metadata(
                job.job_id, "scene_1_generating", {f"k{i}": i, "ratio": i / 10}
            )
            for i in range(15)
        )
    )
    final = await repo.get_job(job.job_id)
    assert {f"k{i}" for i in range(15)} <= final.metadata.keys()
    assert final.version == 16


async def test_terminal_states_are_final(stack: Stack) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "scene_2_generating")
    failed = await repo.mark_job_failed(job.job_id, "replicate: prediction failed")
    assert (failed.status, failed.stage) == (JobStatus.FAILED, "scene_2_generating")
    with pytest.raises(JobAlreadyFinished, match="already failed"):
        await repo.update_job_stage_with_metadata(job.job_id, "scene_3_generating")
    with pytest.raises(JobAlreadyFinished):
        await repo.mark_job_complete(job.job_id, "jobs/x/video.mp4")
    with pytest.raises(JobAlreadyFinished):
        await repo.mark_job_failed(job.job_id, "another reason")
    assert (await repo.get_job(job.job_id)).error_message == "replicate: prediction failed"

    done = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.mark_job_complete(done.job_id, "jobs/y/video.mp4", {"size": 123})
    completed = await repo.get_job(done.job_id)
    assert completed.metadata["size"] == 123 and completed.video_key == "jobs/y/video.mp4"
    assert completed.status is JobStatus.COMPLETED and completed.completed_at is not None
    with pytest.raises(JobAlreadyFinished, match="already completed"):
        await repo.mark_job_failed(done.job_id, "late failure")


async def test_embedded_script_reads_back_losslessly(stack: Stack, sample_script: Script) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.embed_script(job.job_id, sample_script, {"scene_count": 2})
    fresh = await repo.get_job(job.job_id)
    assert fresh.script == sample_script
    assert fresh.stage == "script_complete" and fresh.metadata["scene_count"] == 2


async def test_missing_job_is_not_found(stack: Stack) -> None:
    repo = await stack.repository()
    with pytest.raises(JobNotFound):
        await repo.get_job("nope")
    with pytest.raises(JobNotFound):
        await repo.update_job_stage_with_metadata("nope", "script_generating")


async def test_pagination_over_250_jobs_newest_first(stack: Stack) -> None:
    repo = await stack.repository()
    clock = iter(range(1_700_000_000, 1_700_001_000))
    timed = DynamoJobRepository(
        await stack.aws.dynamodb(), stack.spec.table, clock=lambda: next(clock)
    )
    created = []
    for _ in range(10):
        batch = await asyncio.gather(
            *(timed.create_job(user_id="pager", request=REQUEST) for _ in range(25))
        )
        created.extend(r.job for r in batch)
    await timed.create_job(user_id="someone-else", request=REQUEST)
    for job in created[::10]:
        await repo.mark_job_failed(job.job_id, "for the filter")

    seen, cursor, pages = [], None, 0
    while True:
        page = await repo.get_jobs_by_user("pager", limit=20, cursor=cursor)
        seen.extend(page.jobs)
        pages += 1
        assert len(page.jobs) == 20 or page.next_cursor is None
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 250 and pages == 13
    assert {j.job_id for j in seen} == {j.job_id for j in created}
    stamps = [j.created_at for j in seen]
    assert stamps == sorted(stamps, reverse=True)

    failed, cursor = [], None
    while True:
        page = await repo.get_jobs_by_user("pager", limit=7, cursor=cursor, status=JobStatus.FAILED)
        assert all(j.status is JobStatus.FAILED for j in page.jobs)
        failed.extend(page.jobs)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert {j.job_id for j in failed} == {j.job_id for j in created[::10]}


async def test_a_cursor_cannot_be_used_by_another_user(stack: Stack) -> None:
    repo = await stack.repository()
    for _ in range(3):
        await repo.create_job(user_id="owner", request=REQUEST)
    page = await repo.get_jobs_by_user("owner", limit=2)
    assert page.next_cursor
    with pytest.raises(InvalidCursor, match="another listing"):
        await repo.get_jobs_by_user("intruder", limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        await repo.get_jobs_by_user("owner", limit=2, cursor="not-a-cursor!!")


async def test_leases_admit_one_holder_until_they_expire(stack: Stack) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.acquire_lease(job.job_id, "render", "worker-a", 30)
    await repo.acquire_lease(job.job_id, "render", "worker-a", 30)  # re-entrant
    with pytest.raises(LeaseHeld, match="held by worker-a"):
        await repo.acquire_lease(job.job_id, "render", "worker-b", 30)
    await repo.release_lease(job.job_id, "render", "worker-a")
    await repo.acquire_lease(job.job_id, "render", "worker-b", 0.01)
    await asyncio.sleep(0.05)
    taken = await repo.acquire_lease(job.job_id, "render", "worker-c", 30)
    assert taken.leases["render"]["holder"] == "worker-c"


async def test_a_lease_taken_with_a_stage_is_one_conditional_write(stack: Stack) -> None:
    repo = await stack.repository()
    created = await repo.create_job(
        user_id="u", request=REQUEST, lease=LeaseClaim("publish", "creator", 30)
    )
    job = created.job
    assert (await repo.get_job(job.job_id)).leases["publish"]["holder"] == "creator"

    began = await repo.acquire_lease(
        job.job_id, "script", "m-1", 30, stage="script_generating", metadata={"attempt": 1}
    )
    assert (began.stage, began.status) == ("script_generating", JobStatus.PROCESSING)
    assert began.leases["script"]["holder"] == "m-1" and began.metadata["attempt"] == 1
    with pytest.raises(LeaseHeld, match="held by m-1"):  # a duplicate message, not a regression
        await repo.acquire_lease(job.job_id, "script", "m-2", 30, stage="script_generating")

    await repo.update_job_stage_with_metadata(job.job_id, "scene_1_generating")
    with pytest.raises(StageRegression) as behind:  # the holder itself, behind the job
        await repo.acquire_lease(job.job_id, "script", "m-1", 30, stage="script_generating")
    assert behind.value.job is not None and behind.value.job.stage == "scene_1_generating"
    unchanged = await repo.get_job(job.job_id)
    assert unchanged.stage == "scene_1_generating" and unchanged.version == began.version + 1

    await repo.mark_job_complete(job.job_id, "jobs/v.mp4")
    with pytest.raises(JobAlreadyFinished) as ended:
        await repo.acquire_lease(job.job_id, "render", "m-3", 30, stage="scene_1_generating")
    assert ended.value.job is not None and ended.value.job.status is JobStatus.COMPLETED


async def test_running_jobs_are_counted_within_the_window(stack: Stack) -> None:
    repo = await stack.repository()
    jobs = [(await repo.create_job(user_id="counted", request=REQUEST)).job for _ in range(4)]
    await repo.create_job(user_id="someone-else", request=REQUEST)
    await repo.update_job_stage_with_metadata(jobs[1].job_id, "script_generating")
    await repo.mark_job_complete(jobs[2].job_id, "jobs/v.mp4")
    await repo.mark_job_failed(jobs[3].job_id, "broken")
    active = (JobStatus.PENDING, JobStatus.PROCESSING)
    assert await repo.count_jobs("counted", statuses=active, created_after=0) == 2
    assert await repo.count_jobs("counted", statuses=[JobStatus.FAILED], created_after=0) == 1
    newest = max(j.created_at for j in jobs)
    assert await repo.count_jobs("counted", statuses=active, created_after=newest) == 0
    assert await repo.count_jobs("nobody", statuses=active, created_after=0) == 0


async def test_publication_is_recorded_even_after_the_job_ends(stack: Stack) -> None:
    repo = await stack.repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.mark_job_complete(job.job_id, "jobs/v.mp4")
    recorded = await repo.record_published(job.job_id, "job.completed", "evt-1")
    assert recorded.published == {"job.completed": "evt-1"}
    assert recorded.status is JobStatus.COMPLETED
