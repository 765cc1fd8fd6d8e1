"""Scenes as units of work: how long one job takes when its scenes fan out over SQS, and what
it costs in AWS calls, against moto (in this process: the renderer's real handlers and
consumers, one consumer per queue as `omnigen-renderer` runs them).

    .venv/bin/python tests/benchmarks/bench_scenes.py [--latency 20] [--skip-hosted]

1. Hosted: the fake Replicate server (omnigen.testing.fake_replicate) takes L seconds per clip
   prediction (default L = 20 s) and L/4 per keyframe image; a 60 s job of 6 scenes with 6
   clip slots (the scenes consumer's concurrency), with `continuity=keyframes` (every keyframe
   in parallel, then every clip from its keyframe in parallel), `none` (every clip in
   parallel) and `chain` (in order, each from the previous clip's last frame), same run;
   prints each, its composition time, and the ratio chain / keyframes (target: keyframes
   <= 1.5 L + its composition). Narration and music are local (espeak-ng, synth),
   composition is the real ffmpeg one at a quarter of the frame size.
2. Embedded default (local providers, 2 clip slots as a default renderer task has): a 30 s
   job end to end through the fan-out, next to the sequential in-process path of the seed
   (scenes in order, then narration and music, one composition; no queue, no table), same run.
3. AWS calls per job and per scene, from two embedded jobs of 3 and 6 scenes: every call the
   renderer's session makes while the job runs, without empty long polls (an idle consumer's
   cost, per minute, not per job) and the consumers' start-up queue look-ups (once per
   process). calls = per_job + per_scene x scenes; `chain`, `none`, then `keyframes` continuity;
   listed by operation and by the step (the event type) whose handler made them.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS
from omnigen.renderer.handlers import FPS, RendererDeps
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.compose import ScenePart, compose
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.providers.factory import build_providers
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.renderer.routing import renderer_handlers
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.events import (
    AudioRequested,
    ComposeRequested,
    Event,
    KeyframeRequested,
    SceneRequested,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import JobOptions, JobRequest
from omnigen.shared.logging import configure_logging
from omnigen.shared.runtime.consumer import Consumer
from omnigen.shared.settings import AwsSettings, WorkerSettings
from omnigen.shared.workflow import failure_hooks
from omnigen.testing.fake_replicate import Behaviour, FakeReplicate
from omnigen.testing.samples import sample_script

SCALE = 0.25
IMAGE_MODEL = "black-forest-labs/flux-schnell"  # the keyframe model (the renderer's default)
TOKEN = "bench-replicate-token"  # the fake server's own; no real provider is called


STARTUP_CALLS = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes")
# The event a call was made for: set by the handler wrapper; the consumers' own receives and
# (batched) deletes are made outside any handler.
STEP: contextvars.ContextVar[str] = contextvars.ContextVar("step", default="queue: receive, delete")


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.by_step: Counter[str] = Counter()
        self.empty_receives = 0

    def before_call(self, model: Any, **_: Any) -> None:
        op = f"{model.service_model.service_name}:{model.name}"
        self.calls[op] += 1
        if op not in STARTUP_CALLS and op != "sqs:ReceiveMessage":
            self.by_step[STEP.get()] += 1

    def after_call(self, model: Any, parsed: Any = None, **_: Any) -> None:
        receive = model.name == "ReceiveMessage" and isinstance(parsed, dict)
        if receive and not parsed.get("Messages"):
            self.empty_receives += 1
        elif receive:  # a consumer's: counted once it brought something
            self.by_step[STEP.get()] += 1

    @property
    def working(self) -> int:
        """Calls made for the job: without empty long polls and the consumers' start-up look-ups
        (a renderer process makes those once, not per job; this bench starts one per job)."""
        return sum(self.working_ops.values())

    @property
    def working_ops(self) -> Counter[str]:
        """`working` by operation (what the per-operation listing shows)."""
        ops = Counter({op: n for op, n in self.calls.items() if op not in STARTUP_CALLS})
        ops["sqs:ReceiveMessage"] -= self.empty_receives
        return +ops  # drops operations left at zero


class DonePublisher(SnsEventPublisher):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.completed: dict[str, asyncio.Event] = {}

    async def publish(self, event: Event) -> str:
        message_id = await super().publish(event)
        if event.event_type.value in ("job.completed", "job.failed") and event.job_id:
            self.completed.setdefault(event.job_id, asyncio.Event()).set()
        return message_id


COMPOSE_S: list[float] = []  # seconds of every composition (the encode), in order
COMPOSE_STEP_S: list[float] = []  # seconds of every compose step (download, encode, upload)


def counted(event_type: type[Event], handle: Any) -> Any:
    """`handle` with its AWS calls counted as its event type's; the compose step also timed."""

    async def bound(event: Any, ctx: Any) -> None:
        token = STEP.set(event_type.TYPE.value)
        began = time.monotonic()
        try:
            await handle(event, ctx)
        finally:
            STEP.reset(token)
            if event_type is ComposeRequested:
                COMPOSE_STEP_S.append(time.monotonic() - began)

    return bound


