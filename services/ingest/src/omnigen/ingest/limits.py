"""Per-user limits: a request rate (token bucket, per process) and a cap on unfinished jobs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.ports import JobRepository

_ACTIVE: Final = (JobStatus.PENDING, JobStatus.PROCESSING)


class LimitExceeded(Exception):
    """The user is over a limit; `retry_after_s` says when trying again makes sense."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per user: `burst` requests at once, refilled at `per_minute`. In memory, so
    behind N ingest tasks the effective limit is N times this (the load balancer spreads users)."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._max_users = max_users
        self._buckets: dict[str, _Bucket] = {}

    def check(self, user_id: str) -> None:
        """Take one token for `user_id`, or raise `LimitExceeded` with the wait in seconds."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._max_users:
                self._forget_full(now)
            bucket = self._buckets[user_id] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = max(1, math.ceil((1.0 - bucket.tokens) / self._rate))
            raise LimitExceeded("too many requests; slow down", retry_after_s=wait)
        bucket.tokens -= 1.0

    def _forget_full(self, now: float) -> None:
        """Drop users whose bucket has refilled: forgetting them changes nothing."""
        refill_s = self._burst / self._rate
        self._buckets = {user: b for user, b in self._buckets.items() if now - b.updated < refill_s}


async def count_running_jobs(
    repository: JobRepository, user_id: str, *, window_s: float, now: float | None = None
) -> int:
    """Unfinished jobs of `user_id` created within `window_s`: one count query bounded by the
    window, so a long history costs nothing, and a job stuck unfinished for longer than any
    real job stops blocking its owner."""
    oldest = (time.time() if now is None else now) - window_s
    return await repository.count_jobs(user_id, statuses=_ACTIVE, created_after=oldest)
