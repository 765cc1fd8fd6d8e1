"""The job repository contract: every behaviour the services rely on, held on three backends
in turn - the in-memory fake the handler tests use, DynamoDB over HTTP on moto server, and the
LocalStack leg (whose DynamoDB is moto too, by design) - including races between concurrent
writers. Storage failures surface as the repository's typed errors."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.ports import LOOPBACK
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    InvalidCursor,
    JobAlreadyFinished,
    JobNotFound,
    JobNotRetryable,
    LeaseHeld,
    MonthlyQuotaExceeded,
    PieceRaced,
    RateWindowFull,
    RepositoryError,
    RepositoryUnavailable,
    RunningJobsLimit,
    StageRegression,
)
from omnigen.shared.domain.jobs import OUTBOX_EVENT, TTL_SECONDS, JobOptions, JobRequest
from omnigen.shared.domain.rules import current_window
from omnigen.shared.domain.scenes import AUDIO, Continuity, RenderState, plan_metadata
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.usage import DEFAULT_PRICE_TABLE, JobUsage, VersionUsage, usage_month
from omnigen.shared.domain.versions import SceneChanges, VersionRaced, plan_regeneration
from omnigen.shared.ports import JobRepository, LeaseClaim
from omnigen.shared.resources import Table
from omnigen.shared.settings import AwsSettings
from omnigen.shared.workflow import record_finished_piece
from omnigen.testing.fakes import InMemoryJobRepository
from omnigen.testing.fixtures import (
    BACKENDS,
    Stack,
    bootstrapped,
    localstack_settings,
    moto_settings,
)

REQUEST = JobRequest(
    prompt="a lighthouse keeper's last night on the island",
    duration=30,
    aspect_ratio="9:16",
    options=JobOptions(style="cinematic", tone="premium", voice="en-gb"),
)

Clock = Callable[[], float]
NewRepository = Callable[..., JobRepository]


@pytest.fixture(params=("memory", *BACKENDS))
async def new_repository(
    request: pytest.FixtureRequest, moto_server: MotoServer
) -> AsyncIterator[NewRepository]:
    """`new_repository(clock=...)`: a repository over a fresh, empty store of one backend (one
    per test; the DynamoDB ones share their table, the fake does not)."""
    if request.param == "memory":

        def fake(clock: Clock = time.time) -> JobRepository:
            return InMemoryJobRepository(clock=clock)

        yield fake
        return
    if request.param == "moto":
        settings = moto_settings(moto_server)
    else:
        settings = localstack_settings(request.getfixturevalue("localstack_server"), moto_server)
    async for stack in bootstrapped(settings):
        yield functools.partial(DynamoJobRepository, await stack.aws.dynamodb(), stack.spec.table)


async def test_concurrent_creates_with_one_key_make_one_job(new_repository: NewRepository) -> None:
    repo = new_repository()
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


async def test_same_key_other_payload_is_a_conflict(new_repository: NewRepository) -> None:
    repo = new_repository()
    first = await repo.create_job(user_id="alice", request=REQUEST, idempotency_key="k1")
    again = await repo.create_job(user_id="alice", request=REQUEST, idempotency_key="k1")
    assert again.job == first.job and not again.created
    other = REQUEST.model_copy(update={"duration": 45})
    with pytest.raises(IdempotencyConflict, match="different payload"):
        await repo.create_job(user_id="alice", request=other, idempotency_key="k1")
    # the key is scoped to the user: bob's "k1" is his own job
    bobs = await repo.create_job(user_id="bob", request=other, idempotency_key="k1")
    assert bobs.created and bobs.job.job_id != first.job.job_id


async def test_new_job_is_pending_queued_with_ttl_and_options(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
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


async def test_get_jobs_reads_many_jobs_at_once_and_leaves_out_what_does_not_exist(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
    made = [
        (await repo.create_job(user_id=f"u{i % 3}", request=REQUEST)).job for i in range(105)
    ]  # more than one BatchGetItem takes
    await repo.mark_job_complete(made[0].job_id, "jobs/x/video.mp4")
    asked = [j.job_id for j in made] + ["no-such-job", made[1].job_id]
    found = await repo.get_jobs(asked)
    assert set(found) == {j.job_id for j in made}
    assert found[made[0].job_id] == await repo.get_job(made[0].job_id)  # as a read of its own
    assert found[made[0].job_id].status is JobStatus.COMPLETED  # consistent: the newest write
    assert found[made[7].job_id].user_id == "u1"
    assert await repo.get_jobs([]) == {}


async def test_the_table_expires_jobs_by_their_ttl_attribute(stack: Stack) -> None:
    ddb = await stack.aws.dynamodb()
    ttl = await ddb.describe_time_to_live(TableName=stack.spec.table.name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"


async def test_bootstrap_adds_the_outbox_index_to_an_older_table(
    aws_settings: AwsSettings,
) -> None:
    """A table created before the outbox (UserJobsIndex only) gains OutboxIndex when the
    bootstrap runs again, built from the items already there; a further run changes nothing."""
    table = aws_settings.resources.table
    async with AwsClients(aws_settings) as aws:
        ddb = await aws.dynamodb()
        await ddb.create_table(  # the table as the bootstrap created it before the outbox
            TableName=table.name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "user_id", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "UserJobsIndex",
                    "KeySchema": [
                        {"AttributeName": "user_id", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        repo = DynamoJobRepository(ddb, table)
        owing = (await repo.create_job(user_id="old", request=REQUEST)).job  # written meanwhile

        await apply_spec(aws, aws_settings.resources)
        described = (await ddb.describe_table(TableName=table.name))["Table"]
        indexes = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
        assert set(indexes) == {"UserJobsIndex", "OutboxIndex"}
        outbox = indexes["OutboxIndex"]
        assert [k["AttributeName"] for k in outbox["KeySchema"]] == ["outbox", "created_at"]
        assert outbox["Projection"]["ProjectionType"] == "KEYS_ONLY"
        assert await repo.unannounced_jobs(created_before=time.time() + 60) == [owing.job_id]
        page = await repo.get_jobs_by_user("old", limit=10)  # the listing still works
        assert [j.job_id for j in page.jobs] == [owing.job_id]

        await apply_spec(aws, aws_settings.resources)  # idempotent
        again = (await ddb.describe_table(TableName=table.name))["Table"]
        assert len(again["GlobalSecondaryIndexes"]) == 2


async def test_two_stage_writers_the_newer_wins(new_repository: NewRepository) -> None:
    repo = new_repository()
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


async def test_older_stage_is_refused_and_the_caller_is_told(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "scene_3_complete")
    with pytest.raises(StageRegression, match="already at 'scene_3_complete'") as refused:
        await repo.update_job_stage_with_metadata(job.job_id, "script_generating")
    assert refused.value.job is not None and refused.value.job.stage == "scene_3_complete"
    assert refused.value.current == "scene_3_complete"
    await repo.update_job_stage_with_metadata(job.job_id, "scene_3_complete", {"x": 1})
    again = await repo.get_job(job.job_id)
    assert again.stage == "scene_3_complete" and again.metadata["x"] == 1


async def test_concurrent_metadata_writes_merge_instead_of_clobbering(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
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


async def test_terminal_states_are_final(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "scene_2_generating")
    failed = await repo.mark_job_failed(job.job_id, "replicate: prediction failed")
    assert (failed.status, failed.stage) == (JobStatus.FAILED, "scene_2_generating")
    with pytest.raises(JobAlreadyFinished, match="already failed") as finished:
        await repo.update_job_stage_with_metadata(job.job_id, "scene_3_generating")
    assert finished.value.job is not None and finished.value.job.stage == "scene_2_generating"
    assert finished.value.error_message == "replicate: prediction failed"
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


async def test_embedded_script_reads_back_losslessly(
    new_repository: NewRepository, sample_script: Script
) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.embed_script(job.job_id, sample_script, {"scene_count": 2})
    fresh = await repo.get_job(job.job_id)
    assert fresh.script == sample_script
    assert fresh.stage == "script_complete" and fresh.metadata["scene_count"] == 2


async def test_missing_job_is_not_found(new_repository: NewRepository) -> None:
    repo = new_repository()
    with pytest.raises(JobNotFound):
        await repo.get_job("nope")
    with pytest.raises(JobNotFound):
        await repo.update_job_stage_with_metadata("nope", "script_generating")
    with pytest.raises(JobNotFound):
        await repo.acquire_lease("nope", "render", "worker-a", 30, stage="composing")
    with pytest.raises(JobNotFound):
        await repo.mark_job_failed("nope", "gone")
    with pytest.raises(JobNotFound):
        await repo.record_published("nope", "job.failed", "evt-1")
    with pytest.raises(JobNotFound):
        await repo.delete_job("nope")


async def test_pagination_over_250_jobs_newest_first(new_repository: NewRepository) -> None:
    clock = iter(range(1_700_000_000, 1_700_002_000))
    repo = timed = new_repository(clock=lambda: next(clock))
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


async def test_a_cursor_cannot_be_used_by_another_user(new_repository: NewRepository) -> None:
    repo = new_repository()
    for _ in range(3):
        await repo.create_job(user_id="owner", request=REQUEST)
    page = await repo.get_jobs_by_user("owner", limit=2)
    assert page.next_cursor
    with pytest.raises(InvalidCursor, match="another listing"):
        await repo.get_jobs_by_user("intruder", limit=2, cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        await repo.get_jobs_by_user("owner", limit=2, cursor="not-a-cursor!!")
    with pytest.raises(InvalidCursor, match="not a cursor"):
        await repo.get_jobs_by_user("owner", limit=2, cursor=page.jobs[-1].job_id)
    rest = await repo.get_jobs_by_user("owner", limit=2, cursor=page.next_cursor)
    assert len(rest.jobs) == 1 and rest.next_cursor is None
    assert not {j.job_id for j in rest.jobs} & {j.job_id for j in page.jobs}


async def test_leases_admit_one_holder_until_they_expire(new_repository: NewRepository) -> None:
    repo = new_repository()
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


async def test_a_lease_taken_with_a_stage_is_one_conditional_write(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
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


async def test_running_jobs_are_counted_within_the_window(new_repository: NewRepository) -> None:
    repo = new_repository()
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


async def test_publication_is_recorded_even_after_the_job_ends(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.mark_job_complete(job.job_id, "jobs/v.mp4")
    recorded = await repo.record_published(job.job_id, "job.completed", "evt-1")
    assert recorded.published == {"job.completed": "evt-1"}
    assert recorded.status is JobStatus.COMPLETED


async def test_a_page_holds_1_to_100_jobs(new_repository: NewRepository) -> None:
    repo = new_repository()
    for limit in (0, 101):
        with pytest.raises(ValueError, match=r"limit must be 1\.\.100"):
            await repo.get_jobs_by_user("u", limit=limit)
    assert (await repo.get_jobs_by_user("u", limit=100)).jobs == []


async def test_metadata_is_merged_key_by_key(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "script_generating", {"a": 1, "b": 2})
    await repo.update_job_stage_with_metadata(job.job_id, "script_generating", {"b": 3, "c": 0.5})
    await repo.acquire_lease(job.job_id, "script", "w", 30, metadata={"d": {"nested": [1, "x"]}})
    await repo.mark_job_complete(job.job_id, "jobs/v.mp4", {"e": True})
    final = await repo.get_job(job.job_id)
    assert final.metadata == {"a": 1, "b": 3, "c": 0.5, "d": {"nested": [1, "x"]}, "e": True}


async def test_the_creator_holds_its_lease_from_the_first_write(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
    claim = LeaseClaim("publish", "creator", 30)
    created = await repo.create_job(user_id="u", request=REQUEST, lease=claim)
    assert created.job.leases["publish"]["holder"] == "creator"
    with pytest.raises(LeaseHeld, match="held by creator") as held:
        await repo.acquire_lease(created.job.job_id, "publish", "racer", 30)
    assert (held.value.holder, held.value.step) == ("creator", "publish")
    again = await repo.acquire_lease(created.job.job_id, "publish", "creator", 30)
    assert again.leases["publish"]["holder"] == "creator"


async def test_only_the_holder_releases_a_lease(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.acquire_lease(job.job_id, "render", "worker-a", 30)
    await repo.release_lease(job.job_id, "render", "worker-b")
    assert (await repo.get_job(job.job_id)).leases["render"]["holder"] == "worker-a"
    with pytest.raises(LeaseHeld):
        await repo.acquire_lease(job.job_id, "render", "worker-b", 30)
    await repo.release_lease(job.job_id, "render", "worker-a")
    assert "render" not in (await repo.get_job(job.job_id)).leases
    await repo.release_lease(job.job_id, "render", "worker-a")  # releasing twice is harmless
    taken = await repo.acquire_lease(job.job_id, "render", "worker-b", 30)
    assert taken.leases["render"]["holder"] == "worker-b"


async def test_a_refused_acquire_changes_nothing(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    held = await repo.acquire_lease(job.job_id, "script", "m-1", 30, stage="script_generating")
    with pytest.raises(LeaseHeld):
        await repo.acquire_lease(
            job.job_id, "script", "m-2", 30, stage="scene_1_generating", metadata={"x": 1}
        )
    assert await repo.get_job(job.job_id) == held


async def test_a_deleted_job_is_gone(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST, idempotency_key="del-1")).job
    kept = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.delete_job(job.job_id)
    with pytest.raises(JobNotFound):
        await repo.get_job(job.job_id)
    with pytest.raises(JobNotFound):
        await repo.delete_job(job.job_id)
    assert [j.job_id for j in (await repo.get_jobs_by_user("u")).jobs] == [kept.job_id]
    again = await repo.create_job(user_id="u", request=REQUEST, idempotency_key="del-1")
    assert again.created and again.job.job_id == job.job_id  # the key maps to the same id


async def test_a_failed_job_keeps_its_stage_and_its_reason(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.update_job_stage_with_metadata(job.job_id, "composing", {"k": "v"})
    failed = await repo.mark_job_failed(job.job_id, "x" * 5000)
    assert (failed.status, failed.stage, failed.metadata) == (
        JobStatus.FAILED,
        "composing",
        {"k": "v"},
    )
    assert failed.error_message == "x" * 2000 and failed.completed_at is not None
    assert await repo.get_job(job.job_id) == failed
    assert not failed.script and failed.video_key is None


# -- storage failures: typed, and telling the caller nothing about the store -------------------


def _unreachable_client_args() -> dict[str, Any]:
    return {
        "region_name": "us-east-1",
        "config": AioConfig(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    }


async def test_an_unreachable_table_is_a_typed_unavailable_error() -> None:
    with socket.socket() as closed:  # bound, never listening: every connect is refused
        closed.bind((LOOPBACK, 0))
        endpoint = f"http://{LOOPBACK}:{closed.getsockname()[1]}"
        session = get_session()
        async with session.create_client(
            "dynamodb", endpoint_url=endpoint, **_unreachable_client_args()
        ) as client:
            repo = DynamoJobRepository(client, Table(name="secret-jobs-table"))
            calls = [
                repo.get_job("j1"),
                repo.create_job(user_id="u", request=REQUEST, idempotency_key="k"),
                repo.update_job_stage_with_metadata("j1", "script_generating"),
                repo.acquire_lease("j1", "render", "w", 30),
                repo.get_jobs_by_user("u"),
            ]
            for call in calls:
                with pytest.raises(RepositoryUnavailable) as refused:
                    await call
                message = str(refused.value)
                assert "unavailable" in message
                for secret in (endpoint, str(closed.getsockname()[1]), "secret-jobs-table"):
                    assert secret not in message
                assert refused.value.__cause__ is None and refused.value.__suppress_context__


class _Answer:
    """What botocore reads of an HTTP response that a before-call hook short-circuits."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.mark.parametrize(
    ("code", "status", "unavailable"),
    [
        ("ProvisionedThroughputExceededException", 400, True),
        ("ThrottlingException", 400, True),
        ("InternalServerError", 500, True),
        ("ResourceNotFoundException", 400, False),
    ],
)
async def test_a_throttled_or_failing_table_is_a_typed_error(
    code: str, status: int, unavailable: bool
) -> None:
    text = f"{code}: arn:aws:dynamodb:us-east-1:000000000000:table/secret-jobs-table"

    def answer(**_: Any) -> tuple[_Answer, dict[str, Any]]:
        error = {"Error": {"Code": code, "Message": text}}
        return _Answer(status), {**error, "ResponseMetadata": {"HTTPStatusCode": status}}

    session = get_session()
    async with session.create_client(
        "dynamodb", endpoint_url=f"http://{LOOPBACK}:9", **_unreachable_client_args()
    ) as client:
        client.meta.events.register("before-call.dynamodb.*", answer)
        repo = DynamoJobRepository(client, Table(name="secret-jobs-table"))
        for call in (
            repo.mark_job_failed("j1", "boom"),
            repo.count_jobs("u", statuses=[JobStatus.PENDING], created_after=0),
            repo.delete_job("j1"),
        ):
            with pytest.raises(RepositoryError) as refused:
                await call
            assert isinstance(refused.value, RepositoryUnavailable) is unavailable
            assert "secret-jobs-table" not in str(refused.value)
            assert "arn:" not in str(refused.value) and code not in str(refused.value)


