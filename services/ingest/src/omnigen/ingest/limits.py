"""Per-user request rate limits, behind one small port (`RateLimiter`).

- `WindowRateLimiter`: shared by every ingest task. A fixed window per user of
  `burst / per_minute` minutes admits `burst` requests, counted in the jobs table by one
  conditional write per request (`RateWindows`, e.g. `DynamoRateWindows`): `per_minute`
  sustained, at most `burst` in one window (2 x `burst` across a window boundary).
- `TokenBucketLimiter`: in memory per process (behind N tasks, N times the rate); unit tests.

The cap on unfinished jobs is not here: the create itself decides it (`running_cap`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from omnigen.shared.domain.errors import RepositoryError
from omnigen.shared.domain.rules import RateWindow, current_window

log = structlog.get_logger()


class LimitExceeded(Exception):
    """The user is over a limit; `retry_after_s` says when trying again makes sense."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimiter(Protocol):
    async def check(self, user_id: str) -> None:
        """Count one request of `user_id`, or raise `LimitExceeded` with the wait."""
        ...

    async def deferred(self, user_id: str) -> RateWindow | None:
        """For a request whose own write can count it (a job's create): the window that write
        counts the request in, or None when this limiter counted it here (`check`)."""
        ...


class RateWindows(Protocol):
    async def take(self, key: str, *, limit: int, window_s: float) -> float | None:
        """Count one request of `key` in the current window: None within `limit`, else the
        seconds until the window ends."""
        ...

    def window(self, key: str, *, limit: int, window_s: float) -> RateWindow:
        """The current window of `key`, for a write that counts the request itself."""
        ...


class WindowRateLimiter:
    """`burst` requests per user per window of `burst / per_minute` minutes, in a store every
    ingest task shares. When the store fails, the request passes (logged): the limit protects
    the service, an outage of its counter should not take the API down with it."""

    def __init__(self, windows: RateWindows, *, per_minute: float, burst: int) -> None:
        self._windows = windows
        self._limit = burst
        self.window_s = burst * 60.0 / per_minute

    async def check(self, user_id: str) -> None:
        try:
            wait = await self._windows.take(user_id, limit=self._limit, window_s=self.window_s)
        except RepositoryError as exc:
            log.warning("rate_limit_unchecked", user_id=user_id, error=str(exc))
            return
        if wait is not None:
            raise LimitExceeded("too many requests; slow down", retry_after_s=_seconds(wait))

    async def deferred(self, user_id: str) -> RateWindow | None:
        return self._windows.window(user_id, limit=self._limit, window_s=self.window_s)


class MemoryRateWindows:
    """`RateWindows` in one process's memory (tests)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.hits: dict[tuple[str, int], int] = {}

    async def take(self, key: str, *, limit: int, window_s: float) -> float | None:
        now = self._clock()
        index = math.floor(now / window_s)
        self.hits = {k: n for k, n in self.hits.items() if k[1] >= index}  # past windows go
        if self.hits.get((key, index), 0) >= limit:
            return (index + 1) * window_s - now
        self.hits[(key, index)] = self.hits.get((key, index), 0) + 1
        return None

    def window(self, key: str, *, limit: int, window_s: float) -> RateWindow:
        return current_window(key, limit=limit, window_s=window_s, now=self._clock())


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
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

    async def check(self, user_id: str) -> None:
        self.take(user_id)

    async def deferred(self, user_id: str) -> RateWindow | None:
        self.take(user_id)
        return None

    def take(self, user_id: str) -> None:
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
            raise LimitExceeded(
                "too many requests; slow down",
                retry_after_s=_seconds((1.0 - bucket.tokens) / self._rate),
            )
        bucket.tokens -= 1.0

    def _forget_full(self, now: float) -> None:
        """Drop users whose bucket has refilled: forgetting them changes nothing."""
        refill_s = self._burst / self._rate
        self._buckets = {user: b for user, b in self._buckets.items() if now - b.updated < refill_s}


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
