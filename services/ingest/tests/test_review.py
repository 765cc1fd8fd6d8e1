"""Review before render over HTTP against the app on moto: a job submitted with `review: true`
waits at awaiting_review (pending, with its TTL); its owner reads the script with an ETag,
replaces it under If-Match (428 without, 412 when stale, 422 naming the field and nothing
changed), and approves it: however many approvals race, one script.ready reaches the renderer;
a publish that failed is left to the outbox sweeper."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from omnigen.ingest.outbox import OutboxSweeper
from omnigen.ingest.review import handle_render_requested
from omnigen.shared.domain.events import (
    EventType,
    JobRenderRequested,
    JobRenderRequestedData,
    ScriptReady,
)
from omnigen.shared.domain.jobs import TTL_SECONDS, Job
from omnigen.shared.domain.scripts import ScriptDraft
from omnigen.shared.domain.stages import AWAITING_REVIEW, SCRIPT_APPROVED, JobStatus
from omnigen.testing.samples import given_script

from .helpers import Api, ApiFactory, drain_events


async def _in_review(api: Api, user: str = "writer") -> Job:
    """A job submitted with review, its script written (as the scripter writes it)."""
    body = {"script": given_script(), "aspect_ratio": "9:16", "review": True}
    response = await api.client.post("/v1/jobs", json=body, headers=api.auth(user))
    assert response.status_code == 202, response.text
    repository = api.context.ports.repository
    job_id = response.json()["job_id"]
    script = ScriptDraft.model_validate(given_script()).complete()
    await repository.embed_script(job_id, script, stage=AWAITING_REVIEW)
    await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    return await repository.get_job(job_id)


async def _get(api: Api, job_id: str, user: str = "writer") -> Any:
    return await api.client.get(f"/v1/jobs/{job_id}/script", headers=api.auth(user))


async def _put(api: Api, job_id: str, script: dict[str, Any], etag: str | None) -> Any:
    headers = api.auth("writer") | ({"If-Match": etag} if etag else {})
    return await api.client.put(
        f"/v1/jobs/{job_id}/script", json={"script": script}, headers=headers
    )


async def test_a_job_in_review_waits_pending_with_its_ttl_and_shows_its_script(api: Api) -> None:
    job = await _in_review(api)
    assert (job.status, job.stage) == (JobStatus.PENDING, AWAITING_REVIEW)
    assert job.ttl == int(job.created_at) + TTL_SECONDS  # expires like any other job

    response = await _get(api, job.job_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stage"], body["status"], body["editable"]) == ("awaiting_review", "pending", True)
    assert response.headers["ETag"].startswith('"')
    assert [s["narration"] for s in body["script"]["scenes"]] == [
        s["narration"] for s in given_script()["scenes"]
    ]
    assert "voiceover_text" not in body["script"]["audio_spec"]  # follows from the narration
    detail = await api.client.get(f"/v1/jobs/{job.job_id}", headers=api.auth("writer"))
    assert (detail.json()["status"], detail.json()["stage"]) == ("pending", "awaiting_review")


async def test_an_edit_needs_the_current_etag_and_passes_the_script_rules(api: Api) -> None:
    job = await _in_review(api)
    read = await _get(api, job.job_id)
    etag, script = read.headers["ETag"], read.json()["script"]

    edited = copy.deepcopy(script)
    edited["scenes"][2]["narration"] = "Keep them far from radiators all winter."
    assert (await _put(api, job.job_id, edited, None)).status_code == 428
    stale = await _put(api, job.job_id, edited, '"0000"')
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["field"] == "If-Match"

    too_long = copy.deepcopy(script)
    too_long["scenes"][2]["narration"] = " ".join(["word"] * 40)
    refused = await _put(api, job.job_id, too_long, etag)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "script.scenes[2].narration"
    bad_enum = copy.deepcopy(script)
    bad_enum["scenes"][0]["lighting"] = "disco"
    refused = await _put(api, job.job_id, bad_enum, etag)
    assert refused.json()["error"]["field"] == "script.scenes[0].lighting"
    assert (await _get(api, job.job_id)).headers["ETag"] == etag  # nothing changed

    saved = await _put(api, job.job_id, edited, etag)
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] != etag
    again = await _get(api, job.job_id)
    assert again.headers["ETag"] == saved.headers["ETag"]
    assert again.json()["script"]["scenes"][2]["narration"] == edited["scenes"][2]["narration"]
    stored = await api.context.ports.repository.get_job(job.job_id)
    assert stored.script is not None
    assert stored.script.audio_spec.voiceover_text.endswith("far from radiators all winter.")
    assert (await _put(api, job.job_id, edited, etag)).status_code == 412  # the old tag


async def test_concurrent_approvals_send_one_script_ready(api: Api) -> None:
    job = await _in_review(api)
    url, headers = f"/v1/jobs/{job.job_id}/render", api.auth("writer")

    answers = await asyncio.gather(*(api.client.post(url, headers=headers) for _ in range(4)))

    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    events = await drain_events(api.stack, api.stack.spec.renderer_queue.name, expect=1)
    assert [type(e) for e in events] == [ScriptReady]
    stored = await api.context.ports.repository.get_job(job.job_id)
    assert (stored.stage, stored.status) == (SCRIPT_APPROVED, JobStatus.PROCESSING)
    assert stored.published["script.ready#1"] == str(events[0].event_id)
    assert stored.outbox is None
    again = await api.client.post(url, headers=headers)  # idempotent while it runs
    assert again.status_code == 202
    assert [type(e) for e in await drain_events(api.stack, api.stack.spec.renderer_queue.name)] in (
        [],
        [ScriptReady],
    )
    edit = await _put(api, job.job_id, given_script(), '"x"')
    assert edit.status_code == 409 and edit.json()["error"]["code"] == "not_in_review"


async def test_render_and_edit_are_refused_outside_review_and_hidden_from_others(
    api: Api,
) -> None:
    plain = await api.submit("writer")
    job_id = plain.json()["job_id"]
    refused = await api.client.post(f"/v1/jobs/{job_id}/render", headers=api.auth("writer"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_in_review"
    assert (await _get(api, job_id)).json()["error"]["code"] == "script_not_ready"

    job = await _in_review(api)
    for response in (
        await _get(api, job.job_id, user="mallory"),
        await api.client.post(f"/v1/jobs/{job.job_id}/render", headers=api.auth("mallory")),
        await api.client.put(
            f"/v1/jobs/{job.job_id}/script",
            json={"script": given_script()},
            headers=api.auth("mallory") | {"If-Match": '"x"'},
        ),
    ):
        assert response.status_code == 404, response.text
    assert (await api.context.ports.repository.get_job(job.job_id)).in_review


async def test_an_approval_whose_publish_failed_is_sent_by_the_outbox_sweeper(
    api: Api, make_api: ApiFactory
) -> None:
    job = await _in_review(api)
    broken = await make_api(events_topic_arn="arn:aws:sns:us-east-1:123456789012:gone")
    answer = await broken.client.post(f"/v1/jobs/{job.job_id}/render", headers=api.auth("writer"))
    assert answer.status_code == 202, answer.text
    owed = await api.context.ports.repository.get_job(job.job_id)
    assert owed.outbox is not None and not owed.announced

    sweeper = OutboxSweeper(
        api.context.ports, interval_s=60, age_s=0, clock=lambda: time.time() + 60
    )
    assert await sweeper.sweep() >= 1

    events = await drain_events(api.stack, api.stack.spec.renderer_queue.name, expect=1)
    assert [(e.event_type, e.job_id) for e in events] == [(EventType.SCRIPT_READY, job.job_id)]
    assert (await api.context.ports.repository.get_job(job.job_id)).outbox is None


async def test_an_upstream_approval_renders_only_its_users_job(api: Api) -> None:
    job = await _in_review(api)

    def approval(user_id: str) -> JobRenderRequested:
        return JobRenderRequested.create(
            job_id=job.job_id, user_id=user_id, data=JobRenderRequestedData()
        )

    assert await handle_render_requested(api.context.ports, approval("someone-else")) is None
    assert (await api.context.ports.repository.get_job(job.job_id)).in_review
    approved = await handle_render_requested(api.context.ports, approval(job.user_id))
    assert approved is not None and approved.stage == SCRIPT_APPROVED
    events = await drain_events(api.stack, api.stack.spec.renderer_queue.name, expect=1)
    assert [e.event_type for e in events] == [EventType.SCRIPT_READY]


async def test_a_job_in_review_holds_no_running_slot_and_its_approval_takes_one(
    make_api: ApiFactory,
) -> None:
    api = await make_api(max_running_jobs=1)
    repository = api.context.ports.repository
    job = await _in_review(api)
    assert not job.running_slot
    assert await repository.running_jobs(api.user_id("writer")) == 0  # expiring leaks nothing

    other = await api.submit("writer")  # the one slot, taken by a job that runs
    assert other.status_code == 202, other.text
    refused = await api.client.post(f"/v1/jobs/{job.job_id}/render", headers=api.auth("writer"))
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_running_jobs"
    assert (await repository.get_job(job.job_id)).in_review  # still waiting, nothing sent

    cancelled = await api.client.delete(
        f"/v1/jobs/{other.json()['job_id']}", headers=api.auth("writer")
    )
    assert cancelled.status_code == 202
    approved = await api.client.post(f"/v1/jobs/{job.job_id}/render", headers=api.auth("writer"))
    assert approved.status_code == 202, approved.text
    assert (await repository.get_job(job.job_id)).running_slot
    assert await repository.running_jobs(api.user_id("writer")) == 1
