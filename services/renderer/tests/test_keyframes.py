"""`keyframes` continuity with in-memory ports and the real local providers: every keyframe
before any clip, each clip from its own keyframe (in the clip's hue), a keyframe's transient
failure retried alone, a permanent one failing the job with the scene named; a regenerated
scene's keyframe drawn again when its visual changed, reused when only its words did."""

from __future__ import annotations

import asyncio
import colorsys
import math
import subprocess
import time
from pathlib import Path

import imageio_ffmpeg
import pytest

from omnigen.renderer.handlers import (
    RendererDeps,
    handle_script_ready,
)
from omnigen.renderer.keyframing import keyframe_key
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.keyframes import LocalKeyframeGenerator
from omnigen.renderer.media.probe import probe
from omnigen.renderer.ports import ClipLook, ClipResult
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.shared.domain.events import (
    AudioRequested,
    ComposeRequested,
    Event,
    KeyframeRequested,
    SceneRequested,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.keyframes import KeyframeState, Look, shared_look
from omnigen.shared.domain.scenes import Continuity, default_continuity
from omnigen.shared.domain.scripts import ColorGrade, Scene
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.versions import SceneChanges, plan_regeneration, version_requests
from omnigen.shared.messages import MessageContext
from omnigen.testing.fakes import InMemoryJobRepository
from omnigen.testing.renderer import deliver as deliver_as_queued
from omnigen.testing.renderer import message_of, renderer_deps
from omnigen.testing.samples import sample_script

STORM = "A winter storm breaks over the old lighthouse lamp at dusk"
CTX = MessageContext("m-1", "r-1", 1, 4, "{}")


class RecordingClips:
    """The local clip generator, keeping the start image each scene was given."""

    def __init__(self) -> None:
        self.started_from: dict[int, bytes | None] = {}
        self.last_frames: dict[int, bytes] = {}
        self._real = LocalClipGenerator()

    async def generate(
        self, scene: Scene, *, size: tuple[int, int], fps: int, start_image: Path | None,
        out_dir: Path, look: ClipLook | None = None,
    ) -> ClipResult:  # fmt: skip
        self.started_from[scene.scene_number] = start_image.read_bytes() if start_image else None
        result = await self._real.generate(
            scene, size=size, fps=fps, start_image=start_image, out_dir=out_dir, look=look
        )
        self.last_frames[scene.scene_number] = result.last_frame_path.read_bytes()
        return result


class FlakyKeyframes:
    """The local keyframes; the scenes in `fail` raise `error` on their first `times` draws."""

    def __init__(self, fail: set[int], error: Exception, times: int = 1) -> None:
        self.drawn: list[int] = []
        self.attempts: list[int] = []
        self._fail, self._error, self._times = fail, error, times
        self._real = LocalKeyframeGenerator()

    async def generate(
        self, scene: Scene, *, look: Look, size: tuple[int, int], out_path: Path,
        style_reference: Path | None = None, palette_seed: str = "",
    ) -> Path:  # fmt: skip
        self.attempts.append(scene.scene_number)
        if scene.scene_number in self._fail and self.attempts.count(scene.scene_number) <= (
            self._times
        ):
            raise self._error
        self.drawn.append(scene.scene_number)
        return await self._real.generate(
            scene,
            look=look,
            size=size,
            out_path=out_path,
            style_reference=style_reference,
            palette_seed=palette_seed,
        )


def deps_with(clips: object, keyframes: object = None) -> RendererDeps:
    return renderer_deps(clips=clips, keyframes=keyframes)


async def keyframes_job(
    deps: RendererDeps, scenes: tuple[float, ...], grade: ColorGrade | None = None
) -> Job:
    jobs: InMemoryJobRepository = deps.jobs  # type: ignore[assignment]
    request = JobRequest(
        prompt="A lighthouse keeper's last night",
        duration=max(10, round(sum(scenes))),
        options=JobOptions(continuity=Continuity.KEYFRAMES),
    )
    job = (await jobs.create_job(user_id="u1", request=request, trace_id="trace-k")).job
    script = sample_script(scenes)
    if grade is not None:
        graded = [scene.model_copy(update={"color_grade": grade}) for scene in script.scenes]
        script = script.model_copy(update={"scenes": graded})
    await jobs.embed_script(job.job_id, script, {"scene_count": len(scenes)})
    job = await jobs.get_job(job.job_id)
    ready = ScriptReady.create(
        job_id=job.job_id,
        user_id="u1",
        trace_id="trace-k",
        data=ScriptReadyData(title="t", scene_count=len(scenes)),
    )
    await handle_script_ready(ready, CTX, deps)
    return job


def of_type(deps: RendererDeps, kind: type[Event]) -> list[Event]:
    return [e for e in deps.publisher.events if isinstance(e, kind)]  # type: ignore[attr-defined]


async def deliver(event: Event, deps: RendererDeps, receive: int = 1, copy: str = "a") -> None:
    await deliver_as_queued(event, message_of(event, receive=receive, copy=copy), deps)


async def test_every_keyframe_is_drawn_before_any_clip_and_each_clip_starts_from_its_own(
    tmp_path: Path,
) -> None:
    clips = RecordingClips()
    deps = deps_with(clips)
    job = await keyframes_job(deps, (2.5, 2.5, 2.5))
    keyframe_requests = of_type(deps, KeyframeRequested)
    assert sorted(e.data.scene_number for e in keyframe_requests) == [1, 2, 3]  # type: ignore[attr-defined]
    assert of_type(deps, SceneRequested) == []  # no clip before every keyframe
    # Every keyframe delivered twice at the same time; all finish concurrently.
    await asyncio.gather(
        *(deliver(e, deps, copy=c) for e in keyframe_requests for c in ("a", "b")),
        *(deliver(e, deps) for e in of_type(deps, AudioRequested)),
    )
    assert clips.started_from == {}
    scene_requests = of_type(deps, SceneRequested)
    assert sorted(e.data.scene_number for e in scene_requests) == [1, 2, 3]  # type: ignore[attr-defined]
    await asyncio.gather(*(deliver(e, deps) for e in scene_requests))
    objects = deps.assets.objects  # type: ignore[attr-defined]
    for number in (1, 2, 3):
        assert clips.started_from[number] == objects[keyframe_key(job.job_id, number)]
    (compose,) = of_type(deps, ComposeRequested)
    await deliver(compose, deps)
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    assert [e.event_type.value for e in deps.publisher.events].count("job.completed") == 1  # type: ignore[attr-defined]
    video = tmp_path / "video.mp4"
    assert done.video_key is not None
    video.write_bytes(objects[done.video_key])
    assert abs((await probe(video)).duration_s - 7.5) <= 0.2
    keyframes = KeyframeState.of(done.metadata, [1, 2, 3])
    assert keyframes is not None and all(
        k["state"] == "complete" and k["attempts"] == 1 for k in keyframes.summary().values()
    )
    render = done.render_summary()
    assert render is not None and render["scenes"][0]["keyframe"]["state"] == "complete"


async def test_a_transient_keyframe_failure_retries_that_keyframe_alone() -> None:
    outage = ProviderFailed("replicate: 503 Service Unavailable", provider="replicate",
                            transient=True)  # fmt: skip
    keyframes = FlakyKeyframes({2}, outage)
    deps = deps_with(RecordingClips(), keyframes)
    job = await keyframes_job(deps, (2.5, 2.5, 2.5))
    requests = {e.data.scene_number: e for e in of_type(deps, KeyframeRequested)}  # type: ignore[attr-defined]
    for number in (1, 3):
        await deliver(requests[number], deps)
    with pytest.raises(ProviderFailed):
        await deliver(requests[2], deps)
    assert of_type(deps, SceneRequested) == []
    await deliver(requests[2], deps, receive=2)  # the consumer's retry of that message
    assert sorted(keyframes.drawn) == [1, 2, 3] and keyframes.attempts.count(2) == 2
    assert sorted(e.data.scene_number for e in of_type(deps, SceneRequested)) == [1, 2, 3]  # type: ignore[attr-defined]
    current = await deps.jobs.get_job(job.job_id)
    assert current.status is JobStatus.PROCESSING
    assert current.metadata["scene_2_keyframe_attempts"] == 2
    assert current.metadata["scene_1_keyframe_attempts"] == 1


async def test_a_permanent_keyframe_failure_fails_the_job_naming_the_scene() -> None:
    refused = ProviderFailed("replicate: the model refused the prompt", provider="replicate")
    deps = deps_with(RecordingClips(), FlakyKeyframes({3}, refused))
    job = await keyframes_job(deps, (2.5, 2.5, 2.5))
    for event in of_type(deps, KeyframeRequested):
        await deliver(event, deps)
    failed = await deps.jobs.get_job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == "scene 3 keyframe: replicate: the model refused the prompt"
    assert of_type(deps, SceneRequested) == []
    events = [e.event_type.value for e in deps.publisher.events]  # type: ignore[attr-defined]
    assert events.count("job.failed") == 1


def test_the_shared_look_is_one_for_the_whole_render_and_stable() -> None:
    script = sample_script((2.5, 2.5, 2.5))
    look = shared_look("job-1", script, "watercolour")
    assert look == shared_look("job-1", script, "watercolour")
    assert look.style == "watercolour" and look.seed != shared_look("job-2", script).seed
    assert Look.from_dict(look.as_dict()) == look


def test_hosted_image_to_video_defaults_to_keyframes_local_to_chain() -> None:
    assert default_continuity(True, prefers_keyframes=True) is Continuity.KEYFRAMES
    assert default_continuity(True) is Continuity.CHAIN
    assert default_continuity(False, prefers_keyframes=True) is Continuity.NONE


def hue(image: bytes, tmp: Path) -> float:
    """The picture's hue (degrees): the mean of its 16x9 cells' hues, weighted by their
    chroma (grey and black cells, the letterbox bars, say nothing about it)."""
    path = tmp / "picture.jpg"
    path.write_bytes(image)
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path),
         "-vf", "scale=16:9:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    x = y = 0.0
    for cell in range(0, len(raw), 3):
        turn, lightness, saturation = colorsys.rgb_to_hls(*(v / 255 for v in raw[cell : cell + 3]))
        chroma = saturation * (1 - abs(2 * lightness - 1))
        x += chroma * math.cos(2 * math.pi * turn)
        y += chroma * math.sin(2 * math.pi * turn)
    return math.degrees(math.atan2(y, x)) % 360