# -- the running-jobs counter: taken by the create, released once by the terminal write -------


async def test_concurrent_creates_never_pass_the_running_cap(new_repository: NewRepository) -> None:
    repo = new_repository()
    results = await asyncio.gather(
        *(
            repo.create_job(
                user_id="capped", request=REQUEST, idempotency_key=f"k{i}", running_cap=5
            )
            for i in range(30)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RunningJobsLimit)]
    assert (len(created), len(refused)) == (5, 25), results
    assert all(r.cap == 5 and "at most 5" in str(r) for r in refused)
    assert await repo.running_jobs("capped") == 5
    # uncapped creates still count (the upstream path), and other users have their own counter
    await repo.create_job(user_id="capped", request=REQUEST)
    assert await repo.running_jobs("capped") == 6
    assert await repo.running_jobs("someone-else") == 0


async def test_terminal_writes_release_the_slot_exactly_once(new_repository: NewRepository) -> None:
    repo = new_repository()
    jobs = [
        (await repo.create_job(user_id="ender", request=REQUEST, running_cap=3)).job
        for _ in range(3)
    ]
    with pytest.raises(RunningJobsLimit):
        await repo.create_job(user_id="ender", request=REQUEST, running_cap=3)
    done, failed, cancelled = (job.job_id for job in jobs)

    await repo.mark_job_complete(done, "jobs/x/video.mp4")
    with pytest.raises(JobAlreadyFinished):
        await repo.mark_job_complete(done, "jobs/x/video.mp4")  # a redelivered completion
    assert (await repo.mark_job_failed(failed, "provider down")).status is JobStatus.FAILED
    with pytest.raises(JobAlreadyFinished):
        await repo.mark_job_failed(failed, "provider down")  # a redelivered failure
    with pytest.raises(JobAlreadyFinished):
        await repo.mark_job_failed(done, "late failure of a completed job")
    # concurrent cancels of one job: one applies, one release
    outcomes = await asyncio.gather(
        *(repo.mark_job_failed(cancelled, "cancelled") for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, JobAlreadyFinished) for o in outcomes if isinstance(o, BaseException))

    assert await repo.running_jobs("ender") == 0
    assert not (await repo.get_job(done)).holds_running_slot
    again = await repo.create_job(user_id="ender", request=REQUEST, running_cap=3)
    assert again.created and await repo.running_jobs("ender") == 1


