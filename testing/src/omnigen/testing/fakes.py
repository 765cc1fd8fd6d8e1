"""In-memory fakes of the ports, for handler unit tests. The job repository enforces the
domain's rules (`Job.refusal`, `Job.creation_conflict`, `Job.lease_released_by`, the id and
cursor rules of `omnigen.shared.domain.rules`) rather than restating them, and the repository
contract suite (tests/integration/test_repository.py) holds it and the real adapter to the same
behaviour."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from omnigen.shared.adapters.codec import from_dynamo_value, to_dynamo_value
from omnigen.shared.domain.errors import (
    JobNotFound,
    JobNotRetryable,
    LeaseLost,
    NotInReview,
    PieceRaced,
    RateWindowFull,
    ScriptChanged,
)
from omnigen.shared.domain.events import Event
from omnigen.shared.domain.jobs import OUTBOX_EVENT, Job, JobRequest, LeaseClaim
from omnigen.shared.domain.rules import (
    RateWindow,
    admit_quota,
    admit_running,
    check_page_limit,
    decode_cursor,
    encode_cursor,
    new_job_id,
)
from omnigen.shared.domain.scripts import AudioSpec, Scene, Script
from omnigen.shared.domain.stages import (
    AWAITING_REVIEW,
    COMPLETED,
    SCRIPT_APPROVED,
    SCRIPT_COMPLETE,
    JobStatus,
    stage_seq,
    status_for_stage,
)
from omnigen.shared.domain.usage import (
    COUNTED_FIELDS,
    JobUsage,
    MonthlyUsage,
    VersionUsage,
    usage_month,
)
from omnigen.shared.domain.versions import VersionRaced, VersionStart
from omnigen.shared.ports import CreatedJob, JobPage


class InMemoryJobRepository:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.jobs: dict[str, Job] = {}
        self.running: dict[str, int] = {}  # user id -> jobs holding a running slot
        self.usage: dict[tuple[str, str], MonthlyUsage] = {}  # (user id, YYYY-MM) -> totals
        self.rate_hits: dict[str, int] = {}  # rate window key -> requests counted
        self._lock = asyncio.Lock()
        self._clock = clock

    async def create_job(
        self,
        *,
        user_id: str,
        request: JobRequest,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        lease: LeaseClaim | None = None,
        running_cap: int | None = None,
        video_quota_s: int | None = None,
        rate: RateWindow | None = None,
    ) -> CreatedJob:
        async with self._lock:
            job_id = new_job_id(user_id, idempotency_key)
            existing = self.jobs.get(job_id)
            if existing is not None:
                conflict = existing.creation_conflict(user_id, request, idempotency_key or "")
                if conflict is not None:
                    raise conflict
                return CreatedJob(existing, created=False)
            if rate is not None and self.rate_hits.get(rate.key, 0) >= rate.limit:
                raise RateWindowFull(rate.retry_after_s)
            admit_running(user_id, self.running.get(user_id, 0), running_cap)
            now = self._clock()
            month = usage_month(now)
            totals = self.usage.setdefault((user_id, month), MonthlyUsage(month=month))
            admit_quota(user_id, month, totals.requested_seconds, request.duration, video_quota_s)
            job = Job.new(
                job_id=job_id,
                user_id=user_id,
                request=request,
                idempotency_key=idempotency_key,
                trace_id=trace_id,
                now=now,
                lease=lease,
            )
            self.jobs[job_id] = job
            self.running[user_id] = self.running.get(user_id, 0) + 1
            self.usage[(user_id, month)] = totals.model_copy(
                update={
                    "jobs": totals.jobs + 1,
                    "requested_seconds": totals.requested_seconds + request.duration,
                }
            )
            if rate is not None:
                self.rate_hits[rate.key] = self.rate_hits.get(rate.key, 0) + 1
            return CreatedJob(job, created=True)

    async def monthly_usage(self, user_id: str, month: str) -> MonthlyUsage:
        return self.usage.get((user_id, month), MonthlyUsage(month=month))

    async def running_jobs(self, user_id: str) -> int:
        return self.running.get(user_id, 0)

    async def get_job(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise JobNotFound(job_id)
        return self.jobs[job_id]

    async def get_jobs(self, job_ids: Collection[str]) -> dict[str, Job]:
        return {i: self.jobs[i] for i in set(job_ids) if i in self.jobs}

    async def get_jobs_by_user(
        self,
        user_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: JobStatus | None = None,
    ) -> JobPage:
        check_page_limit(limit)
        position = decode_cursor(cursor, user_id) if cursor else None
        mine = sorted(
            (
                job
                for job in self.jobs.values()
                if job.user_id == user_id
                and (status is None or job.status is status)
                and (position is None or position.admits(job))
            ),
            key=lambda j: (j.created_at, j.job_id),
            reverse=True,
        )
        page = mine[:limit]
        more = len(mine) > limit
        return JobPage(page, encode_cursor(user_id, page[-1]) if more else None)

    async def count_jobs(
        self, user_id: str, *, statuses: Collection[JobStatus], created_after: float
    ) -> int:
        return sum(
            1
            for job in self.jobs.values()
            if job.user_id == user_id and job.status in statuses and job.created_at > created_after
        )

    async def update_job_stage_with_metadata(
        self, job_id: str, stage: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        if stage == COMPLETED:
            raise ValueError("use mark_job_complete to complete a job")
        await self._write(job_id, stage, metadata, {})

    async def record_piece(
        self,
        job_id: str,
        *,
        stage: str | None,
        metadata: Mapping[str, Any],
        expect: Mapping[str, Any],
    ) -> None:
        await self._write(job_id, stage, metadata, {}, expect=expect)

    async def record_and_read_piece(
        self, job_id: str, *, metadata: Mapping[str, Any], expect: Mapping[str, Any]
    ) -> Job:
        return await self._write(job_id, None, metadata, {}, expect=expect)

    async def embed_script(
        self,
        job_id: str,
        script: Script,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        stage: str = SCRIPT_COMPLETE,
    ) -> None:
        fields: dict[str, Any] = {"usage": usage} if usage is not None else {}
        stored = await self._write(job_id, stage, metadata, fields | _script_fields(script))
        if stage == AWAITING_REVIEW and stored.running_slot:  # waits for a person: no slot
            async with self._lock:
                self.running[stored.user_id] -= 1
                self.jobs[job_id] = stored.model_copy(update={"running_slot": False})

    async def replace_script(self, job_id: str, script: Script, *, version: int) -> Job:
        async with self._lock:
            job = self._in_review(job_id)
            if job.version != version:
                raise ScriptChanged(job_id)
            return self._store(job, **_script_fields(script))

    async def approve_review(
        self, job: Job, lease: LeaseClaim, *, running_cap: int | None = None
    ) -> Job:
        async with self._lock:
            current = self._in_review(job.job_id)
            if not current.running_slot:
                admit_running(job.user_id, self.running.get(job.user_id, 0), running_cap)
                self.running[job.user_id] = self.running.get(job.user_id, 0) + 1
            return self._store(
                current,
                running_slot=True,
                stage=SCRIPT_APPROVED,
                stage_seq=stage_seq(SCRIPT_APPROVED),
                status=status_for_stage(SCRIPT_APPROVED),
                outbox=OUTBOX_EVENT,
                leases={**current.leases, lease.step: lease.record(self._clock())},
            )

    def _in_review(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if not job.in_review:
            raise NotInReview(job_id, job.stage, job.status.value)
        return job

    async def mark_job_complete(
        self,
        job_id: str,
        video_key: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        version_usage: VersionUsage | None = None,
    ) -> None:
        fields: dict[str, Any] = {"video_key": video_key, "completed_at": self._clock()}
        if usage is not None:
            fields["usage"] = usage
        job = await self._write(job_id, COMPLETED, metadata, fields)  # refused: nothing added
        if usage is not None:
            self._count_usage(job.user_id, usage_month(job.created_at), usage, "completed_jobs")
        if version_usage is not None:
            self._count_usage(
                job.user_id, version_usage.month, version_usage.usage, "completed_versions"
            )

    def _count_usage(self, user_id: str, month: str, usage: JobUsage, completed: str) -> None:
        totals = self.usage.get((user_id, month), MonthlyUsage(month=month))
        added = {name: getattr(totals, name) + getattr(usage, name) for name in COUNTED_FIELDS}
        added[completed] = getattr(totals, completed) + 1
        added["cost_usd"] = round(totals.cost_usd + usage.cost_usd, 6)
        self.usage[(user_id, month)] = totals.model_copy(update=added)

    async def mark_job_failed(self, job_id: str, error_message: str) -> Job:
        fields = {
            "status": JobStatus.FAILED,
            "error_message": error_message[:2000],
            "completed_at": self._clock(),
        }
        return await self._write(job_id, None, None, fields)

    async def reopen_job(
        self, job: Job, *, running_cap: int | None = None, lease: LeaseClaim | None = None
    ) -> Job:
        async with self._lock:
            refusal = job.retry_refusal()
            if refusal is not None:
                raise refusal
            current = await self.get_job(job.job_id)
            if current.retry_refusal() is not None or current.attempt != job.attempt:
                raise current.retry_refusal() or JobNotRetryable(
                    job.job_id, f"attempt {current.attempt} was started already"
                )
            admit_running(job.user_id, self.running.get(job.user_id, 0), running_cap)
            self.running[job.user_id] = self.running.get(job.user_id, 0) + 1
            return self._store(current, **current.reopened(self._clock(), lease))

    async def record_published(self, job_id: str, event_type: str, event_id: str) -> Job:
        async with self._lock:
            job = await self.get_job(job_id)
            return self._store(
                job,
                published={**job.published, event_type: event_id},
                outbox=job.outbox_after(published=event_type),
            )

    async def unannounced_jobs(self, *, created_before: float, limit: int = 100) -> list[str]:
        check_page_limit(limit)
        owing = sorted(
            (job for job in self.jobs.values() if job.owes_announcement(created_before)),
            key=lambda job: (job.created_at, job.job_id),
        )
        return [job.job_id for job in owing[:limit]]

    async def acquire_lease(
        self,
        job_id: str,
        step: str,
        holder: str,
        seconds: float,
        *,
        stage: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Job:
        return await self._write(
            job_id, stage, metadata, {}, claim=LeaseClaim(step, holder, seconds, message)
        )

    async def renew_lease(self, job_id: str, step: str, holder: str, seconds: float) -> None:
        async with self._lock:
            job = await self.get_job(job_id)
            if not job.lease_released_by(step, holder):
                if job.is_terminal:
                    return
                raise LeaseLost(job_id, step, holder)
            lease = {**job.leases[step], "until": self._clock() + seconds}
            self._store(job, leases={**job.leases, step: lease})

    async def release_lease(self, job_id: str, step: str, holder: str) -> None:
        async with self._lock:
            job = self.jobs.get(job_id)
            if job is not None and job.lease_released_by(step, holder):
                self._store(job, leases={k: v for k, v in job.leases.items() if k != step})

    async def start_version(
        self,
        job: Job,
        start: VersionStart,
        *,
        lease: LeaseClaim | None = None,
        video_quota_s: int | None = None,
    ) -> Job:
        async with self._lock:
            current = await self.get_job(job.job_id)
            if (
                current.status is not start.from_status
                or current.render_version != start.version - 1
            ):
                raise VersionRaced(current)
            now = self._clock()
            month = usage_month(now)
            totals = self.usage.get((job.user_id, month), MonthlyUsage(month=month))
            asked = start.requested_seconds
            admit_quota(job.user_id, month, totals.requested_seconds, asked, video_quota_s)
            self.usage[(job.user_id, month)] = totals.model_copy(
                update={
                    "versions": totals.versions + 1,
                    "requested_seconds": totals.requested_seconds + asked,
                }
            )
            return self._store(
                current,
                status=JobStatus.PROCESSING,
                stage=start.stage,
                stage_seq=stage_seq(start.stage),
                render_version=start.version,
                versions=start.records,
                scenes=[Scene.model_validate(scene) for scene in start.scenes],
                audio_spec=AudioSpec.model_validate(start.audio_spec),
                metadata=self._merged(current, start.metadata),
                leases={lease.step: lease.record(now)} if lease else {},
                outbox=OUTBOX_EVENT,
                video_key=None,
                completed_at=None,
                error_message=None,
            )

    async def delete_job(self, job_id: str) -> None:
        if self.jobs.pop(job_id, None) is None:
            raise JobNotFound(job_id)

    async def _write(
        self,
        job_id: str,
        stage: str | None,
        metadata: Mapping[str, Any] | None,
        fields: dict[str, Any],
        *,
        claim: LeaseClaim | None = None,
        expect: Mapping[str, Any] | None = None,
    ) -> Job:
        """One write as the store applies it: refused by `Job.refusal` (or a changed `expect`
        value of `metadata`), else applied whole."""
        async with self._lock:
            job = await self.get_job(job_id)
            now = self._clock()
            refusal = job.refusal(stage=stage, claim=claim, now=now)
            if refusal is not None:
                raise refusal
            if any(job.metadata.get(k) != v for k, v in (expect or {}).items()):
                raise PieceRaced(job_id, job)
            changes: dict[str, Any] = {"metadata": self._merged(job, metadata)}
            if stage is not None:
                changes.update(
                    stage=stage, stage_seq=stage_seq(stage), status=status_for_stage(stage)
                )
            if claim is not None:
                changes["leases"] = {**job.leases, claim.step: claim.record(now)}
            stored = self._store(job, **changes, **fields)
            if job.holds_running_slot and stored.is_terminal:  # the terminal write releases
                self.running[job.user_id] -= 1
                stored = self.jobs[job_id] = stored.model_copy(update={"running_slot": False})
            if stored.outbox != stored.outbox_after():  # an end settles the outbox
                outbox = stored.outbox_after()
                stored = self.jobs[job_id] = stored.model_copy(update={"outbox": outbox})
            return stored

    @staticmethod
    def _merged(job: Job, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**job.metadata, **from_dynamo_value(to_dynamo_value(dict(metadata or {})))}

    def _store(self, job: Job, **changes: Any) -> Job:
        updated = job.model_copy(
            update={**changes, "updated_at": self._clock(), "version": job.version + 1}
        )
        self.jobs[job.job_id] = Job.model_validate(updated.model_dump())
        return self.jobs[job.job_id]


def _script_fields(script: Script) -> dict[str, Any]:
    return {
        "title": script.title,
        "scenes": list(script.scenes),
        "audio_spec": script.audio_spec,
        "script_metadata": script.metadata,
    }


class RecordingPublisher:
    """Keeps every published event, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> str:
        self.events.append(event)
        return uuid.uuid4().hex

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e.event_type.value == event_type]


class InMemoryAssetStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.objects[key] = await asyncio.to_thread(path.read_bytes)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data

    async def get_file(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise FileNotFoundError(key)
        await asyncio.to_thread(path.write_bytes, self.objects[key])

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def presigned_url(self, key: str, expires_in: int = 900) -> str:
        return f"memory://{key}?expires_in={expires_in}"

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for key in doomed:
            del self.objects[key]
        return len(doomed)

    async def list_keys(self, prefix: str) -> AsyncIterator[str]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield key
