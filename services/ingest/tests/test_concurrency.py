"""Twenty clients racing with one Idempotency-Key: one job, one accepted event."""

from __future__ import annotations

import asyncio

from omnigen.shared.domain.events import EventType

from .helpers import Api, drain_events


async def test_twenty_concurrent_posts_with_one_key_make_one_job_and_one_event(api: Api) -> None:
    responses = await asyncio.gather(*(api.submit("racer", key="same-key") for _ in range(20)))

    assert [r.status_code for r in responses] == [202] * 20
    job_ids = {r.json()["job_id"] for r in responses}
    assert len(job_ids) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count(None) == 1  # exactly one request created it
    listed = await api.client.get("/v1/jobs", headers=api.auth("racer"))
    assert [j["job_id"] for j in listed.json()["jobs"]] == list(job_ids)

    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    assert [(e.event_type, e.job_id) for e in events] == [(EventType.JOB_ACCEPTED, job_ids.pop())]


async def test_concurrent_posts_with_distinct_keys_make_distinct_jobs(api: Api) -> None:
    responses = await asyncio.gather(
        *(api.submit("many", key=f"key-{i}", duration=10 + i) for i in range(8))
    )
    assert {r.status_code for r in responses} == {202}
    job_ids = {r.json()["job_id"] for r in responses}
    assert len(job_ids) == 8
    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=8)
    assert sorted(e.job_id or "" for e in events) == sorted(job_ids)
