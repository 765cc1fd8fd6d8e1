"""Server-Sent Events for one job: poll the repository, send an event at each stage or status
change, a final `completed` or `failed` event and then close; comments keep proxies open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from omnigen.shared.domain.errors import JobNotFound
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


def snapshot(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "stage": job.stage,
        "progress": job.progress,
        "error_message": job.error_message,
    }


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
    last: tuple[str, str] | None = None
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
            if (job.status.value, job.stage) != last:
                last = (job.status.value, job.stage)
                yield format_event(event_name(job), snapshot(job), str(job.version))
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
