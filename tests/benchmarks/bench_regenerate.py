"""Scene regeneration: what regenerating one scene of a 6-scene job costs next to the job's
first render, in clip work (clip generations and the seconds spent generating them) and
compositions, through the renderer's real handlers (in-memory job store, queue and bucket; the
embedded local providers: ffmpeg clips, espeak-ng narration, synth music; a quarter of the
frame size).

    .venv/bin/python tests/benchmarks/bench_regenerate.py [--scenes 6] [--continuity none]

Target: regenerating 1 scene costs <= 1/6 of the first render's clip work plus one
composition (in `none` continuity; in `chain` the scenes after it are rendered again too, so
the bench also prints chain's figure for the middle scene). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.compose import compose
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.ports import ClipResult
from omnigen.shared.domain.events import (
    AudioRequested,
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import JobOptions, JobRequest
from omnigen.shared.domain.scenes import Continuity
from omnigen.shared.domain.scripts import Scene
from omnigen.shared.domain.versions import SceneChanges, plan_regeneration, version_requests
from omnigen.shared.logging import configure_logging
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver as deliver_to_renderer
from omnigen.testing.renderer import message_of
from omnigen.testing.samples import sample_script

WORK_ITEMS = ("scene.requested", "audio.requested", "compose.requested")


@dataclass
class Work:
    clips: int = 0
    clip_s: float = 0.0
    audio: int = 0
    compositions: int = 0
    compose_s: float = 0.0
    wall_s: float = 0.0
    rendered: list[int] = field(default_factory=list)


class TimedClips:
    def __init__(self, work: Work) -> None:
        self.work = work
        self._real = LocalClipGenerator()

    async def generate(self, scene: Scene, **kwargs: Any) -> ClipResult:
        began = time.perf_counter()
        result = await self._real.generate(scene, **kwargs)
        self.work.clips += 1
        self.work.clip_s += time.perf_counter() - began
        self.work.rendered.append(scene.scene_number)
        return result


def timed_composer(work: Work) -> Any:
    async def composer(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = await compose(*args, **kwargs)
        work.compositions += 1
        work.compose_s += time.perf_counter() - began
        return result

    return composer


async def deliver(event: Event, deps: RendererDeps, work: Work) -> None:
    if isinstance(event, AudioRequested):
        work.audio += 1
    await deliver_to_renderer(event, message_of(event), deps)


async def drive(deps: RendererDeps, first: list[Event], work: Work) -> None:
    publisher: RecordingPublisher = deps.publisher  # type: ignore[assignment]
    seen = len(publisher.events)
    began = time.perf_counter()
    for event in first:
        await deliver(event, deps, work)
    while seen < len(publisher.events):
        event = publisher.events[seen]
        seen += 1
        if event.event_type.value in WORK_ITEMS:
            await deliver(event, deps, work)
    work.wall_s = time.perf_counter() - began


async def measure(scenes: int, continuity: Continuity, regenerate: int) -> tuple[Work, Work]:
    first, again = Work(), Work()
    jobs = InMemoryJobRepository()
    deps = RendererDeps(
        jobs=jobs,
        publisher=RecordingPublisher(),
        assets=InMemoryAssetStore(),
        clips=TimedClips(first),
        narrator=EspeakNarrator(),
        music=SynthMusicSource(),
        scale=0.25,
        composer=timed_composer(first),
    )
    durations = tuple([60.0 / scenes] * scenes)
    request = JobRequest(
        prompt="A lighthouse keeper's last night on a stormy island",
        duration=60,
        options=JobOptions(continuity=continuity),
    )
    job = (await jobs.create_job(user_id="bench", request=request)).job
    script = sample_script(durations)  # its prompts repeat every 4 scenes: make each its own
    unique = [
        s.model_copy(update={"generation_prompt": f"{s.generation_prompt}, shot {s.scene_number}"})
        for s in script.scenes
    ]
    script = script.model_copy(update={"scenes": unique})
    await jobs.embed_script(job.job_id, script, {"scene_count": scenes})
    ready = ScriptReady.create(
        job_id=job.job_id,
        user_id="bench",
        data=ScriptReadyData(title="t", scene_count=scenes),
    )
    await drive(deps, [ready], first)

    done = await jobs.get_job(job.job_id)
    start = plan_regeneration(
        done,
        regenerate,
        SceneChanges(camera_move="static"),
        now=time.time(),
        request_id="bench",
    )
    started = await jobs.start_version(done, start)
    deps = RendererDeps(
        jobs=jobs,
        publisher=deps.publisher,
        assets=deps.assets,
        clips=TimedClips(again),
        narrator=deps.narrator,
        music=deps.music,
        scale=0.25,
        composer=timed_composer(again),
    )
    await drive(deps, version_requests(started, start.version, None), again)
    final = await jobs.get_job(job.job_id)
    assert final.render_version == 2 and final.video_key is not None
    return first, again


def report(label: str, first: Work, again: Work, scenes: int) -> None:
    print(f"\n{label}")
    print(
        f"{'':24}{'clips':>6}{'clip s':>9}{'audio':>6}{'compose':>8}{'compose s':>10}{'wall s':>8}"
    )
    for name, w in (("first render (v1)", first), ("regenerate (v2)", again)):
        print(
            f"{name:24}{w.clips:>6}{w.clip_s:>9.2f}{w.audio:>6}{w.compositions:>8}"
            f"{w.compose_s:>10.2f}{w.wall_s:>8.2f}"
        )
    clip_ratio = again.clip_s / first.clip_s if first.clip_s else float("nan")
    print(
        f"clips rendered again: {again.rendered}; clip work ratio {again.clips}/{first.clips} "
        f"generations, {clip_ratio:.3f} of the clip seconds (target <= {1 / scenes:.3f} "
        f"in none mode); compositions {again.compositions} (target 1)"
    )


async def main(scenes: int, middle: int) -> None:
    configure_logging("bench", level="WARNING")
    none_first, none_again = await measure(scenes, Continuity.NONE, middle)
    report(
        f"{scenes} scenes, continuity none, regenerate scene {middle}",
        none_first,
        none_again,
        scenes,
    )
    chain_first, chain_again = await measure(scenes, Continuity.CHAIN, scenes)
    report(
        f"{scenes} scenes, continuity chain, regenerate the last scene ({scenes})",
        chain_first,
        chain_again,
        scenes,
    )
    chain_mid_first, chain_mid = await measure(scenes, Continuity.CHAIN, middle)
    report(
        f"{scenes} scenes, continuity chain, regenerate scene {middle} (and those after it)",
        chain_mid_first,
        chain_mid,
        scenes,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--scene", type=int, default=3, help="the scene regenerated")
    args = parser.parse_args()
    asyncio.run(main(args.scenes, args.scene))
