"""A job of the user's own photos through the renderer's handlers with in-memory ports: its
scenes come from the uploads (no clip provider is ever called), its bed from the uploaded
track; an upload deleted before its scene fails the job naming it."""

from __future__ import annotations

import time
from pathlib import Path

from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.probe import probe
from omnigen.shared.domain.events import (
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.scripts import Scene, ScriptDraft
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.uploads import Upload, UploadFacts, UploadStatus
from omnigen.testing import upload_samples as samples
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver, message_of, renderer_deps
from omnigen.testing.upload_fakes import InMemoryUploadStore

USER = "u-photos"


class NoClips:
    """Any call is a failure: scenes from uploads need no clip provider."""

    async def generate(self, scene: Scene, **_: object) -> None:
        raise AssertionError(f"the clip provider was asked for scene {scene.scene_number}")


async def ready_upload(
    deps: RendererDeps, path: Path, content_type: str, facts: UploadFacts
) -> str:
    upload = Upload.new(USER, content_type, path.name, time.time())
    await deps.assets.put_file(upload.key, path, content_type)
    store = deps.uploads
    assert isinstance(store, InMemoryUploadStore)
    await store.add_upload(upload, limit=10)
    await store.record_check(
        upload.upload_id, UploadStatus.READY, reason=None, facts=facts, checked_at=time.time()
    )
    return upload.upload_id


async def photos_job(deps: RendererDeps, media: list[str], track: str) -> Job:
    prompt = "A slow look across photograph number {} from our trip to the coast"
    draft = ScriptDraft.model_validate(
        {
            "title": "Our trip",
            "scenes": [
                {
                    "duration": 5.0,
                    "narration": f"Picture {i + 1}.",
                    "generation_prompt": prompt.format(i + 1),
                    "media": m,
                }
                for i, m in enumerate(media)
            ],
        }
    )
    request = JobRequest(
        duration=10, script=draft, options=JobOptions(music_track=track), aspect_ratio="16:9"
    )
    jobs = deps.jobs
    assert isinstance(jobs, InMemoryJobRepository)
    job = (await jobs.create_job(user_id=USER, request=request)).job
    await jobs.embed_script(job.job_id, draft.complete(), {"scene_count": len(media)})
    return await jobs.get_job(job.job_id)


async def drive(deps: RendererDeps, job: Job) -> None:
    """Play the queues: every renderer work item published is handled, one message each."""
    publisher = deps.publisher
    assert isinstance(publisher, RecordingPublisher)
    first = ScriptReady.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id="t",
        data=ScriptReadyData(title="t", scene_count=len(job.scenes or [])),
    )
    pending: list[Event] = [first]
    seen = 0
    while pending:
        event = pending.pop(0)
        await deliver(event, message_of(event), deps)
        pending += publisher.events[seen:]
        seen = len(publisher.events)


def photo_deps() -> RendererDeps:
    return renderer_deps(clips=NoClips(), uploads=InMemoryUploadStore())


async def test_a_job_of_uploaded_photos_needs_no_clip_provider(tmp_path: Path) -> None:
    deps = photo_deps()
    photos = [samples.photo(tmp_path / f"p{i}.jpg", 1600, 900, seed=i) for i in range(2)]
    facts = UploadFacts(width=1600, height=900)
    media = [await ready_upload(deps, p, "image/jpeg", facts) for p in photos]
    track = await ready_upload(
        deps, samples.track(tmp_path / "t.wav", 3.0), "audio/wav", UploadFacts(duration_s=3.0)
    )
    job = await photos_job(deps, media, track)

    await drive(deps, job)

    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED, done.error_message
    assert done.video_key is not None
    video = tmp_path / "video.mp4"
    video.write_bytes(deps.assets.objects[done.video_key])  # type: ignore[attr-defined]
    info = await probe(video)
    assert 9.8 <= info.duration_s <= 10.3 and info.audio is not None
    for number, photo in enumerate(photos):
        frame = samples.frame_at(video, number * 5 + 2.5, tmp_path / f"f{number}.jpg")
        assert samples.hash_distance(samples.ahash(frame), samples.ahash(photo)) <= 10


async def test_an_upload_deleted_before_its_scene_fails_the_job_naming_it(
    tmp_path: Path,
) -> None:
    deps = photo_deps()
    photo = samples.photo(tmp_path / "p.jpg", 800, 450)
    facts = UploadFacts(width=800, height=450)
    kept, gone = [await ready_upload(deps, photo, "image/jpeg", facts) for _ in range(2)]
    track = await ready_upload(
        deps, samples.track(tmp_path / "t.wav", 3.0), "audio/wav", UploadFacts(duration_s=3.0)
    )
    job = await photos_job(deps, [kept, gone], track)
    assert deps.uploads is not None
    await deps.uploads.delete_upload(USER, gone)

    await drive(deps, job)

    failed = await deps.jobs.get_job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message is not None
    assert f"scene 2: upload {gone} is no longer available" in failed.error_message
