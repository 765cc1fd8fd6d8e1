"""In-memory fakes of the ports, for handler unit tests. They keep the same rules as the real
adapters (idempotent create, monotonic stages, final terminal states, merged metadata, leases);
integration tests hold the real adapters to the same behaviour."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from typing import Any

from omnigen.shared.adapters.codec import from_dynamo_value, to_dynamo_value
from omnigen.shared.adapters.dynamodb import job_id_for_key
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    JobAlreadyFinished,
    JobNotFound,
    LeaseHeld,
    StageRegression,
)
from omnigen.shared.domain.events import Event
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import (
    COMPLETED,
    SCRIPT_COMPLETE,
    JobStatus,
    stage_seq,
    status_for_stage,
)
from omnigen.shared.ports import CreatedJob, JobPage, LeaseClaim


class InMemoryJobRepository:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._lock = asyncio.Lock()

    async def create_job(
        self,
        *,
        user_id: str,
        request: JobRequest,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        lease: LeaseClaim | None = None,
    ) -> CreatedJob:
        async with self._lock:
            job_id = (
                job_id_for_key(user_id, idempotency_key) if idempotency_key else uuid.uuid4().hex
            )
            job = Job.new(
                job_id=job_id,
                user_id=user_id,
                request=request,
                idempotency_key=idempotency_key,
                trace_id=trace_id,
            )
            existing = self.jobs.get(job_id)
            if existing is not None:
                if existing.request_hash != job.request_hash or existing.user_id != user_id:
                    raise IdempotencyConflict(idempotency_key or "", job_id)
                return CreatedJob(existing, created=False)
            if lease is not None:
                job = job.model_copy(update={"leases": {lease.step: lease.record(time.time())}})
            self.jobs[job_id] = job
            return CreatedJob(job, created=True)

    async def get_job(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise JobNotFound(job_id)
        return self.jobs[job_id]

    async def get_jobs_by_user(
        self,
        user_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: JobStatus | None = None,
    ) -> JobPage:
        mine = sorted(
            (j for j in self.jobs.values() if j.user_id == user_id),
            key=lambda j: (j.created_at, j.job_id),
            reverse=True,
        )
        if status is not None:
            mine = [j for j in mine if j.status is status]
        start = 0
        if cursor:
            ids = [j.job_id for j in mine]
            start = ids.index(cursor) + 1 if cursor in ids else len(ids)
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return JobPage(page, page[-1].job_id if more and page else None)

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
        await self._advance(job_id, stage, metadata, {})

    async def embed_script(
        self, job_id: str, script: Script, metadata: Mapping[str, Any] | None = None
    ) -> None:
        fields = {
            "title": script.title,
            "scenes": list(script.scenes),
            "audio_spec": script.audio_spec,
            "script_metadata": script.metadata,
        }
        await self._advance(job_id, SCRIPT_COMPLETE, metadata, fields)

    async def mark_job_complete(
        self, job_id: str, video_key: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        now = time.time()
        fields = {"video_key": video_key, "completed_at": now, "status": JobStatus.COMPLETED}
        await self._advance(job_id, COMPLETED, metadata, fields)

    async def mark_job_failed(self, job_id: str, error_message: str) -> Job:
        async with self._lock:
            job = self._active(job_id)
            now = time.time()
            return self._store(
                job,
                status=JobStatus.FAILED,
                error_message=error_message[:2000],
                completed_at=now,
            )

    async def record_published(self, job_id: str, event_type: str, event_id: str) -> Job:
        async with self._lock:
            job = await self.get_job(job_id)
            return self._store(job, published={**job.published, event_type: event_id})

    async def acquire_lease(
        self,
        job_id: str,
        step: str,
        holder: str,
        seconds: float,
        *,
        stage: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Job:
        async with self._lock:
            job = self._active(job_id)
            lease = job.leases.get(step)
            now = time.time()
            if lease and lease["until"] >= now and lease["holder"] != holder:
                raise LeaseHeld(job_id, step, lease["holder"], lease["until"])
            leases = {**job.leases, step: LeaseClaim(step, holder, seconds).record(now)}
            if stage is None:
                return self._store(job, leases=leases, metadata=self._merged(job, metadata))
            return self._advance_locked(job, stage, metadata, {"leases": leases})

    async def release_lease(self, job_id: str, step: str, holder: str) -> None:
        async with self._lock:
            job = await self.get_job(job_id)
            if job.leases.get(step, {}).get("holder") == holder:
                leases = {k: v for k, v in job.leases.items() if k != step}
                self._store(job, leases=leases)

    async def delete_job(self, job_id: str) -> None:
        if self.jobs.pop(job_id, None) is None:
            raise JobNotFound(job_id)

    async def _advance(
        self,
        job_id: str,
        stage: str,
        metadata: Mapping[str, Any] | None,
        fields: dict[str, Any],
    ) -> Job:
        async with self._lock:
            return self._advance_locked(self._active(job_id), stage, metadata, fields)

    def _advance_locked(
        self,
        job: Job,
        stage: str,
        metadata: Mapping[str, Any] | None,
        fields: dict[str, Any],
    ) -> Job:
        if job.stage_seq > stage_seq(stage):
            raise StageRegression(job.job_id, stage, job.stage, job=job)
        return self._store(
            job,
            stage=stage,
            stage_seq=stage_seq(stage),
            status=fields.pop("status", status_for_stage(stage)),
            metadata=self._merged(job, metadata),
            **fields,
        )

    def _active(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise JobNotFound(job_id)
        job = self.jobs[job_id]
        if job.is_terminal:
            raise JobAlreadyFinished(job_id, job.status.value, job.error_message, job=job)
        return job

    @staticmethod
    def _merged(job: Job, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**job.metadata, **from_dynamo_value(to_dynamo_value(dict(metadata or {})))}

    def _store(self, job: Job, **changes: Any) -> Job:
        updated = job.model_copy(
            update={**changes, "updated_at": time.time(), "version": job.version + 1}
        )
        self.jobs[job.job_id] = Job.model_validate(updated.model_dump())
        return self.jobs[job.job_id]


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
