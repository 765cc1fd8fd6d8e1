"""The running-jobs cap is one atomic decision in the store: thirty concurrent POSTs with a cap
of five get five jobs, and the slots come back once each when those jobs end. On moto and on
the LocalStack leg."""

from __future__ import annotations

import asyncio

import pytest

from omnigen.shared.domain.errors import JobAlreadyFinished
from omnigen.testing.fixtures import Stack

from .helpers import serve_api, settings_for


async def test_thirty_concurrent_posts_with_a_cap_of_five_get_five_jobs(stack: Stack) -> None:
    settings = settings_for(stack, max_running_jobs=5, running_jobs_retry_after_s=7)
    async with serve_api(stack, settings) as api:
        keys = [f"burst-{i}" for i in range(30)]
        responses = await asyncio.gather(
            *(api.submit("burst", key=key, duration=10 + i) for i, key in enumerate(keys))
        )
        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [202] * 5 + [429] * 25, statuses
        for refused in (r for r in responses if r.status_code == 429):
            assert refused.headers["Retry-After"] == "7"
            assert refused.json()["error"]["code"] == "too_many_running_jobs"
            assert "at most 5 may run at once" in refused.json()["error"]["message"]
        accepted = [
            (i, r.json()["job_id"]) for i, r in enumerate(responses) if r.status_code == 202
        ]
        repository = await stack.repository()
        user = api.user_id("burst")
        assert await repository.running_jobs(user) == 5

        # an idempotent replay gets its job back, even at the cap, and counts nothing
        first_index, first_id = accepted[0]
        replay = await api.submit("burst", key=keys[first_index], duration=10 + first_index)
        assert replay.status_code == 202 and replay.json()["job_id"] == first_id
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert await repository.running_jobs(user) == 5

        # three complete, one fails, one is cancelled; redeliveries release nothing twice
        job_ids = [job_id for _, job_id in accepted]
        for job_id in job_ids[:3]:
            await repository.mark_job_complete(job_id, f"jobs/{job_id}/video.mp4")
        with pytest.raises(JobAlreadyFinished):
            await repository.mark_job_complete(job_ids[0], f"jobs/{job_ids[0]}/video.mp4")
        await repository.mark_job_failed(job_ids[3], "the provider gave up")
        with pytest.raises(JobAlreadyFinished):
            await repository.mark_job_failed(job_ids[3], "the provider gave up")
        cancelled = await api.client.delete(f"/v1/jobs/{job_ids[4]}", headers=api.auth("burst"))
        assert cancelled.status_code == 202, cancelled.text
        again = await api.client.delete(f"/v1/jobs/{job_ids[4]}", headers=api.auth("burst"))
        assert again.status_code == 204  # now finished: deleted, nothing released
        assert await repository.running_jobs(user) == 0

        fresh = await asyncio.gather(
            *(api.submit("burst", key=f"fresh-{i}", duration=20 + i) for i in range(7))
        )
        assert sorted(r.status_code for r in fresh) == [202] * 5 + [429] * 2
        assert await repository.running_jobs(user) == 5
