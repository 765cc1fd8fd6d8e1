"""A job's `style_reference_image` reaches the providers: through the renderer's handlers with
in-memory ports and the Replicate adapters on FakeReplicate, every keyframe and clip prediction
carries the reference image when the job names one (none when it does not); the local drawn
look takes its palette's hue from the reference (a red one paints red, a blue one blue)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnigen.renderer.handlers import RendererDeps, handle_script_ready
from omnigen.renderer.keyframing import handle_keyframe_requested
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.keyframes import LocalKeyframeGenerator
from omnigen.renderer.ports import ClipLook
from omnigen.renderer.providers.factory import build_providers
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.shared.domain.events import (
    KeyframeRequested,
    SceneRequested,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.keyframes import shared_look
from omnigen.shared.domain.scenes import Continuity
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.uploads import Upload, UploadFacts, UploadStatus
from omnigen.testing.fake_replicate import Behaviour, FakeReplicate, decode_data_uri
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver, message_of, renderer_deps
from omnigen.testing.samples import sample_script
from omnigen.testing.upload_fakes import InMemoryUploadStore

USER = "u-style"
VIDEO_MODEL = "kwaivgi/kling-v2.1"
IMAGE_MODEL = "black-forest-labs/flux-schnell"
VIDEO_FIELD = "reference_image"  # set for the test: the default video model takes none
IMAGE_FIELD = "image_prompt"  # set for the test, as for FLUX 1.1 pro (flux-schnell has none)
SMALL = (320, 180)


async def solid_image(path: Path, colour: str) -> Path:
    await run_ffmpeg(
        ["-f", "lavfi", "-i", f"color=c={colour}:s=96x64", "-frames:v", "1", path],
        what="a test picture",
    )
    return path


async def mean_rgb(picture: Path) -> tuple[int, int, int]:
    """The picture's average colour, measured by ffmpeg (area scaling to one pixel)."""
    run = await run_ffmpeg(
        ["-i", picture, "-vf", "scale=1:1:flags=area,format=rgb24", "-frames:v", "1",
         "-f", "rawvideo", "-"],
        what="measuring a frame",
    )  # fmt: skip
    red, green, blue = run.stdout[:3]
    return red, green, blue


@pytest.fixture
def fake_replicate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeReplicate]:
    token = "r8_" + secrets.token_hex(16)
    with FakeReplicate(tmp_path_factory.mktemp("replicate"), api_token=token) as fake:
        fake.behave(IMAGE_MODEL, Behaviour(output="image", output_as_list=True))
        fake.behave(VIDEO_MODEL, Behaviour(output_duration_s=1.0))
        fake.token = token  # type: ignore[attr-defined]
        yield fake


def hosted_deps(fake: FakeReplicate) -> RendererDeps:
    providers = build_providers(
        ProviderSettings(
            clip_provider="replicate",
            keyframe_provider="replicate",
            replicate_api_token=fake.token,  # type: ignore[attr-defined]
            replicate_base_url=fake.base_url,
            replicate_video_model=VIDEO_MODEL,
            replicate_image_model=IMAGE_MODEL,
            replicate_video_style_reference_field=VIDEO_FIELD,
            replicate_image_style_reference_field=IMAGE_FIELD,
            replicate_poll_interval_s=0.05,
            replicate_poll_max_interval_s=0.2,
        )
    )
    return renderer_deps(
        clips=providers.clips, keyframes=providers.keyframes, uploads=InMemoryUploadStore()
    )


async def ready_upload(deps: RendererDeps, path: Path) -> str:
    upload = Upload.new(USER, "image/png", path.name, time.time())
    await deps.assets.put_file(upload.key, path, "image/png")
    store = deps.uploads
    assert isinstance(store, InMemoryUploadStore)
    await store.add_upload(upload, limit=10)
    facts = UploadFacts(width=96, height=64)
    await store.record_check(
        upload.upload_id, UploadStatus.READY, reason=None, facts=facts, checked_at=time.time()
    )
    return upload.upload_id


async def render_pictures(deps: RendererDeps, reference: str | None) -> Job:
    """Plan the job, then draw every keyframe and every clip (the audio and the final cut are
    not what this is about)."""
    jobs = deps.jobs
    assert isinstance(jobs, InMemoryJobRepository)
    options = JobOptions(continuity=Continuity.KEYFRAMES, style_reference_image=reference)
    request = JobRequest(prompt="A lighthouse keeper's last night", duration=10, options=options)
    job = (await jobs.create_job(user_id=USER, request=request)).job
    await jobs.embed_script(job.job_id, sample_script((2.0, 2.0)), {"scene_count": 2})
    publisher = deps.publisher
    assert isinstance(publisher, RecordingPublisher)
    ready = ScriptReady.create(
        job_id=job.job_id, user_id=USER, trace_id="t",
        data=ScriptReadyData(title="t", scene_count=2),
    )  # fmt: skip
    await handle_script_ready(ready, message_of(ready), deps)
    for kind in (KeyframeRequested, SceneRequested):
        events = [e for e in publisher.events if isinstance(e, kind) and e.job_id == job.job_id]
        assert len(events) == 2, kind
        for event in events:
            await deliver(event, message_of(event), deps)
    return await jobs.get_job(job.job_id)