async def test_a_replay_counts_nothing_even_at_the_cap(new_repository: NewRepository) -> None:
    repo = new_repository()
    first = await repo.create_job(
        user_id="replayer", request=REQUEST, idempotency_key="k", running_cap=1
    )
    for _ in range(3):
        again = await repo.create_job(
            user_id="replayer", request=REQUEST, idempotency_key="k", running_cap=1
        )
        assert again.job.job_id == first.job.job_id and not again.created
    other = REQUEST.model_copy(update={"duration": 45})
    with pytest.raises(IdempotencyConflict):  # a conflict stays a conflict at the cap
        await repo.create_job(user_id="replayer", request=other, idempotency_key="k", running_cap=1)
    with pytest.raises(RunningJobsLimit):
        await repo.create_job(
            user_id="replayer", request=REQUEST, idempotency_key="new", running_cap=1
        )
    assert await repo.running_jobs("replayer") == 1


async def test_counters_stay_out_of_listings_and_counts(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="lister", request=REQUEST, running_cap=2)).job
    page = await repo.get_jobs_by_user("lister", limit=100)
    assert [j.job_id for j in page.jobs] == [job.job_id]
    active = (JobStatus.PENDING, JobStatus.PROCESSING)
    assert await repo.count_jobs("lister", statuses=active, created_after=0) == 1
    await repo.mark_job_failed(job.job_id, "cancelled")
    assert await repo.count_jobs("lister", statuses=active, created_after=0) == 0
    assert await repo.running_jobs("lister") == 0