async def timed_compose(*args: Any, **kwargs: Any) -> Any:
    began = time.monotonic()
    try:
        return await compose(*args, **kwargs)
    finally:
        COMPOSE_S.append(time.monotonic() - began)


@asynccontextmanager
async def renderer(
    settings: AwsSettings, topic_arn: str, providers: Any, clip_slots: int
) -> AsyncIterator[tuple[DonePublisher, CallCounter]]:
    """The renderer's two consumers (renderer queue, scenes queue) on counted clients."""
    counter = CallCounter()
    session = get_session()
    session.register("before-call", counter.before_call)
    session.register("after-call", counter.after_call)
    spec = settings.resources
    async with AwsClients(settings, session=session) as aws:
        jobs = DynamoJobRepository(await aws.dynamodb(), spec.table)
        publisher = DonePublisher(await aws.sns(), topic_arn)
        clips, narrator, music, *keyframes = providers
        deps = RendererDeps(
            jobs=jobs,
            publisher=publisher,
            assets=S3AssetStore(await aws.s3(), spec.bucket.name),
            clips=clips,
            narrator=narrator,
            music=music,
            scale=SCALE,
            lease_s=45,
            keyframes=keyframes[0] if keyframes else None,
            composer=timed_compose,
        )
        on_poison, on_failure = failure_hooks(jobs, publisher)
        handlers = renderer_handlers(deps)
        consumers = []
        for queue, slots, types in (
            (spec.renderer_queue, 2, (ScriptReady, AudioRequested, ComposeRequested)),
            (spec.scenes_queue, clip_slots, (SceneRequested, KeyframeRequested)),
        ):
            worker = WorkerSettings(concurrency=slots, wait_time_s=1)
            consumer = Consumer(
                await aws.sqs(),
                queue.name,
                worker.consumer_settings(queue),
                on_poison=on_poison,
                on_failure=on_failure,
            )
            for event_type in types:
                consumer.register(event_type, counted(event_type, handlers[event_type]))
            consumers.append(consumer)
        tasks = [asyncio.create_task(c.run()) for c in consumers]
        try:
            yield publisher, counter
        finally:
            for consumer in consumers:
                consumer.stop()
            await asyncio.gather(*tasks)


