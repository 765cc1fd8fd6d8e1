"""Renderer media benchmark: prints figures, asserts nothing (not a test).

    .venv/bin/python services/renderer/benchmarks/bench_render.py [--repeat N]
        [--skip-moviepy] [--skip-memory] [--skip-speed]

1. A 30 s 9:16 1080x1920 four-scene job with the local providers (clips with continuity,
   espeak narration, synthesized music, one-pass composition), against one raw ffmpeg encode
   of 30 s at the same size and codec settings, run in the same process: (a) re-encoding the
   job's own output (same content, so the same encoder work) and (b) encoding testsrc2 + sine.
   Target: job / raw <= 2.0.
2. The same clips, narration, music and captions composed with MoviePy (what popular peers
   do) against our composition. Target: MoviePy / ours >= 3.
3. Peak memory (max RSS of the process plus its largest child) of a 60 s job against a 15 s
   job, each in a fresh process. Target: 60 s / 15 s <= 1.3.

Wall time is what the targets speak of; CPU time (user+sys, children included) is printed
beside it because the machine may be shared, and CPU time is less disturbed by neighbours.
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from omnigen.renderer.media.captions import CaptionCue
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.compose import (
    FINAL_AUDIO_ENCODING,
    FINAL_VIDEO_ENCODING,
    Composition,
    compose,
    parts_from_script,
)
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.fonts import CAPTION_FONT
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.ports import ClipResult, NarrationResult
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

SIZE = (1080, 1920)
FPS = 30
T = TypeVar("T")

SCENES = [
    (
        Mood.UPLIFTING,
        CameraMove.DOLLY_IN,
        Transition.FADE,
        Lighting.GOLDEN_HOUR,
        ColorGrade.WARM,
        "A commuter unfolds a bright orange bike on a quiet street at sunrise.",
        "Meet the bike that folds in ten seconds.",
    ),
    (
        Mood.ENERGETIC,
        CameraMove.TRACKING,
        Transition.CUT,
        Lighting.NEON,
        ColorGrade.VIBRANT,
        "She weaves through evening traffic past glowing shop fronts.",
        "Built for busy city streets, it is light, quick and ready when you are.",
    ),
    (
        Mood.CALM,
        CameraMove.PAN_RIGHT,
        Transition.CROSSFADE,
        Lighting.NATURAL,
        ColorGrade.COOL,
        "The bike folds down beside a cafe table by the river.",
        "At the cafe it folds away under the table.",
    ),
    (
        Mood.INSPIRING,
        CameraMove.CRANE,
        Transition.FADE,
        Lighting.BACKLIT,
        ColorGrade.TEAL_ORANGE,
        "Riders cross a long bridge as the city lights come on.",
        "Ride further. Fold faster. Live lighter.",
    ),
]


def build_script(total_s: float) -> Script:
    duration = total_s / len(SCENES)
    scenes = [
        Scene(
            scene_number=index + 1,
            start_time=index * duration,
            duration=duration,
            location=f"city location {index + 1}",
            action=action,
            shot_type=ShotType.WIDE,
            camera_angle=CameraAngle.EYE_LEVEL,
            camera_move=move,
            lighting=lighting,
            color_grade=grade,
            mood=mood,
            visual_style="cinematic commercial",
            transition_in=transition,
            generation_prompt=action,
            narration=narration,
        )
        for index, (mood, move, transition, lighting, grade, action, narration) in enumerate(SCENES)
    ]
    return Script(
        title="Fold and go",
        scenes=scenes,
        audio_spec=AudioSpec(
            music_mood=Mood.UPLIFTING,
            music_style="electronic",
            voiceover_text=" ".join(scene.narration for scene in scenes),
        ),
        metadata=ScriptMetadata(
            product="folding bike", audience="commuters", call_to_action="ride", keywords=[]
        ),
    )


@dataclass
class Measured:
    wall_s: float
    cpu_s: float


def cpu_seconds() -> float:
    """User+sys CPU of this process and all its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


async def measure(step: Callable[[], Awaitable[T]]) -> tuple[T, Measured]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = await step()
    return result, Measured(time.perf_counter() - wall, cpu_seconds() - cpu)


@dataclass
class Job:
    clips: list[ClipResult]
    narrations: list[NarrationResult | None]
    music: Path
    composition: Composition
    steps: dict[str, Measured]