async def test_every_keyframe_and_clip_prediction_carries_the_style_reference(
    fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    deps = hosted_deps(fake_replicate)
    red = await solid_image(tmp_path / "red.png", "red")
    job = await render_pictures(deps, await ready_upload(deps, red))

    assert job.status is not JobStatus.FAILED, job.error_message
    predictions = fake_replicate.predictions
    images = [p for p in predictions if p.model == IMAGE_MODEL]
    clips = [p for p in predictions if p.model == VIDEO_MODEL]
    assert (len(images), len(clips)) == (2, 2)
    for prediction, field in [(p, IMAGE_FIELD) for p in images] + [(p, VIDEO_FIELD) for p in clips]:
        media_type, data = decode_data_uri(prediction.input[field])
        assert (media_type, data) == ("image/png", red.read_bytes())
    assert all(VIDEO_FIELD not in p.input for p in images)


async def test_no_prediction_carries_a_reference_when_the_job_names_none(
    fake_replicate: FakeReplicate,
) -> None:
    deps = hosted_deps(fake_replicate)
    job = await render_pictures(deps, None)

    assert job.status is not JobStatus.FAILED, job.error_message
    predictions = fake_replicate.predictions
    assert len(predictions) == 4
    assert all(IMAGE_FIELD not in p.input and VIDEO_FIELD not in p.input for p in predictions)


async def test_the_local_look_takes_its_hue_from_the_reference(tmp_path: Path) -> None:
    """The same scene and job, drawn after a red and after a blue reference: the frames'
    average colour follows the reference (clips and keyframes alike)."""
    script = sample_script((2.0,))
    # A plain daylight scene, so the palette (not a warm light or grade) sets the colour.
    plain = {"lighting": "natural", "color_grade": "neutral", "mood": "uplifting"}
    scene = script.scenes[0].model_copy(update=plain)
    script = script.model_copy(update={"scenes": [scene]})
    refs = {c: await solid_image(tmp_path / f"{c}.png", c) for c in ("red", "blue")}

    async def clip_frame(colour: str) -> Path:
        look = ClipLook(palette_seed="job-1", style_reference=refs[colour])
        result = await LocalClipGenerator().generate(
            scene, size=SMALL, fps=10, start_image=None, out_dir=tmp_path / colour, look=look
        )
        return result.last_frame_path

    async def keyframe(colour: str) -> Path:
        look = shared_look("job-1", script, None)
        return await LocalKeyframeGenerator().generate(
            scene, look=look, size=SMALL, out_path=tmp_path / f"kf_{colour}.jpg",
            style_reference=refs[colour],
        )  # fmt: skip

    clip_red, clip_blue, key_red, key_blue = await asyncio.gather(
        clip_frame("red"), clip_frame("blue"), keyframe("red"), keyframe("blue")
    )
    for reddish, bluish in ((clip_red, clip_blue), (key_red, key_blue)):
        (r1, _, b1), (r2, _, b2) = await mean_rgb(reddish), await mean_rgb(bluish)
        assert r1 > b1 + 20 and b2 > r2 + 20, ((r1, b1), (r2, b2))


async def test_a_reference_deleted_before_the_render_fails_the_job_naming_it(
    fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    deps = hosted_deps(fake_replicate)
    upload_id = await ready_upload(deps, await solid_image(tmp_path / "red.png", "red"))
    jobs = deps.jobs
    assert isinstance(jobs, InMemoryJobRepository) and deps.uploads is not None
    options = JobOptions(continuity=Continuity.KEYFRAMES, style_reference_image=upload_id)
    request = JobRequest(prompt="A lighthouse keeper's last night", duration=10, options=options)
    job = (await jobs.create_job(user_id=USER, request=request)).job
    await jobs.embed_script(job.job_id, sample_script((2.0, 2.0)), {"scene_count": 2})
    await deps.uploads.delete_upload(USER, upload_id)
    ready = ScriptReady.create(
        job_id=job.job_id, user_id=USER, trace_id="t",
        data=ScriptReadyData(title="t", scene_count=2),
    )  # fmt: skip
    await handle_script_ready(ready, message_of(ready), deps)
    publisher = deps.publisher
    assert isinstance(publisher, RecordingPublisher)
    first = next(e for e in publisher.events if isinstance(e, KeyframeRequested))
    await handle_keyframe_requested(first, message_of(first), deps)

    failed = await jobs.get_job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message is not None
    assert f"style reference image: upload {upload_id} is no longer available" in (
        failed.error_message
    )
    assert fake_replicate.predictions == []  # no model was asked without the reference
