"""Per-user rate limit and the cap on unfinished jobs: 429 with Retry-After, configurable."""

from __future__ import annotations

import pytest

from omnigen.ingest.limits import LimitExceeded, RateLimiter

from .helpers import ApiFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("u")
    with pytest.raises(LimitExceeded) as refused:
        limiter.check("u")
    assert refused.value.retry_after_s == 1
    limiter.check("other-user")  # buckets are per user
    clock.now += 1.0
    limiter.check("u")
    with pytest.raises(LimitExceeded):
        limiter.check("u")
    clock.now += 60
    for _ in range(3):
        limiter.check("u")  # refilled to the burst, not beyond


def test_retry_after_reflects_the_refill_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=6, burst=1, clock=clock)
    limiter.check("u")
    with pytest.raises(LimitExceeded) as refused:
        limiter.check("u")
    assert refused.value.retry_after_s == 10


def test_idle_users_are_forgotten_when_the_table_is_full() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock, max_users=3)
    for user in ("a", "b", "c"):
        limiter.check(user)
    clock.now += 10  # everyone refilled
    limiter.check("d")
    assert len(limiter._buckets) == 1


async def test_over_the_rate_limit_is_429_with_retry_after(make_api: ApiFactory) -> None:
    api = await make_api(rate_limit_per_minute=6, rate_limit_burst=3)
    statuses = []
    for _ in range(3):
        statuses.append((await api.client.get("/v1/jobs", headers=api.auth("alice"))).status_code)
    limited = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    other = await api.client.get("/v1/jobs", headers=api.auth("bob"))

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 5 <= int(limited.headers["Retry-After"]) <= 10  # one token every 10 s
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