async def render_job(script: Script, work: Path) -> Job:
    """What the renderer's handler does, minus S3: clips in order, audio, one composition."""
    steps: dict[str, Measured] = {}

    async def clips() -> list[ClipResult]:
        generator, results, start = LocalClipGenerator(), [], None
        for scene in script.scenes:
            clip = await generator.generate(
                scene, size=SIZE, fps=FPS, start_image=start, out_dir=work / "clips"
            )
            results.append(clip)
            start = clip.last_frame_path
        return results

    async def audio() -> tuple[list[NarrationResult | None], Path]:
        narrator = EspeakNarrator()
        narrations: list[NarrationResult | None] = [
            await narrator.synthesize(
                scene.narration, voice=None, out_path=work / f"narration_{scene.scene_number}.wav"
            )
            for scene in script.scenes
        ]
        music = await SynthMusicSource().generate(
            script.audio_spec.music_mood,
            script.audio_spec.music_style,
            script.total_duration,
            work / "music.wav",
        )
        return narrations, music

    clip_results, steps["clips"] = await measure(clips)
    (narrations, music), steps["audio"] = await measure(audio)

    async def composition() -> Composition:
        return await compose(
            parts_from_script(script, clip_results, narrations),
            music=music,
            size=SIZE,
            out_path=work / "final.mp4",
            poster_path=work / "poster.jpg",
        )

    composed, steps["compose"] = await measure(composition)
    return Job(clip_results, narrations, music, composed, steps)


async def raw_reencode(source: Path, out: Path) -> Measured:
    _, measured = await measure(
        lambda: run_ffmpeg(
            ["-i", source, *FINAL_VIDEO_ENCODING, *FINAL_AUDIO_ENCODING, out],
            what="raw re-encode",
        )
    )
    return measured


async def raw_testsrc(seconds: float, out: Path) -> Measured:
    width, height = SIZE
    _, measured = await measure(
        lambda: run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=s={width}x{height}:r={FPS}",
                "-f",
                "lavfi",
                "-i",
                "sine=r=48000",
                "-t",
                str(seconds),
                *FINAL_VIDEO_ENCODING,
                *FINAL_AUDIO_ENCODING,
                out,
            ],
            what="raw testsrc2 encode",
        )
    )
    return measured


def moviepy_compose(job: Job, script: Script, out: Path) -> Measured:
    """The same composition in MoviePy 2: fades, cross-fade, narration, music, captions."""
    from moviepy import (  # type: ignore[import-untyped]
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
        afx,
        concatenate_videoclips,
        vfx,
    )

    wall, cpu = time.perf_counter(), cpu_seconds()
    clips: list[Any] = []
    for scene, clip in zip(script.scenes, job.clips, strict=True):
        video = VideoFileClip(str(clip.path)).with_duration(scene.duration)
        if scene.transition_in is Transition.FADE:
            video = video.with_effects([vfx.FadeIn(0.5)])
        if scene.transition_in is Transition.CROSSFADE:
            video = video.with_effects([vfx.CrossFadeIn(0.5)])
        clips.append(video)
    base = concatenate_videoclips(clips, method="compose")
    captions = [_moviepy_caption(TextClip, cue) for cue in job.composition.captions]
    video = CompositeVideoClip([base, *captions], size=SIZE).with_duration(script.total_duration)
    voices = [
        AudioFileClip(str(narration.path)).with_start(start)
        for narration, start in zip(
            job.narrations, [s.start_time + 0.25 for s in script.scenes], strict=True
        )
        if narration is not None
    ]
    music = AudioFileClip(str(job.music)).with_effects([afx.MultiplyVolume(0.3)])
    video = video.with_audio(
        CompositeAudioClip([music, *voices]).with_duration(script.total_duration)
    )
    video.write_videofile(
        str(out),
        fps=FPS,
        codec="libx264",
        audio_codec="aac",
        audio_bitrate="160k",
        preset="veryfast",
        ffmpeg_params=["-crf", "21", "-pix_fmt", "yuv420p"],
        logger=None,
    )
    video.close()
    return Measured(time.perf_counter() - wall, cpu_seconds() - cpu)