async def test_a_new_job_owes_its_announcement_until_it_is_recorded(
    new_repository: NewRepository,
) -> None:
    """The outbox: a create leaves a marker the sweeper finds; recording `job.accepted` (and
    nothing else) removes it in the same write."""
    repo = new_repository()
    job = (await repo.create_job(user_id="owed", request=REQUEST, idempotency_key="o-1")).job
    assert job.outbox == OUTBOX_EVENT == "job.accepted"
    assert (await repo.get_job(job.job_id)).outbox == OUTBOX_EVENT
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == [job.job_id]
    assert await repo.unannounced_jobs(created_before=job.created_at) == []  # not old enough
    # a replay of the create changes nothing
    await repo.create_job(user_id="owed", request=REQUEST, idempotency_key="o-1")
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == [job.job_id]
    # another event's record leaves the marker
    other = await repo.record_published(job.job_id, "script.ready", "evt-0")
    assert other.outbox == OUTBOX_EVENT

    recorded = await repo.record_published(job.job_id, OUTBOX_EVENT, "evt-1")
    assert recorded.outbox is None and recorded.published[OUTBOX_EVENT] == "evt-1"
    assert (await repo.get_job(job.job_id)).outbox is None
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == []
    # the listing and the counts do not see the outbox
    page = await repo.get_jobs_by_user("owed", limit=100)
    assert [j.job_id for j in page.jobs] == [job.job_id]
    active = (JobStatus.PENDING, JobStatus.PROCESSING)
    assert await repo.count_jobs("owed", statuses=active, created_after=0) == 1


