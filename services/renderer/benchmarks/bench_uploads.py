"""Photos-to-video benchmark: prints figures, asserts nothing (not a test).

    .venv/bin/python services/renderer/benchmarks/bench_uploads.py [--repeat N] [--skip-memory]

1. A 30 s 16:9 1920x1080 job from 5 uploaded 4000x3000 JPEGs (a Ken Burns clip per photo),
   espeak narration and an uploaded music track (looped, normalised), composed in one pass,
   against one raw ffmpeg encode of 30 s at the same size and output settings (testsrc2 +
   sine), in the same process. Target: job / raw <= 1.5.
2. Peak memory (max RSS of the process plus its largest ffmpeg child) of that 30 s job
   against a 5-photo 10 s job, each in a fresh process. Target: 30 s / 10 s <= 1.3.

What the renderer does minus S3 (the photos are already on disk, as after its download).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import structlog

from omnigen.renderer.media.compose import (
    FINAL_AUDIO_ENCODING,
    FINAL_VIDEO_ENCODING,
    compose,
    parts_from_script,
)
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.media.stills import image_clip, music_bed
from omnigen.renderer.ports import NarrationResult
from omnigen.shared.domain.scripts import (
    AudioSpec,
    CameraAngle,
    CameraMove,
    ColorGrade,
    Lighting,
    Mood,
    Scene,
    Script,
    ScriptMetadata,
    ShotType,
    Transition,
)
from omnigen.testing import upload_samples as samples

SIZE = (1920, 1080)
FPS = 30
PHOTOS = 5
MOVES = [
    CameraMove.DOLLY_IN,
    CameraMove.PAN_RIGHT,
    CameraMove.DOLLY_OUT,
    CameraMove.TILT_UP,
    CameraMove.PAN_LEFT,
]
T = TypeVar("T")


def build_script(total_s: float) -> Script:
    each = total_s / PHOTOS
    scenes = [
        Scene(
            scene_number=i + 1,
            start_time=i * each,
            duration=each,
            location="the coast",
            action=f"photo {i + 1}",
            shot_type=ShotType.WIDE,
            camera_angle=CameraAngle.EYE_LEVEL,
            camera_move=MOVES[i],
            lighting=Lighting.NATURAL,
            color_grade=ColorGrade.NEUTRAL,
            mood=Mood.CALM,
            visual_style="photo",
            transition_in=Transition.CUT if i == 0 else Transition.CROSSFADE,
            generation_prompt=f"photo {i + 1}",
            narration=f"This is the picture number {i + 1} of our trip.",
        )
        for i in range(PHOTOS)
    ]
    return Script(
        title="Our trip",
        scenes=scenes,
        audio_spec=AudioSpec(music_mood=Mood.CALM, music_style="track", voiceover_text=""),
        metadata=ScriptMetadata(product="trip", audience="family", call_to_action="", keywords=[]),
    )


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


async def measure(step: Callable[[], Awaitable[T]]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = await step()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def make_inputs(work: Path) -> tuple[list[Path], Path]:
    """The user's uploads: 5 big JPEGs and a 12 s track (shorter than the video: looped)."""
    work.mkdir(parents=True, exist_ok=True)
    photos = [samples.photo(work / f"photo{i}.jpg", 4000, 3000, seed=i) for i in range(PHOTOS)]
    return photos, samples.track(work / "track.wav", 12.0)


async def render_job(script: Script, photos: list[Path], track: Path, work: Path) -> Path:
    clips = []
    for scene, photo in zip(script.scenes, photos, strict=True):
        out = work / f"scene_{scene.scene_number}.mp4"
        clips.append(
            await image_clip(
                photo, out, duration_s=scene.duration, size=SIZE, fps=FPS, move=scene.camera_move
            )
        )
    narrator = EspeakNarrator()
    narrations: list[NarrationResult | None] = [
        await narrator.synthesize(s.narration, voice=None, out_path=work / f"n{s.scene_number}.wav")
        for s in script.scenes
    ]
    music = await music_bed(track, work / "music.wav", duration_s=script.total_duration)
    composed = await compose(
        parts_from_script(script, clips, narrations),
        music=music,
        size=SIZE,
        out_path=work / "final.mp4",
        poster_path=work / "poster.jpg",
    )
    return composed.path


async def raw_encode(seconds: float, out: Path) -> None:
    width, height = SIZE
    await run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={FPS}"),
            *("-f", "lavfi", "-i", "sine=r=48000", "-t", str(seconds)),
            *FINAL_VIDEO_ENCODING,
            *FINAL_AUDIO_ENCODING,
            out,
        ],
        what="raw encode",
    )


async def speed(repeats: int) -> None:
    script = build_script(30.0)
    with tempfile.TemporaryDirectory(prefix="omnigen-bench-") as tmp:
        photos, track = make_inputs(Path(tmp) / "uploads")
        jobs, raws = [], []
        for attempt in range(repeats):
            work = Path(tmp) / f"run{attempt}"
            work.mkdir()
            _, wall, cpu = await measure(lambda w=work: render_job(script, photos, track, w))
            jobs.append((wall, cpu))
            _, wall, cpu = await measure(lambda w=work: raw_encode(30.0, w / "raw.mp4"))
            raws.append((wall, cpu))
    job, raw = min(jobs), min(raws)
    print(f"30 s 16:9 {SIZE[0]}x{SIZE[1]} job from {PHOTOS} 4000x3000 JPEGs + narration + "
          f"uploaded music (best of {repeats})")  # fmt: skip
    print(f"  job                    wall {job[0]:7.2f} s   cpu {job[1]:7.2f} s")
    print(f"  raw encode (testsrc2)  wall {raw[0]:7.2f} s   cpu {raw[1]:7.2f} s")
    print(f"  job / raw: wall {job[0] / raw[0]:.2f}x  cpu {job[1] / raw[1]:.2f}x   "
          "(target <= 1.5x)")  # fmt: skip


def memory_job(total_s: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-job", str(total_s)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _memory_job_child(total_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="omnigen-bench-") as tmp:
        # The inputs are made in a child of their own, so their making is not measured.
        subprocess.run(
            [sys.executable, __file__, "--make-inputs", tmp], check=True, capture_output=True
        )
        uploads = Path(tmp) / "uploads"
        photos = [uploads / f"photo{i}.jpg" for i in range(PHOTOS)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        asyncio.run(render_job(build_script(total_s), photos, uploads / "track.wav", Path(tmp)))
    status = Path("/proc/self/status").read_text().splitlines()
    own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"self_mib": own, "child_mib": child, "peak_mib": own + child,
                      "input_maker_mib": before / 1024}))  # fmt: skip


def memory() -> None:
    short, long = memory_job(10.0), memory_job(30.0)
    print(f"peak memory (process + largest ffmpeg child), {PHOTOS} photos, fresh process per job")
    for name, figures in (("10 s job", short), ("30 s job", long)):
        print(
            f"  {name}: process {figures['self_mib']:.0f} MiB, largest child "
            f"{figures['child_mib']:.0f} MiB, sum {figures['peak_mib']:.0f} MiB"
        )
    print(f"  30 s / 10 s: {long['peak_mib'] / short['peak_mib']:.2f}x   (target <= 1.3x)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="speed runs; the best is shown")
    parser.add_argument("--memory-job", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--make-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.make_inputs:
        make_inputs(args.make_inputs / "uploads")
        return
    if args.memory_job:
        _memory_job_child(args.memory_job)
        return
    if not args.skip_speed:
        asyncio.run(speed(max(1, args.repeat)))
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