def _moviepy_caption(text_clip: Any, cue: CaptionCue) -> Any:
    return (
        text_clip(
            font=str(CAPTION_FONT),
            text=cue.text,
            font_size=59,
            color="white",
            stroke_color="black",
            stroke_width=4,
            method="caption",
            size=(930, None),
            text_align="center",
        )
        .with_start(cue.start_s)
        .with_duration(max(cue.end_s - cue.start_s, 0.1))
        .with_position(("center", 0.75), relative=True)
    )


def memory_job(total_s: float) -> dict[str, float]:
    """Run one job in a fresh interpreter; its peak RSS and its largest child's, in MiB."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory-job", str(total_s)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _memory_job_child(total_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="omnigen-bench-") as tmp:
        asyncio.run(render_job(build_script(total_s), Path(tmp)))
    # VmHWM is this address space's peak; ru_maxrss would carry the parent's over exec.
    status = Path("/proc/self/status").read_text().splitlines()
    own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"self_mib": own, "child_mib": child, "peak_mib": own + child}))


def _row(name: str, measured: Measured) -> str:
    return f"  {name:<34} wall {measured.wall_s:7.2f} s   cpu {measured.cpu_s:7.2f} s"


def fastest(runs: Sequence[Measured]) -> Measured:
    """Best of the repeats, by wall time: the run least disturbed by anything else."""
    return min(runs, key=lambda run: run.wall_s)


async def speed(skip_moviepy: bool, repeats: int) -> None:
    script = build_script(30.0)
    rows: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="omnigen-bench-") as tmp:
        for attempt in range(repeats):
            work = Path(tmp) / f"run{attempt}"
            job_wall, job_cpu = time.perf_counter(), cpu_seconds()
            job = await render_job(script, work)
            total = Measured(time.perf_counter() - job_wall, cpu_seconds() - job_cpu)
            for name, measured in job.steps.items():
                rows.setdefault(f"job: {name}", []).append(measured)
            rows.setdefault("job: total", []).append(total)
            rows.setdefault("raw encode (re-encode job output)", []).append(
                await raw_reencode(job.composition.path, work / "raw_reencode.mp4")
            )
            rows.setdefault("raw encode (testsrc2 + sine)", []).append(
                await raw_testsrc(script.total_duration, work / "raw_testsrc.mp4")
            )
        best = {name: fastest(runs) for name, runs in rows.items()}
        print(f"30 s 9:16 {SIZE[0]}x{SIZE[1]} four-scene job, local providers "
              f"(best of {repeats})")  # fmt: skip
        for name, measured in best.items():
            print(_row(name, measured))
        total = best["job: total"]
        for label, raw in (("re-encode", "raw encode (re-encode job output)"),
                           ("testsrc2 ", "raw encode (testsrc2 + sine)")):  # fmt: skip
            print(f"  job / raw {label}: wall {total.wall_s / best[raw].wall_s:.2f}x  "
                  f"cpu {total.cpu_s / best[raw].cpu_s:.2f}x   (target <= 2.0x)")  # fmt: skip
        if not skip_moviepy:
            ours = best["job: compose"]
            theirs = moviepy_compose(job, script, Path(tmp) / "moviepy.mp4")
            print(_row("MoviePy composition, same inputs", theirs))
            print(f"  MoviePy / ours (composition): wall {theirs.wall_s / ours.wall_s:.2f}x  "
                  f"cpu {theirs.cpu_s / ours.cpu_s:.2f}x   (target >= 3x)")  # fmt: skip


def memory() -> None:
    short, long = memory_job(15.0), memory_job(60.0)
    print("peak memory (process + largest ffmpeg child), fresh process per job")
    for name, figures in (("15 s job", short), ("60 s job", long)):
        print(
            f"  {name}: process {figures['self_mib']:.0f} MiB, largest child "
            f"{figures['child_mib']:.0f} MiB, sum {figures['peak_mib']:.0f} MiB"
        )
    print(f"  60 s / 15 s: {long['peak_mib'] / short['peak_mib']:.2f}x   (target <= 1.3x)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-moviepy", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="speed runs; the best is shown")
    parser.add_argument("--memory-job", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.memory_job:
        _memory_job_child(args.memory_job)
        return
    if not args.skip_speed:
        asyncio.run(speed(args.skip_moviepy, max(1, args.repeat)))
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