async def test_a_terminal_write_settles_the_outbox(new_repository: NewRepository) -> None:
    """A job cancelled (failed) or completed before it was announced owes nothing any more."""
    repo = new_repository()
    cancelled, failed, completed, owing = [
        (await repo.create_job(user_id="ended", request=REQUEST, running_cap=10)).job
        for _ in range(4)
    ]
    assert (await repo.mark_job_failed(cancelled.job_id, "cancelled")).outbox is None
    await repo.mark_job_failed(failed.job_id, "provider down")
    await repo.mark_job_complete(completed.job_id, "jobs/x/video.mp4")
    for ended in (cancelled, failed, completed):
        assert (await repo.get_job(ended.job_id)).outbox is None
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == [owing.job_id]
    # a late record of the announcement of an ended job leaves it settled
    late = await repo.record_published(cancelled.job_id, OUTBOX_EVENT, "evt-late")
    assert late.outbox is None and late.is_cancelled


async def test_unannounced_jobs_are_the_oldest_first_up_to_a_limit(
    new_repository: NewRepository,
) -> None:
    clock = iter(range(1_600_000_000, 1_600_001_000, 10))
    repo = new_repository(clock=lambda: float(next(clock)))
    jobs = [(await repo.create_job(user_id="sweepme", request=REQUEST)).job for _ in range(5)]
    ids = [job.job_id for job in jobs]
    assert [job.created_at for job in jobs] == [1_600_000_000 + 10 * i for i in range(5)]
    assert await repo.unannounced_jobs(created_before=1_600_000_025) == ids[:3]
    assert await repo.unannounced_jobs(created_before=1_700_000_000, limit=2) == ids[:2]
    await repo.record_published(ids[0], OUTBOX_EVENT, "evt")
    assert await repo.unannounced_jobs(created_before=1_700_000_000) == ids[1:]
    for limit in (0, 101):
        with pytest.raises(ValueError, match=r"limit must be 1\.\.100"):
            await repo.unannounced_jobs(created_before=1_700_000_000, limit=limit)


