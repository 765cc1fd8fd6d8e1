"""The jobs API over HTTP against the app wired to moto server: submit, read, list, idempotency,
body limit, presigned downloads, cancel and delete."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from omnigen.shared.adapters.codec import serialize
from omnigen.shared.domain.events import JobAccepted, JobFailed
from omnigen.shared.domain.jobs import CANCELLED_REASON
from omnigen.shared.domain.keyframes import KeyframeState, Look, keyframe_plan
from omnigen.shared.domain.scenes import Continuity, RenderState, plan_metadata
from omnigen.shared.domain.scripts import ColorGrade, Mood, Script
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.ports import job_prefix, scene_clip_key, thumbnail_key, video_key

from .helpers import PROMPT, Api, ApiFactory, drain_events, job_body


def assert_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["field"] == field


async def test_submit_creates_a_pending_job_and_publishes_accepted_once(api: Api) -> None:
    response = await api.submit("alice", style="dramatic", voice="calm", call_to_action="Visit us")

    assert response.status_code == 202, response.text
    body = response.json()
    job_id = body["job_id"]
    assert body["status"] == "pending"
    assert body["stage"] == "queued"
    assert body["links"] == {
        "self": f"/v1/jobs/{job_id}",
        "events": f"/v1/jobs/{job_id}/events",
        "video": f"/v1/jobs/{job_id}/video",
    }
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"
    stored = await (await api.stack.repository()).get_job(job_id)
    assert stored.user_id == api.user_id("alice")
    assert stored.prompt == PROMPT
    assert stored.duration == 20
    assert stored.aspect_ratio.value == "9:16"
    assert (stored.options.style, stored.options.voice) == ("dramatic", "calm")
    assert stored.options.call_to_action == "Visit us"
    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    assert len(events) == 1
    accepted = events[0]
    assert isinstance(accepted, JobAccepted)
    assert (accepted.job_id, accepted.user_id) == (job_id, api.user_id("alice"))
    assert (accepted.data.duration, accepted.data.aspect_ratio) == (20, "9:16")
    refreshed = await (await api.stack.repository()).get_job(job_id)
    assert refreshed.published["job.accepted"] == str(accepted.event_id)


async def test_same_key_and_body_returns_the_same_job_without_a_second_event(api: Api) -> None:
    first = await api.submit("alice", key="order-42")
    second = await api.submit("alice", key="order-42")

    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    assert [e.job_id for e in events] == [first.json()["job_id"]]


async def test_a_job_whose_event_could_not_be_sent_is_accepted_and_sent_by_the_retry(
    make_api: ApiFactory,
) -> None:
    """202 although SNS refused: the job is stored owing its announcement (the outbox sweeper
    sends it; tests/test_outbox.py), and a retry with the same key sends it at once."""
    broken = await make_api(events_topic_arn="arn:aws:sns:us-east-1:123456789012:gone")
    failed = await broken.submit("alice", key="order-44")
    assert failed.status_code == 202, failed.text
    assert failed.headers["Location"] == f"/v1/jobs/{failed.json()['job_id']}"
    owed = await broken.context.ports.repository.get_job(failed.json()["job_id"])
    assert (owed.outbox, owed.published) == ("job.accepted", {})

    api = await make_api()
    api.tag = broken.tag  # the same user, retrying through a healthy instance
    retried = await api.submit("alice", key="order-44")
    again = await api.submit("alice", key="order-44")

    assert retried.status_code == again.status_code == 202
    job_id = retried.json()["job_id"]
    assert job_id == failed.json()["job_id"]
    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    assert [(e.event_type.value, e.job_id) for e in events] == [("job.accepted", job_id)]


async def test_same_key_with_another_body_is_a_conflict(api: Api) -> None:
    first = await api.submit("alice", key="order-43")
    other = await api.submit("alice", key="order-43", duration=30)

    assert first.status_code == 202
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    assert "order-43" in other.json()["error"]["message"]


async def test_the_same_key_from_two_users_makes_two_jobs(api: Api) -> None:
    alice = await api.submit("alice", key="shared-key")
    bob = await api.submit("bob", key="shared-key", duration=45)

    assert alice.status_code == bob.status_code == 202
    assert alice.json()["job_id"] != bob.json()["job_id"]


async def test_invalid_bodies_name_the_offending_field(api: Api) -> None:
    headers = api.auth("alice")
    cases = [
        (job_body(prompt="too short"), "prompt"),
        (job_body(duration=61), "duration"),
        (job_body(duration=9), "duration"),
        (job_body(aspect_ratio="4:3"), "aspect_ratio"),
        (job_body(style="x" * 101), "style"),
        (job_body(style="moody noir"), "style"),
        (job_body(platform="myspace"), "platform"),
        (job_body(title="t" * 101), "title"),
        (job_body(call_to_action="c" * 101), "call_to_action"),
        (job_body(unexpected="field"), "unexpected"),
        (job_body(continuity="sideways"), "continuity"),
        ({"duration": 20}, "prompt"),
    ]
    for body, field in cases:
        response = await api.client.post("/v1/jobs", json=body, headers=headers)
        assert_error(response, 422, "validation_error", field)
    not_json = await api.client.post(
        "/v1/jobs", content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(not_json, 422, "validation_error", "body")
    bad_key = await api.client.post(
        "/v1/jobs", json=job_body(), headers={**headers, "Idempotency-Key": "x" * 201}
    )
    assert_error(bad_key, 422, "validation_error", "Idempotency-Key")


async def test_a_body_over_the_limit_is_refused_with_413(make_api: ApiFactory) -> None:
    api = await make_api(max_body_bytes=2048)
    big = job_body(prompt="p" * 1990, audience="a" * 200, call_to_action="g" * 100)
    big["padding"] = "x" * 4000
    response = await api.client.post("/v1/jobs", json=big, headers=api.auth("alice"))
    assert_error(response, 413, "payload_too_large", "body")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    streamed = await api.client.post(
        "/v1/jobs",
        content=chunks(),
        headers={**api.auth("alice"), "Content-Type": "application/json"},
    )
    assert_error(streamed, 413, "payload_too_large", "body")
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert listed.json()["jobs"] == []


async def test_get_returns_stage_progress_and_scenes(api: Api, sample_script: Script) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    repository = await api.stack.repository()
    await repository.update_job_stage_with_metadata(job_id, "script_generating")
    await repository.embed_script(job_id, sample_script)
    await repository.update_job_stage_with_metadata(job_id, "scene_1_complete", {"scenes": 1})

    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "processing"
    assert body["stage"] == "scene_1_complete"
    assert body["progress"] == 45  # 10 + 70 * 1/2 scenes
    assert [s["scene_number"] for s in body["scenes"]] == [1, 2]
    assert body["title"] == sample_script.title
    assert body["video_url"] is None
    assert body["options"]["style"] is None
    assert body["estimated_completion_seconds"] >= 1  # running: an estimate


async def test_the_answers_carry_an_estimate_that_the_finished_job_drops(api: Api) -> None:
    submitted = await api.submit("alice", style="cinematic", tempo="fast", platform="tiktok")
    assert submitted.json()["estimated_completion_seconds"] >= 1
    job_id = submitted.json()["job_id"]
    await (await api.stack.repository()).mark_job_complete(job_id, video_key(job_id, "r1"))

    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["estimated_completion_seconds"] is None
    assert {k: body["options"][k] for k in ("style", "tempo", "platform")} == {
        "style": "cinematic",
        "tempo": "fast",
        "platform": "tiktok",
    }


async def test_a_job_stored_with_free_text_options_still_reads(api: Api) -> None:
    """Jobs stored before the options were closed hold free text: they load, and show it as
    unset (a known value in another case as that value)."""
    job_id = (await api.submit("alice")).json()["job_id"]
    legacy = {"style": "moody noir", "tone": "wistful", "platform": "TikTok", "goal": "buy it"}
    await (await api.stack.aws.dynamodb()).update_item(
        TableName=api.stack.spec.table.name,
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET #options = :options",
        ExpressionAttributeNames={"#options": "options"},
        ExpressionAttributeValues={":options": serialize(legacy, "options")},
    )

    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.status_code == 200, response.text
    options = response.json()["options"]
    assert (options["style"], options["tone"], options["goal"]) == (None, None, None)
    assert options["platform"] == "tiktok"
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert [job["job_id"] for job in listed.json()["jobs"]] == [job_id]


async def test_a_completed_job_has_a_presigned_url_that_downloads_the_video(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    video = b"\x00\x00\x00\x18ftypmp42 fake mp4 bytes " * 50
    poster = b"\xff\xd8\xff\xe0 fake jpeg"
    await (await api.stack.assets()).put_bytes(video_key(job_id, "r1"), video, "video/mp4")
    await (await api.stack.assets()).put_bytes(thumbnail_key(job_id, "r1"), poster, "image/jpeg")
    await (await api.stack.repository()).mark_job_complete(
        job_id, video_key(job_id, "r1"), {"thumbnail_key": thumbnail_key(job_id, "r1")}
    )

    detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()
    assert detail["status"] == "completed"
    assert detail["progress"] == 100
    assert detail["video_url_expires_at"] is not None
    async with httpx.AsyncClient() as plain:
        downloaded = await plain.get(detail["video_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == video
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(detail["thumbnail_url"])).content == poster

    redirect = await api.client.get(f"/v1/jobs/{job_id}/video", headers=api.auth("alice"))
    assert redirect.status_code == 307
    async with httpx.AsyncClient() as plain:
        followed = await plain.get(redirect.headers["Location"])
    assert followed.content == video


async def test_video_of_an_unfinished_job_is_a_conflict(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    response = await api.client.get(f"/v1/jobs/{job_id}/video", headers=api.auth("alice"))
    assert_error(response, 409, "video_not_ready", None)
    assert "pending" in response.json()["error"]["message"]


async def test_list_is_newest_first_with_cursor_pagination_and_status_filter(api: Api) -> None:
    ids = [(await api.submit("carol", duration=10 + i)).json()["job_id"] for i in range(5)]
    await (await api.stack.repository()).mark_job_failed(ids[1], "boom")
    await (await api.stack.repository()).mark_job_failed(ids[3], "boom")
    headers = api.auth("carol")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.client.get("/v1/jobs", params=params, headers=headers)).json()
        pages += 1
        seen += [job["job_id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3

    failed = await api.client.get("/v1/jobs", params={"status": "failed"}, headers=headers)
    assert [j["job_id"] for j in failed.json()["jobs"]] == [ids[3], ids[1]]
    assert all(j["error_message"] == "boom" for j in failed.json()["jobs"])
    pending = await api.client.get("/v1/jobs", params={"status": "pending"}, headers=headers)
    assert [j["job_id"] for j in pending.json()["jobs"]] == [ids[4], ids[2], ids[0]]


async def test_bad_list_parameters_are_named(api: Api) -> None:
    headers = api.auth("carol")
    for params, field in (({"limit": 0}, "limit"), ({"limit": 101}, "limit")):
        response = await api.client.get("/v1/jobs", params=params, headers=headers)
        assert_error(response, 422, "validation_error", field)
    response = await api.client.get("/v1/jobs", params={"status": "done"}, headers=headers)
    assert_error(response, 422, "validation_error", "status")
    params = {"cursor": "bm90LWEtY3Vyc29y"}
    garbage = await api.client.get("/v1/jobs", params=params, headers=headers)
    assert_error(garbage, 400, "invalid_cursor", "cursor")


async def test_unknown_jobs_and_routes_are_404_in_the_error_shape(api: Api) -> None:
    headers = api.auth("alice")
    missing = await api.client.get(f"/v1/jobs/{'0' * 32}", headers=headers)
    assert_error(missing, 404, "not_found", "job_id")
    malformed = await api.client.get("/v1/jobs/not-a-job-id", headers=headers)
    assert_error(malformed, 422, "validation_error", "job_id")
    route = await api.client.get("/v2/nothing", headers=headers)
    assert_error(route, 404, "not_found", None)
    method = await api.client.put("/v1/jobs", headers=headers)
    assert_error(method, 405, "method_not_allowed", None)


async def test_delete_cancels_a_running_job(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    await (await api.stack.repository()).update_job_stage_with_metadata(job_id, "script_generating")

    response = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["error_message"] == CANCELLED_REASON
    stored = await (await api.stack.repository()).get_job(job_id)
    assert stored.status is JobStatus.FAILED
    assert stored.is_cancelled
    assert stored.stage == "script_generating"
    outcomes = await drain_events(api.stack, api.stack.spec.outcomes_queue.name, expect=1)
    assert len(outcomes) == 1
    failed = outcomes[0]
    assert isinstance(failed, JobFailed)
    assert (failed.job_id, failed.data.stage, failed.data.error_message) == (
        job_id,
        "script_generating",
        CANCELLED_REASON,
    )


async def test_delete_removes_a_finished_job_and_its_assets(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    other_id = (await api.submit("alice", duration=30)).json()["job_id"]
    assets = await api.stack.assets()
    for key in (video_key(job_id, "r1"), scene_clip_key(job_id, 1), video_key(other_id, "r1")):
        await assets.put_bytes(key, b"media", "video/mp4")
    await (await api.stack.repository()).mark_job_complete(job_id, video_key(job_id, "r1"))

    response = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.status_code == 204
    assert response.content == b""
    assert [k async for k in assets.list_keys(job_prefix(job_id))] == []
    assert await assets.exists(video_key(other_id, "r1"))
    gone = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))
    assert gone.status_code == 404
    again = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))
    assert again.status_code == 404


async def test_deleting_a_cancelled_job_removes_it(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    headers = api.auth("alice")
    assert (await api.client.delete(f"/v1/jobs/{job_id}", headers=headers)).status_code == 202
    assert (await api.client.delete(f"/v1/jobs/{job_id}", headers=headers)).status_code == 204
    assert (await api.client.get(f"/v1/jobs/{job_id}", headers=headers)).status_code == 404


async def test_continuity_is_kept_and_scene_progress_shows_once_planned(api: Api) -> None:
    response = await api.submit("alice", continuity="none")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    repo = await api.stack.repository()
    assert (await repo.get_job(job_id)).options.continuity == "none"
    detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()
    assert detail["render"] is None and detail["options"]["continuity"] == "none"
    await repo.record_piece(
        job_id, stage=None, metadata=plan_metadata(2, Continuity.NONE), expect={}
    )
    await repo.acquire_lease(job_id, "scene_2", "holder", 60.0)
    detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()
    no_picture = {"picture_url": None, "picture_kind": None}
    assert detail["render"] == {
        "version": 1,
        "continuity": "none",
        "scenes_total": 2,
        "scenes_complete": 0,
        "scenes": [
            {"scene_number": n, "state": state, "attempts": 0, "keyframe": None, **no_picture}
            for n, state in ((1, "pending"), (2, "generating"))
        ],
        "audio": {"state": "pending", "attempts": 0},
    }


async def test_a_finished_scene_shows_its_picture_a_keyframe_or_else_its_clip(api: Api) -> None:
    """The web page's thumbnails as scenes finish: a presigned link to the keyframe image where
    the render draws keyframes, to the scene's clip otherwise; nothing for an unfinished one."""
    repo = await api.stack.repository()
    headers = api.auth("alice")
    for continuity in (Continuity.NONE, Continuity.KEYFRAMES):
        job_id = (await api.submit("alice", continuity=continuity.value)).json()["job_id"]
        plan = plan_metadata(2, continuity)
        if continuity is Continuity.KEYFRAMES:
            plan |= keyframe_plan(Look("cinematic", Mood.CALM, ColorGrade.WARM, 7))
        await repo.record_piece(job_id, stage=None, metadata=plan, expect={})
        job = await repo.get_job(job_id)
        state = RenderState.of(job.metadata)
        assert state is not None
        keyframes = KeyframeState.of(job.metadata, state.scenes)
        if keyframes is not None:
            drawn = keyframes.completion(2, f"{job_prefix(job_id)}keyframes/v1/scene_002.jpg")
            assert drawn is not None
            await repo.record_piece(
                job_id, stage=None, metadata=drawn.metadata, expect=drawn.expect
            )
        else:
            done = state.completion(2, scene_clip_key(job_id, 2))
            assert done is not None
            await repo.record_piece(
                job_id, stage=done.stage, metadata=done.metadata, expect=done.expect
            )

        response = await api.client.get(f"/v1/jobs/{job_id}", headers=headers)

        assert response.headers["cache-control"] == "no-store"
        first, second = response.json()["render"]["scenes"]
        assert (first["picture_url"], first["picture_kind"]) == (None, None)
        kind = "image" if continuity is Continuity.KEYFRAMES else "video"
        assert second["picture_kind"] == kind
        path = "keyframes/v1/scene_002.jpg" if kind == "image" else "scene_002"
        assert job_id in second["picture_url"] and path in second["picture_url"]
        assert "Signature" in second["picture_url"] or "X-Amz-" in second["picture_url"]