async def one_job(
    settings: AwsSettings,
    topic_arn: str,
    providers: Any,
    *,
    scenes: tuple[float, ...],
    continuity: str,
    clip_slots: int,
) -> tuple[float, int, Counter[str], Counter[str]]:
    """(seconds from script.ready to job.completed, working AWS calls, the same by operation,
    the same by the event whose handler made them)."""
    async with AwsClients(settings) as aws:  # set-up: not counted
        repo = DynamoJobRepository(await aws.dynamodb(), settings.resources.table)
        request = JobRequest(
            prompt="A lighthouse keeper's last night on a stormy island",
            duration=max(10, round(sum(scenes))),
            options=JobOptions(continuity=continuity),
        )
        job = (await repo.create_job(user_id="bench", request=request)).job
        await repo.embed_script(job.job_id, sample_script(scenes))
        ready = ScriptReady.create(
            job_id=job.job_id,
            user_id="bench",
            data=ScriptReadyData(title="bench", scene_count=len(scenes)),
        )
        async with renderer(settings, topic_arn, providers, clip_slots) as (publisher, counter):
            done = publisher.completed.setdefault(job.job_id, asyncio.Event())
            began = time.monotonic()
            await SnsEventPublisher(await aws.sns(), topic_arn).publish(ready)
            await done.wait()
            elapsed = time.monotonic() - began
        final = await repo.get_job(job.job_id)
        if final.status.value != "completed":
            raise RuntimeError(f"job ended {final.status.value}: {final.error_message}")
    return elapsed, counter.working, counter.working_ops, counter.by_step