def hue_apart(a: float, b: float) -> float:
    return min(abs(a - b), 360 - abs(a - b))


async def drive_all(deps: RendererDeps, seen: int = 0) -> int:
    """Deliver every renderer work item published from index `seen` on, each once, until none
    is left; returns how many events were published then."""
    events = deps.publisher.events  # type: ignore[attr-defined]
    while seen < len(events):
        event = events[seen]
        seen += 1
        await deliver(event, deps)
    return seen


async def regenerate(
    deps: RendererDeps, scene: int, changes: SceneChanges, job_id: str
) -> list[Event]:
    """What ingest does: the start write, then the version's work items (published)."""
    job = await deps.jobs.get_job(job_id)
    start = plan_regeneration(job, scene, changes, now=time.time(), request_id=f"r{job.version}")
    started = await deps.jobs.start_version(job, start)
    work = version_requests(started, start.version, "trace-v")
    for event in work:
        await deps.publisher.publish(event)
    return work


async def test_a_keyframe_and_the_clip_it_starts_share_the_jobs_hue(tmp_path: Path) -> None:
    """The local keyframe takes its palette from the job, as the local clip does: the clip's
    last frame (long after the keyframe dissolved) has the keyframe's hue. (A vibrant grade
    keeps the palette's hue; with the image seed's palette they were 17-175 degrees apart.)"""
    clips = RecordingClips()
    deps = deps_with(clips)
    job = await keyframes_job(deps, (3.0, 3.0, 4.0), ColorGrade.VIBRANT)
    await drive_all(deps)
    objects = deps.assets.objects  # type: ignore[attr-defined]
    for number in (1, 2, 3):
        drawn = hue(objects[keyframe_key(job.job_id, number)], tmp_path)
        clip = hue(clips.last_frames[number], tmp_path)
        assert hue_apart(drawn, clip) <= 15, (number, drawn, clip)


