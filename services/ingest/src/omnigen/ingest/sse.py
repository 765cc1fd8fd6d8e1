"""Server-Sent Events for one job: poll the repository, send an event at each stage or status
change, a final `completed` or `failed` event and then close; comments keep proxies open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from omnigen.shared.domain.errors import JobNotFound
from omnigen.shared.domain.eta import estimated_completion_seconds
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.stages import JobStatus


class TooManyStreams(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} event streams may be open at once")
        self.limit = limit


class StreamSlots:
    """How many event streams each user has open in this process, capped per user."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[str, int] = {}

    def open_count(self, user_id: str) -> int:
        return self._open.get(user_id, 0)

    def take(self, user_id: str) -> Callable[[], None]:
        """A slot for `user_id` (TooManyStreams when all are taken); call the returned
        function to give it back (calling it again does nothing)."""
        if self.open_count(user_id) >= self.per_user:
            raise TooManyStreams(self.per_user)
        self._open[user_id] = self.open_count(user_id) + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if given_back:
                return
            given_back = True
            left = self.open_count(user_id) - 1
            if left > 0:
                self._open[user_id] = left
            else:
                self._open.pop(user_id, None)

        return give_back


@dataclass
class _Watched:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    job: Job | None = None
    interval_s: float = 0.0
    fresh_until: float = 0.0


class SharedJobReads:
    """One read of a job serves every event stream that watches it on this ingest task: a read
    is reused while it is fresh, so reads do not grow with the number of watchers. Freshness
    starts at `base_s` and doubles (up to `max_s`) while the job's stage and status stay the
    same, so a long render is watched with few reads; any change brings it back to `base_s`."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[Job]],
        *,
        base_s: float,
        max_s: float,
        clock: Callable[[], float] = time.monotonic,
        keep: int = 10_000,
    ) -> None:
        self._read = read
        self._base_s = base_s
        self._max_s = max(max_s, base_s)
        self._clock = clock
        self._keep = keep
        self._watched: dict[str, _Watched] = {}
        self.reads = 0  # reads made, for the benchmark and the tests

    async def get(self, job_id: str) -> Job:
        """The job as last read, or as read now when that read is stale (JobNotFound passes)."""
        watched = self._watched.setdefault(job_id, _Watched())
        if watched.job is not None and self._clock() < watched.fresh_until:
            return watched.job
        async with watched.lock:  # the watchers that found it stale share one read
            if watched.job is not None and self._clock() < watched.fresh_until:
                return watched.job
            try:
                job = await self._read(job_id)
            except JobNotFound:
                self._watched.pop(job_id, None)
                raise
            finally:
                self.reads += 1
            previous = watched.job
            same = previous is not None and (previous.status, previous.stage) == (
                job.status,
                job.stage,
            )
            watched.interval_s = min(watched.interval_s * 2, self._max_s) if same else self._base_s
            watched.fresh_until = self._clock() + watched.interval_s
            watched.job = job
        self._forget_stale()
        return job

    def _forget_stale(self) -> None:
        if len(self._watched) <= self._keep:
            return
        now = self._clock()
        for job_id in [j for j, w in self._watched.items() if w.fresh_until < now]:
            del self._watched[job_id]


@dataclass(frozen=True)
class StreamTimings:
    poll_s: float
    heartbeat_s: float
    max_duration_s: float


def format_event(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


def snapshot(job: Job, now: float | None = None) -> dict[str, Any]:
    """What an event says about the job at `now`: where it is, per-scene progress once the
    render is planned, and `estimated_completion_seconds` (omnigen.shared.domain.eta) while
    it runs."""
    now = time.time() if now is None else now
    data: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "stage": job.stage,
        "progress": job.progress,
        "error_message": job.error_message,
        "estimated_completion_seconds": estimated_completion_seconds(job, now),
    }
    if job.render_version > 1:  # a regenerated scene's version (domain.versions)
        data["version"] = job.render_version
    render = job.render_summary(now)
    if render is not None:  # per-scene progress, once the render is planned
        data["scenes"] = [s["state"] for s in render["scenes"]]
        data["scenes_total"] = render["scenes_total"]
        data["scenes_complete"] = render["scenes_complete"]
        data["audio"] = render["audio"]["state"]
        if any(s.get("keyframe") for s in render["scenes"]):  # keyframes continuity
            data["keyframes"] = [(s.get("keyframe") or {}).get("state") for s in render["scenes"]]
    return data


def event_name(job: Job) -> str:
    if job.status is JobStatus.COMPLETED:
        return "completed"
    if job.status is JobStatus.FAILED:
        return "failed"
    return "update"


async def job_events(
    load: Callable[[], Awaitable[Job]],
    timings: StreamTimings,
    stopping: asyncio.Event,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """The stream's text. Ends after the final event, when the job disappears, when the stream
    reached its maximum duration (the client reconnects) or when the process is stopping."""
    began = clock()
    next_poll = began
    next_beat = began + timings.heartbeat_s
    last: str | None = None
    yield "retry: 3000\n\n"
    while not stopping.is_set():
        now = clock()
        if now - began >= timings.max_duration_s:
            yield format_event("reconnect", {"reason": "stream reached its maximum duration"})
            return
        if now >= next_poll:
            next_poll = now + timings.poll_s
            try:
                job = await load()
            except JobNotFound:
                yield format_event("gone", {"reason": "the job no longer exists"})
                return
            data = snapshot(job)
            seen = json.dumps(
                [
                    data["status"],
                    data["stage"],
                    data.get("scenes"),
                    data.get("audio"),
                    data.get("keyframes"),
                ]
            )
            if seen != last:  # a stage moved, a scene (or its keyframe) started or finished
                last = seen
                yield format_event(event_name(job), data, str(job.version))
                next_beat = clock() + timings.heartbeat_s
                if job.is_terminal:
                    return
        if clock() >= next_beat:
            yield ": heartbeat\n\n"
            next_beat = clock() + timings.heartbeat_s
        pause = max(0.0, min(next_poll, next_beat) - clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=pause)
    yield format_event("reconnect", {"reason": "the server is restarting"})