async def test_a_transaction_conflict_is_retried_then_unavailable(moto_stack: Stack) -> None:
    """DynamoDB cancels a transaction that races another on one item (the counter): retried a
    few times, then a transient `RepositoryUnavailable`, never a refusal of the job."""
    conflicts = {"left": 2}

    def answer(**_: Any) -> tuple[_Answer, dict[str, Any]] | None:
        if conflicts["left"] == 0:
            return None  # the real call
        conflicts["left"] -= 1
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]
        error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
        body = {"Error": error, "CancellationReasons": reasons}
        return _Answer(400), {**body, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client = await moto_stack.aws.dynamodb()
    client.meta.events.register("before-call.dynamodb.TransactWriteItems", answer)
    try:
        repo = DynamoJobRepository(client, moto_stack.spec.table)
        created = await repo.create_job(user_id="racer", request=REQUEST, running_cap=2)
        assert created.created and await repo.running_jobs("racer") == 1
        conflicts["left"] = 100
        with pytest.raises(RepositoryUnavailable):
            await repo.create_job(user_id="racer", request=REQUEST, running_cap=2)
        assert conflicts["left"] > 90 and await repo.running_jobs("racer") == 1
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", answer)


async def test_a_failed_job_reopens_once_as_its_next_attempt(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="retrier", request=REQUEST, running_cap=2)).job
    await repo.update_job_stage_with_metadata(job.job_id, "scene_2_generating", {"kept": 1})
    failed = await repo.mark_job_failed(job.job_id, "rendering was interrupted 4 times")
    assert await repo.running_jobs("retrier") == 0
    # two retries at once: one reopens, the other finds the attempt started
    outcomes = await asyncio.gather(
        repo.reopen_job(failed, running_cap=2),
        repo.reopen_job(failed, running_cap=2),
        return_exceptions=True,
    )
    reopened = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(reopened) == 1 and all(isinstance(o, JobNotRetryable) for o in refused)
    again = await repo.get_job(job.job_id)
    assert again.status is JobStatus.PROCESSING and again.stage == "scene_2_generating"
    assert again.attempt == 2 and again.error_message is None and again.completed_at is None
    assert again.attempts[0]["error_message"] == "rendering was interrupted 4 times"
    assert again.attempts[0]["stage"] == "scene_2_generating"
    assert again.metadata["kept"] == 1 and again.leases == {}
    assert again.holds_running_slot and await repo.running_jobs("retrier") == 1
    assert again.event_subject != job.event_subject  # the attempt's events are new events
    # the attempt owes its announcement, as a created job does: the sweeper finds it
    assert again.outbox == OUTBOX_EVENT and not again.announced
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == [job.job_id]
    announced = await repo.record_published(job.job_id, again.published_key("script.ready"), "e")
    assert announced.outbox is None and announced.announced
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == []
    await repo.mark_job_complete(job.job_id, "jobs/x/renders/r/video.mp4")
    assert await repo.running_jobs("retrier") == 0  # released once, by the attempt's end
    with pytest.raises(JobNotRetryable, match="it completed"):
        await repo.reopen_job(await repo.get_job(job.job_id))


async def test_a_running_job_is_not_retried_and_a_retry_respects_the_cap(
    new_repository: NewRepository,
) -> None:
    repo = new_repository()
    running = (await repo.create_job(user_id="capped", request=REQUEST, running_cap=1)).job
    with pytest.raises(JobNotRetryable, match="still running"):
        await repo.reopen_job(running)
    failed = await repo.mark_job_failed(running.job_id, "the model refused")
    await repo.create_job(user_id="capped", request=REQUEST, running_cap=1)  # takes the slot
    with pytest.raises(RunningJobsLimit):
        await repo.reopen_job(failed, running_cap=1)
    assert (await repo.get_job(running.job_id)).status is JobStatus.FAILED  # nothing changed


# -- usage: counted by the create (jobs, requested seconds, quota) and by the completion -------


async def test_concurrent_creates_never_pass_the_monthly_quota(
    new_repository: NewRepository,
) -> None:
    repo, user = new_repository(), f"quota-{uuid.uuid4().hex[:6]}"
    results = await asyncio.gather(
        *(
            repo.create_job(
                user_id=user, request=REQUEST, idempotency_key=f"k{i}", video_quota_s=100
            )
            for i in range(12)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, MonthlyQuotaExceeded)]
    assert (len(created), len(refused)) == (3, 9), results  # 3 x 30 s fit in 100 s
    assert all(r.limit_s == 100 and r.asked_s == 30 for r in refused)
    month = usage_month(time.time())
    totals = await repo.monthly_usage(user, month)
    assert (totals.jobs, totals.requested_seconds, totals.month) == (3, 90, month)
    # a replay at the quota gets its job and counts nothing; a shorter job still fits
    # (the key of a create that won: which ones won depends on the race)
    won = created[0].job
    assert won.idempotency_key is not None
    replay = await repo.create_job(
        user_id=user, request=REQUEST, idempotency_key=won.idempotency_key, video_quota_s=100
    )
    assert not replay.created and replay.job.job_id == won.job_id
    short = REQUEST.model_copy(update={"duration": 10})
    assert (await repo.create_job(user_id=user, request=short, video_quota_s=100)).created
    with pytest.raises(MonthlyQuotaExceeded):
        await repo.create_job(user_id=user, request=short, video_quota_s=100)
    over = REQUEST.model_copy(update={"duration": 60})
    with pytest.raises(MonthlyQuotaExceeded):  # more than the whole quota, on a fresh user
        await repo.create_job(user_id=f"{user}-new", request=over, video_quota_s=50)
    assert (await repo.monthly_usage(user, month)).requested_seconds == 100
    assert (await repo.monthly_usage(f"{user}-new", month)).jobs == 0


