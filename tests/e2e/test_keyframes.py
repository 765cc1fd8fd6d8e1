"""`keyframes` continuity against the real service processes, on both backends: hosted (the fake
Replicate server as image and video model, the default continuity for an image-to-video
provider) and embedded (keyframes drawn locally). Every keyframe exists before any clip starts,
each clip starts from its own keyframe, one video, one job.completed; a keyframe the image model
refuses fails the job naming the scene."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from omnigen.cli.api import ApiClient
from omnigen.shared.ports import job_prefix
from omnigen.testing import upload_samples as samples
from omnigen.testing.e2e import api, log_events, running_pipeline, submit, wait_for_end
from omnigen.testing.fake_replicate import Behaviour, FakeReplicate, decode_data_uri
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, received_events

TOKEN = "e2e-replicate-token"  # the fake server's own; no real provider is called
IMAGE_MODEL = "black-forest-labs/flux-schnell"  # the renderer's default keyframe model
VIDEO_MODEL = "kwaivgi/kling-v2.1"  # and video model


@pytest.fixture
def replicate(tmp_path: Path) -> Iterator[FakeReplicate]:
    with FakeReplicate(tmp_path / "replicate", api_token=TOKEN) as fake:
        fake.behave(IMAGE_MODEL, Behaviour(output="image", output_as_list=True, run_s=0.5))
        fake.behave(VIDEO_MODEL, Behaviour(output="video", run_s=0.5))
        yield fake


def hosted_env(fake: FakeReplicate) -> dict[str, dict[str, str]]:
    return {
        "renderer": {
            "OMNIGEN_CLIP_PROVIDER": "replicate",
            "OMNIGEN_REPLICATE_API_TOKEN": TOKEN,
            "OMNIGEN_REPLICATE_BASE_URL": fake.base_url,
            "OMNIGEN_REPLICATE_POLL_INTERVAL_S": "0.2",
            "OMNIGEN_REPLICATE_POLL_MAX_INTERVAL_S": "0.5",
        }
    }


async def keyframe_objects(stack: Stack, job_id: str) -> dict[str, bytes]:
    s3, bucket = await stack.aws.s3(), stack.spec.bucket.name
    listed = await s3.list_objects_v2(Bucket=bucket, Prefix=f"{job_prefix(job_id)}keyframes/")
    found = {}
    for item in listed.get("Contents", []):
        body = await s3.get_object(Bucket=bucket, Key=item["Key"])
        found[item["Key"]] = await body["Body"].read()
    return found


async def assert_one_job_completed(stack: Stack, job_id: str) -> None:
    outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
    assert [(e.event_type.value, e.job_id) for e in outcomes] == [("job.completed", job_id)]
    assert await depth(stack, stack.spec.outcomes_queue.name) == 0  # and no second one


async def test_hosted_keyframes_come_first_and_each_clip_starts_from_its_own(
    stack: Stack, tmp_path: Path, replicate: FakeReplicate
) -> None:
    async with (
        running_pipeline(stack, tmp_path, service_env=hosted_env(replicate)) as pipeline,
        api(pipeline) as client,
    ):
        job_id = await submit(client, duration=12)  # no continuity: the provider's default
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        keyframes = await keyframe_objects(stack, job_id)
        await assert_one_job_completed(stack, job_id)
    total = job["render"]["scenes_total"]
    assert job["render"]["continuity"] == "keyframes"
    images = [p for p in replicate.predictions if p.model == IMAGE_MODEL]
    clips = [p for p in replicate.predictions if p.model == VIDEO_MODEL]
    assert len(images) == total and len(clips) == total and len(keyframes) == total
    assert len({p.input["seed"] for p in images}) == 1  # one shared look
    last_image_done = max(datetime.fromisoformat(str(p.completed_at)) for p in images)
    first_clip = min(datetime.fromisoformat(p.created_at) for p in clips)
    assert last_image_done <= first_clip  # every keyframe before any clip
    started_from = [decode_data_uri(p.input["start_image"])[1] for p in clips]
    assert Counter(started_from) == Counter(keyframes.values())  # each from its own keyframe
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1


async def test_embedded_keyframes_are_drawn_locally_before_every_clip(
    stack: Stack, tmp_path: Path
) -> None:
    async with running_pipeline(stack, tmp_path) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=10, continuity="keyframes")
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        keyframes = await keyframe_objects(stack, job_id)
        await assert_one_job_completed(stack, job_id)
    total = job["render"]["scenes_total"]
    assert len(keyframes) == total and all(k.startswith(b"\xff\xd8") for k in keyframes.values())
    recorded = log_events(pipeline, "renderer", "keyframe_recorded")
    rendered = log_events(pipeline, "renderer", "scene_rendered")
    assert sorted(r["scene"] for r in recorded) == list(range(1, total + 1))
    assert sorted(r["scene"] for r in rendered) == list(range(1, total + 1))
    assert max(r["timestamp"] for r in recorded) <= min(r["timestamp"] for r in rendered)
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1


async def test_a_keyframe_the_image_model_refuses_fails_the_job_naming_the_scene(
    moto_stack: Stack, tmp_path: Path, replicate: FakeReplicate
) -> None:
    replicate.behave(IMAGE_MODEL, Behaviour(outcome="fail", error="NSFW content detected"))
    async with (
        running_pipeline(moto_stack, tmp_path, service_env=hosted_env(replicate)) as pipeline,
        api(pipeline) as client,
    ):
        job_id = await submit(client, duration=10)
        job = await wait_for_end(client, job_id)
    assert job["status"] == "failed"
    assert job["error_message"].startswith("scene ")
    assert "keyframe" in job["error_message"] and "NSFW" in job["error_message"]
    assert not [p for p in replicate.predictions if p.model == VIDEO_MODEL]  # no clip started
    assert not log_events(pipeline, "renderer", "video_completed")


async def test_a_style_reference_reaches_every_keyframe_and_clip_prediction(
    moto_stack: Stack, tmp_path: Path, replicate: FakeReplicate
) -> None:
    """The job's style_reference_image (an upload of the user's) is sent, as uploaded, with
    every image and video prediction (the video model's input named by the setting)."""
    jpeg = samples.photo(tmp_path / "reference.jpg", 320, 180)
    env = hosted_env(replicate)
    env["renderer"]["OMNIGEN_REPLICATE_VIDEO_STYLE_REFERENCE_FIELD"] = "reference_image"
    env["renderer"]["OMNIGEN_REPLICATE_IMAGE_STYLE_REFERENCE_FIELD"] = "image_prompt"
    async with (
        running_pipeline(moto_stack, tmp_path, service_env=env) as pipeline,
        api(pipeline) as client,
    ):
        cli = ApiClient(pipeline.api_url, pipeline.mint_token("e2e-user"))

        def upload() -> dict[str, object]:
            created = cli.upload(jpeg, "image/jpeg")
            return cli.wait_checked(str(created["id"]), timeout_s=60)

        checked = await asyncio.to_thread(upload)
        cli.close()
        assert checked["status"] == "ready"
        job_id = await submit(client, duration=10, style_reference_image=checked["id"])
        job = await wait_for_end(client, job_id)
    assert job["status"] == "completed", job.get("error_message")
    images = [p for p in replicate.predictions if p.model == IMAGE_MODEL]
    clips = [p for p in replicate.predictions if p.model == VIDEO_MODEL]
    assert images and len(clips) == len(images) == job["render"]["scenes_total"]
    sent = [decode_data_uri(p.input["image_prompt"]) for p in images] + [
        decode_data_uri(p.input["reference_image"]) for p in clips
    ]
    assert set(sent) == {("image/jpeg", jpeg.read_bytes())}