async def test_a_regenerated_scene_gets_a_new_keyframe_only_when_its_visual_changed() -> None:
    clips, keyframes = RecordingClips(), FlakyKeyframes(set(), RuntimeError("unused"))
    deps = deps_with(clips, keyframes)
    job = await keyframes_job(deps, (4.0, 4.0, 4.0))
    seen = await drive_all(deps)
    assert (await deps.jobs.get_job(job.job_id)).status is JobStatus.COMPLETED
    assert sorted(keyframes.drawn) == [1, 2, 3]
    objects = deps.assets.objects  # type: ignore[attr-defined]
    v1_keyframe = objects[keyframe_key(job.job_id, 2)]

    # a new visual prompt and camera: scene 2's keyframe is drawn again, before its clip
    keyframes.drawn.clear()
    clips.started_from.clear()
    changes = SceneChanges(generation_prompt=STORM, camera_angle="dutch")
    work = await regenerate(deps, 2, changes, job.job_id)
    assert [(e.event_type.value, e.data.version) for e in work] == [("keyframe.requested", 2)]  # type: ignore[attr-defined]
    seen = await drive_all(deps, seen)
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.render_version == 2
    assert keyframes.drawn == [2] and list(clips.started_from) == [2]
    new_keyframe = objects[keyframe_key(job.job_id, 2, 2)]
    assert done.metadata["v2_scene_2_keyframe_key"] == keyframe_key(job.job_id, 2, 2)
    assert clips.started_from[2] == new_keyframe != v1_keyframe
    assert done.versions[-1]["keyframes_redrawn"] == [2]
    assert done.metadata["v2_keyframe_look"] == done.metadata["keyframe_look"]  # one look

    # only the narration: scene 3's clip again from its recorded keyframe, none drawn
    keyframes.drawn.clear()
    clips.started_from.clear()
    work = await regenerate(deps, 3, SceneChanges(narration="The lamp goes dark."), job.job_id)
    assert sorted(e.event_type.value for e in work) == ["audio.requested", "scene.requested"]
    await drive_all(deps, seen)
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.render_version == 3
    assert keyframes.drawn == []
    assert clips.started_from == {3: objects[keyframe_key(job.job_id, 3)]}
    assert done.versions[-1]["keyframes_redrawn"] == []