async def test_a_completion_adds_its_usage_to_the_month_exactly_once(
    new_repository: NewRepository,
) -> None:
    repo, user = new_repository(), f"usage-{uuid.uuid4().hex[:6]}"
    job = (await repo.create_job(user_id=user, request=REQUEST)).job
    other = (await repo.create_job(user_id=user, request=REQUEST)).job
    used = JobUsage(
        llm_calls=1, llm_tokens_in=1200, llm_tokens_out=800, clip_calls=3, clip_seconds=30,
        speech_calls=3, speech_characters=420, music_calls=1, music_seconds=30,
    ).costed(DEFAULT_PRICE_TABLE, video_seconds=29.5)  # fmt: skip
    assert used.cost_usd > 0 and used.price_version == DEFAULT_PRICE_TABLE.version
    await repo.mark_job_complete(job.job_id, "jobs/x/video.mp4", usage=used)
    with pytest.raises(JobAlreadyFinished):  # a redelivered completion adds nothing
        await repo.mark_job_complete(job.job_id, "jobs/x/video.mp4", usage=used)
    await repo.mark_job_failed(other.job_id, "provider down")  # a failure adds no use
    stored = (await repo.get_job(job.job_id)).usage
    assert stored == used
    totals = await repo.monthly_usage(user, usage_month(job.created_at))
    assert (totals.jobs, totals.requested_seconds, totals.completed_jobs) == (2, 60, 1)
    assert (totals.video_seconds, totals.clip_seconds, totals.music_seconds) == (29.5, 30, 30)
    assert (totals.llm_tokens_in, totals.llm_tokens_out, totals.speech_characters) == (
        1200,
        800,
        420,
    )
    assert totals.cost_usd == pytest.approx(used.cost_usd, abs=1e-9)
    assert await repo.running_jobs(user) == 0
    nothing = await repo.monthly_usage(user, "1999-01")
    assert (nothing.jobs, nothing.cost_usd, nothing.month) == (0, 0, "1999-01")


async def test_a_create_counts_its_rate_window_in_the_same_write(
    new_repository: NewRepository,
) -> None:
    repo, user = new_repository(), f"rate-{uuid.uuid4().hex[:6]}"
    window = current_window(user, limit=2, window_s=3600, now=time.time())
    first = await repo.create_job(user_id=user, request=REQUEST, idempotency_key="a", rate=window)
    await repo.create_job(user_id=user, request=REQUEST, rate=window)
    with pytest.raises(RateWindowFull) as refused:
        await repo.create_job(user_id=user, request=REQUEST, rate=window)
    assert 0 < refused.value.retry_after_s <= 3600
    # a replay returns its job even with the window full, and a refusal counted nothing
    again = await repo.create_job(user_id=user, request=REQUEST, idempotency_key="a", rate=window)
    assert again.job.job_id == first.job.job_id and not again.created
    assert (await repo.monthly_usage(user, usage_month(time.time()))).jobs == 2
    assert await repo.running_jobs(user) == 2


async def test_pieces_finishing_at_once_are_each_recorded_once_and_ready_once(
    new_repository: NewRepository,
) -> None:
    """Six scenes and the audio recorded concurrently (each piece twice, as a duplicate
    delivery would): one conditional write per piece wins, exactly one write is the last one
    ("ready to compose"), and the stage only moves forward to composing."""
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.record_piece(
        job.job_id,
        stage="scene_1_generating",
        metadata=plan_metadata(6, Continuity.NONE),
        expect={"pieces_missing": None},
    )
    planned = await repo.get_job(job.job_id)
    pieces = [*range(1, 7), AUDIO]
    readies = await asyncio.gather(
        *(
            record_finished_piece(repo, planned, n, f"jobs/{job.job_id}/piece-{n}")
            for n in pieces * 2
        )
    )
    assert sum(readies) == 1
    final = await repo.get_job(job.job_id)
    state = RenderState.of(final.metadata)
    assert state is not None and state.ready and state.done == 6
    assert {n: state.piece(n).key for n in pieces} == {
        n: f"jobs/{job.job_id}/piece-{n}" for n in pieces
    }
    assert final.stage == "composing"
    with pytest.raises(PieceRaced):  # planned already: a second plan is refused
        await repo.record_piece(
            job.job_id, stage=None, metadata={"pieces_missing": 7}, expect={"pieces_missing": None}
        )


