"""Per-user rate limit and the cap on unfinished jobs: 429 with Retry-After, configurable."""

from __future__ import annotations

import asyncio
import time

import pytest

from omnigen.ingest.limits import (
    LimitExceeded,
    MemoryRateWindows,
    TokenBucketLimiter,
    WindowRateLimiter,
)
from omnigen.shared.domain.errors import RepositoryUnavailable

from .helpers import ApiFactory


async def fresh_window(window_s: float, needed_s: float = 5.0) -> None:
    """Wait, if need be, until the current rate window has `needed_s` left, so a test's burst
    falls in one window."""
    left = window_s - time.time() % window_s
    if left < needed_s:
        await asyncio.sleep(left + 0.05)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("u")
    with pytest.raises(LimitExceeded) as refused:
        limiter.take("u")
    assert refused.value.retry_after_s == 1
    limiter.take("other-user")  # buckets are per user
    clock.now += 1.0
    limiter.take("u")
    with pytest.raises(LimitExceeded):
        limiter.take("u")
    clock.now += 60
    for _ in range(3):
        limiter.take("u")  # refilled to the burst, not beyond


def test_retry_after_reflects_the_refill_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=6, burst=1, clock=clock)
    limiter.take("u")
    with pytest.raises(LimitExceeded) as refused:
        limiter.take("u")
    assert refused.value.retry_after_s == 10


def test_idle_users_are_forgotten_when_the_table_is_full() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=60, burst=2, clock=clock, max_users=3)
    for user in ("a", "b", "c"):
        limiter.take(user)
    clock.now += 10  # everyone refilled
    limiter.take("d")
    assert len(limiter._buckets) == 1


async def test_over_the_rate_limit_is_429_with_retry_after(make_api: ApiFactory) -> None:
    api = await make_api(rate_limit_per_minute=1, rate_limit_burst=3)  # 3 per 180 s window
    await fresh_window(180)
    statuses = []
    for _ in range(3):
        statuses.append((await api.client.get("/v1/jobs", headers=api.auth("alice"))).status_code)
    limited = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    other = await api.client.get("/v1/jobs", headers=api.auth("bob"))

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 180  # when the window ends
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["message"]
    assert other.status_code == 200


async def test_too_many_running_jobs_is_429_until_one_finishes(make_api: ApiFactory) -> None:
    api = await make_api(max_running_jobs=2, running_jobs_retry_after_s=17)
    first = (await api.submit("alice", key="one")).json()["job_id"]
    second = (await api.submit("alice", key="two", duration=30)).json()["job_id"]
    repository = await api.stack.repository()
    await repository.update_job_stage_with_metadata(second, "script_generating")

    refused = await api.submit("alice", key="three", duration=40)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "17"
    assert refused.json()["error"]["code"] == "too_many_running_jobs"
    assert "2 jobs are still running; at most 2" in refused.json()["error"]["message"]

    retry = await api.submit("alice", key="two", duration=30)  # a retry is not a new job
    assert retry.status_code == 202
    assert retry.json()["job_id"] == second
    assert (await api.submit("bob", key="three")).status_code == 202  # other users unaffected

    await repository.mark_job_failed(first, "done with it")
    accepted = await api.submit("alice", key="three", duration=40)
    assert accepted.status_code == 202, accepted.text


class FakeWallClock(FakeClock):
    def __init__(self) -> None:
        self.now = 1_000_040.0  # 20 s into a 60 s window


async def test_windows_admit_the_burst_per_window_and_say_when_it_ends() -> None:
    clock = FakeWallClock()
    limiter = WindowRateLimiter(MemoryRateWindows(clock), per_minute=3, burst=3)
    assert limiter.window_s == 60.0  # 3 requests a minute, all three at once if need be
    for _ in range(3):
        await limiter.check("u")
    with pytest.raises(LimitExceeded) as refused:
        await limiter.check("u")
    assert refused.value.retry_after_s == 40
    await limiter.check("other-user")
    clock.now += 40
    for _ in range(3):
        await limiter.check("u")  # a new window
    with pytest.raises(LimitExceeded):
        await limiter.check("u")


async def test_a_failing_window_store_lets_the_request_pass() -> None:
    class Down:
        async def take(self, key: str, *, limit: int, window_s: float) -> float | None:
            raise RepositoryUnavailable("rate_limit")

    await WindowRateLimiter(Down(), per_minute=1, burst=1).check("u")


async def test_two_ingest_apps_share_one_rate_limit(make_api: ApiFactory) -> None:
    """Two ingest tasks over one table: together they admit the burst, not twice it."""
    first = await make_api(rate_limit_per_minute=2, rate_limit_burst=10)  # 10 per 300 s
    second = await make_api(rate_limit_per_minute=2, rate_limit_burst=10)
    second.tag = first.tag  # the same user on both
    await fresh_window(300)
    responses = await asyncio.gather(
        *(
            api.client.get("/v1/jobs", headers=api.auth("shared"))
            for _ in range(12)
            for api in (first, second)
        )
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] * 10 + [429] * 14, statuses
    per_app = [statuses[0::2].count(200), statuses[1::2].count(200)]
    assert sum(per_app) == 10


async def test_the_memory_store_limits_each_app_on_its_own(make_api: ApiFactory) -> None:
    first = await make_api(rate_limit_per_minute=2, rate_limit_burst=5, rate_limit_store="memory")
    second = await make_api(rate_limit_per_minute=2, rate_limit_burst=5, rate_limit_store="memory")
    second.tag = first.tag
    statuses = [
        (await api.client.get("/v1/jobs", headers=api.auth("solo"))).status_code
        for api in (first, second)
        for _ in range(6)
    ]
    assert statuses == ([200] * 5 + [429]) * 2  # per process: twice the burst in all


async def test_posts_count_in_the_shared_window_by_their_create(make_api: ApiFactory) -> None:
    """A POST is counted by its create's transaction, in the same window as the other requests
    and across tasks; a create refused by the cap counts its request on its own."""
    first = await make_api(rate_limit_per_minute=2, rate_limit_burst=10, max_running_jobs=3)
    second = await make_api(rate_limit_per_minute=2, rate_limit_burst=10, max_running_jobs=3)
    second.tag = first.tag
    await fresh_window(300)
    posts = [
        api.submit("mixed", key=f"k{i}-{n}")
        for i in range(3)
        for n, api in enumerate((first, second))
    ]
    gets = [api.client.get("/v1/jobs", headers=api.auth("mixed")) for api in (first, second)]
    responses = await asyncio.gather(*posts, *gets)
    codes = sorted(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "")
        for r in responses
    )
    # 3 jobs fit the cap; 3 POSTs refused by it still count: 8 of the 10 requests are used
    assert codes == [(200, "")] * 2 + [(202, "")] * 3 + [(429, "too_many_running_jobs")] * 3
    for _ in range(2):
        assert (await first.client.get("/v1/jobs", headers=first.auth("mixed"))).status_code == 200
    limited = await second.submit("mixed", key="late")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    keys = [f"k{i}-{n}" for i in range(3) for n in range(2)]
    accepted = next(key for key, r in zip(keys, responses, strict=False) if r.status_code == 202)
    replay = await first.submit("mixed", key=accepted)  # a replay is never refused, not counted
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