async def sequential_in_process(scenes: tuple[float, ...], work: Path) -> float:
    """The seed's path without AWS: scenes in order (each from the last frame), then narration
    and music, one composition."""
    script = sample_script(scenes)
    size = (int(1920 * SCALE) // 2 * 2, int(1080 * SCALE) // 2 * 2)
    clips, narrator, music = LocalClipGenerator(), EspeakNarrator(), SynthMusicSource()
    began = time.monotonic()
    start: Path | None = None
    parts = []
    for scene in script.scenes:
        result = await clips.generate(scene, size=size, fps=FPS, start_image=start, out_dir=work)
        start = result.last_frame_path
        narration = await narrator.synthesize(
            scene.narration, voice=None, out_path=work / f"n{scene.scene_number}.wav"
        )
        parts.append(ScenePart(result.path, scene.duration, scene.transition_in, narration))
    bed = await music.generate(
        script.audio_spec.music_mood,
        script.audio_spec.music_style,
        script.total_duration,
        work / "music.wav",
    )
    await compose(
        parts,
        music=bed,
        size=size,
        fps=FPS,
        out_path=work / "video.mp4",
        poster_path=work / "poster.jpg",
    )
    return time.monotonic() - began


async def main(latency: float, hosted: bool, repeat: int, *, embedded: bool = True) -> None:
    configure_logging("bench", level="WARNING", json_output=False)
    os.environ.update(EMULATOR_CREDENTIALS)  # the emulator only; never real credentials
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    local = (LocalClipGenerator(), EspeakNarrator(), SynthMusicSource())
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        settings = AwsSettings(endpoint_url=moto.endpoint_url, resource_prefix="bench-scenes")
        async with AwsClients(settings) as aws:
            applied = await apply_spec(aws, settings.resources)
        topic = applied.topic_arns[settings.resources.events_topic.name]

        if hosted:
            with FakeReplicate(Path(tmp) / "replicate", api_token=TOKEN) as fake:
                fake.behave_by_default(Behaviour(run_s=latency, polls=1))
                image = Behaviour(output="image", output_as_list=True, run_s=latency / 4, polls=1)
                fake.behave(IMAGE_MODEL, image)
                built = build_providers(
                    ProviderSettings(
                        clip_provider="replicate",
                        replicate_api_token=TOKEN,
                        replicate_base_url=fake.base_url,
                        replicate_poll_interval_s=0.5,
                        replicate_poll_max_interval_s=1.0,
                        replicate_image_model=IMAGE_MODEL,
                    )
                )
                hosted_providers = (built.clips, local[1], local[2], built.keyframes)
                six = (10.0,) * 6
                try:
                    times, composed, step = {}, {}, {}
                    for mode in ("keyframes", "none", "chain"):
                        times[mode], *_ = await one_job(
                            settings, topic, hosted_providers, scenes=six, continuity=mode,
                            clip_slots=6,
                        )  # fmt: skip
                        composed[mode], step[mode] = COMPOSE_S[-1], COMPOSE_STEP_S[-1]
                finally:
                    await built.aclose()
            print(f"hosted (fake Replicate, L = {latency:g} s per clip, {latency / 4:g} s per "
                  "keyframe image), 60 s job, 6 scenes, 6 clip slots:")  # fmt: skip
            for mode, what in (("keyframes", "keyframes, then clips"), ("none", "parallel"),
                               ("chain", "in order")):  # fmt: skip
                in_l = times[mode] / latency
                print(f"  continuity={mode:<9} ({what}): {times[mode]:7.1f} s  "
                      f"({in_l:.2f} L; composition: encode {composed[mode]:.1f} s, "
                      f"step {step[mode]:.1f} s)")  # fmt: skip
            budget = 1.5 * latency + step["keyframes"]
            verdict = "met" if times["keyframes"] <= budget else "MISSED"
            print(f"  keyframes target <= 1.5 L + its composition step (download, encode, "
                  f"upload, complete) = {budget:.1f} s: {verdict}")  # fmt: skip
            print(f"  chain / keyframes: {times['chain'] / times['keyframes']:.2f}")

        if not embedded:
            return
        thirty = (7.5, 7.5, 7.5, 7.5)
        runs: dict[str, list[float]] = {"sequential": [], "chain": [], "none": []}
        for attempt in range(repeat):  # interleaved, so a slow spell of the machine hits all
            work = Path(tmp) / f"seq{attempt}"
            work.mkdir()
            runs["sequential"].append(await sequential_in_process(thirty, work))
            for mode in ("chain", "none"):
                took, *_ = await one_job(
                    settings, topic, local, scenes=thirty, continuity=mode, clip_slots=2
                )
                runs[mode].append(took)
        sequential, fanned, parallel = (min(runs[k]) for k in ("sequential", "chain", "none"))
        every = {k: [round(v, 1) for v in vs] for k, vs in runs.items()}
        print(f"embedded default (local providers, 2 clip slots), 30 s job of 4 scenes, best of "
              f"{repeat} (all: {every}):")  # fmt: skip
        print(f"  seed's sequential path, in process, no AWS: {sequential:6.1f} s")
        print(f"  fan-out over moto, continuity=chain:        {fanned:6.1f} s  "
              f"({fanned / sequential:.2f}x)")  # fmt: skip
        print(f"  fan-out over moto, continuity=none:         {parallel:6.1f} s  "
              f"({parallel / sequential:.2f}x)")  # fmt: skip

        print("AWS calls by the renderer (empty long polls and start-up look-ups excluded):")
        for mode in ("chain", "none", "keyframes"):
            _, calls3, ops3, steps3 = await one_job(
                settings, topic, local, scenes=(3.5,) * 3, continuity=mode, clip_slots=2
            )
            _, calls6, ops6, steps6 = await one_job(
                settings, topic, local, scenes=(3.5,) * 6, continuity=mode, clip_slots=2
            )
            per_scene = (calls6 - calls3) / 3
            per_job = calls6 - 6 * per_scene
            fit = f"{per_job:.1f} per job + {per_scene:.1f} per scene"
            print(f"  continuity={mode}: 3 scenes: {calls3}, 6 scenes: {calls6} -> {fit} "
                  "(target <= 8 + 5)")  # fmt: skip
            for op in sorted(set(ops3) | set(ops6)):
                print(f"    {op:<34} 3 scenes: {ops3[op]:3d}   6 scenes: {ops6[op]:3d}")
            print("    by the step that made them (receives and batched deletes are the "
                  "consumers', outside any step):")  # fmt: skip
            for name in sorted(set(steps3) | set(steps6)):
                print(f"      {name:<32} 3 scenes: {steps3[name]:3d}   6 scenes: "
                      f"{steps6[name]:3d}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=20.0, help="L: seconds per prediction")
    parser.add_argument("--skip-hosted", action="store_true", help="only the embedded figures")
    parser.add_argument("--hosted-only", action="store_true", help="only the hosted figures")
    parser.add_argument("--repeat", type=int, default=3, help="embedded runs of each path")
    args = parser.parse_args()
    asyncio.run(
        main(args.latency, not args.skip_hosted, args.repeat, embedded=not args.hosted_only)
    )