async def test_pieces_recorded_by_their_own_state_at_once_see_the_last_once(
    new_repository: NewRepository,
) -> None:
    """Six keyframes recorded concurrently, each twice (a duplicate delivery), each write
    expecting only its own state and reading the job it left: one write per keyframe (no
    sibling races another), every duplicate refused, exactly one write sees them all."""
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    names = [f"scene_{n}_keyframe_state" for n in range(1, 7)]

    async def record(name: str) -> bool | None:
        try:
            written = await repo.record_and_read_piece(
                job.job_id, metadata={name: "complete"}, expect={name: None}
            )
        except PieceRaced:
            return None
        return all(written.metadata.get(other) == "complete" for other in names)

    seen_all = await asyncio.gather(*(record(name) for name in names * 2))
    assert seen_all.count(None) == 6  # every duplicate refused
    assert seen_all.count(True) == 1 and seen_all.count(False) == 5
    await repo.mark_job_failed(job.job_id, "cancelled")
    with pytest.raises(JobAlreadyFinished):
        await repo.record_and_read_piece(job.job_id, metadata={"x": 1}, expect={})


async def test_a_piece_of_a_cancelled_job_is_refused(new_repository: NewRepository) -> None:
    repo = new_repository()
    job = (await repo.create_job(user_id="u", request=REQUEST)).job
    await repo.record_piece(
        job.job_id, stage=None, metadata=plan_metadata(2, Continuity.CHAIN), expect={}
    )
    planned = await repo.get_job(job.job_id)
    await repo.mark_job_failed(job.job_id, "cancelled")
    with pytest.raises(JobAlreadyFinished):
        await record_finished_piece(repo, planned, 1, "k")


# -- versions: the start counts the version (and holds the quota); the completion its use -----


async def test_a_version_start_is_one_write_that_counts_it_and_holds_the_quota(
    new_repository: NewRepository, sample_script: Script
) -> None:
    repo, user = new_repository(), f"version-{uuid.uuid4().hex[:6]}"
    request = REQUEST.model_copy(update={"duration": 15})
    job = (await repo.create_job(user_id=user, request=request)).job
    await repo.update_job_stage_with_metadata(job.job_id, "script_generating")
    await repo.embed_script(job.job_id, sample_script, {"scene_count": 2})
    plan = plan_metadata(2, Continuity.NONE, reused={1: "jobs/c1.mp4", 2: "jobs/c2.mp4"})
    plan.update(audio_state="complete", audio_key="jobs/a.tar", pieces_missing=0)
    await repo.record_piece(job.job_id, stage="composing", metadata=plan, expect={})
    await repo.mark_job_complete(job.job_id, "jobs/x/renders/r1/video.mp4")
    completed = await repo.get_job(job.job_id)
    start = plan_regeneration(completed, 2, SceneChanges(), now=time.time(), request_id="k")
    assert start.requested_seconds == 8  # scene 2's 7.5 s, rounded up

    # two starts of the same version at once: one applies, the other is refused by its
    # condition; only the one that applied counts
    lease = LeaseClaim("publish_accepted", "starter", 10.0)
    outcomes = await asyncio.gather(
        repo.start_version(completed, start, lease=lease, video_quota_s=23),
        repo.start_version(completed, start, lease=lease, video_quota_s=23),
        return_exceptions=True,
    )
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(started) == 1 and any(isinstance(o, VersionRaced) for o in outcomes), outcomes
    (job_v2,) = started
    assert (job_v2.render_version, job_v2.status) == (2, JobStatus.PROCESSING)
    assert job_v2.outbox == OUTBOX_EVENT and not job_v2.announced  # owes its work items
    assert job_v2.lease_holder("publish_accepted", time.time()) == "starter"
    month = usage_month(time.time())
    totals = await repo.monthly_usage(user, month)
    assert (totals.jobs, totals.versions, totals.requested_seconds) == (1, 1, 23)
    recorded = await repo.record_published(job.job_id, job_v2.announcement_key, "e-v2")
    assert recorded.outbox is None and recorded.announced
    assert await repo.unannounced_jobs(created_before=time.time() + 60) == []

    used = JobUsage(clip_calls=1, clip_seconds=7.5).costed(DEFAULT_PRICE_TABLE, video_seconds=7.5)
    counted = VersionUsage(month, used)
    await repo.mark_job_complete(job.job_id, "jobs/x/renders/r2/video.mp4", version_usage=counted)
    with pytest.raises(JobAlreadyFinished):  # a redelivered completion adds nothing
        await repo.mark_job_complete(job.job_id, "jobs/x/v.mp4", version_usage=counted)
    done = await repo.monthly_usage(user, month)
    assert (done.completed_versions, done.completed_jobs) == (1, 0)
    assert (done.clip_seconds, done.video_seconds) == (7.5, 7.5)
    assert done.cost_usd == pytest.approx(used.cost_usd, abs=1e-9)
    assert (await repo.get_job(job.job_id)).usage is None  # the job keeps its first render's

    # at the quota the next start is refused, and nothing changes
    v2 = await repo.get_job(job.job_id)
    nxt = plan_regeneration(v2, 1, SceneChanges(), now=time.time(), request_id="k2")
    with pytest.raises(MonthlyQuotaExceeded):
        await repo.start_version(v2, nxt, video_quota_s=23)
    after = await repo.get_job(job.job_id)
    assert (after.render_version, after.status) == (2, JobStatus.COMPLETED)
    assert await repo.monthly_usage(user, month) == done
