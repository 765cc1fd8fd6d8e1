"""The local media layer against the real bundled ffmpeg and the real espeak-ng library.

Most renders are small (180x320) to stay quick on two cores; resolution is checked at full
1080x1920 on its own. Every result is measured by decoding it, never by trusting our plan.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.compose import Composition, ScenePart, compose, parts_from_script
from omnigen.renderer.media.errors import FfmpegFailed, ProbeFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.graph import Timeline
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.media.probe import (
    Frame,
    count_video_frames,
    extract_frame,
    loudness,
    probe,
    scene_changes,
)
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

SMALL = (180, 320)
FPS = 30
SILENCE_FLOOR_LUFS = -35.0
# (duration, transition in, mood, camera move, narration)
SCENE_PLAN = [
    (2.0, Transition.FADE, Mood.UPLIFTING, CameraMove.DOLLY_IN, "Meet the bike that folds."),
    (
        2.5,
        Transition.CUT,
        Mood.DRAMATIC,
        CameraMove.PAN_LEFT,
        "Built for rain, it shrugs off puddles.",
    ),
    (2.0, Transition.CROSSFADE, Mood.CALM, CameraMove.TILT_UP, ""),
    (2.5, Transition.CUT, Mood.ENERGETIC, CameraMove.HANDHELD, "Ride further. Fold faster."),
]
HARD_CUTS_AT = [2.0, 6.5]  # scene 2 and scene 4 start with a cut


def make_script(plan: Sequence[tuple[float, Transition, Mood, CameraMove, str]]) -> Script:
    scenes, start = [], 0.0
    for number, (duration, transition, mood, move, narration) in enumerate(plan, start=1):
        scenes.append(Scene(
            scene_number=number, start_time=start, duration=duration,
            location=f"riverside street {number}",
            action=f"Scene {number}: a rider crosses the frame",
            shot_type=ShotType.WIDE, camera_angle=CameraAngle.EYE_LEVEL, camera_move=move,
            lighting=Lighting.GOLDEN_HOUR, color_grade=ColorGrade.WARM, mood=mood,
            visual_style="cinematic", transition_in=transition,
            generation_prompt="a rider crosses the frame", narration=narration,
        ))  # fmt: skip
        start += duration
    return Script(
        title="Fold and go",
        scenes=scenes,
        audio_spec=AudioSpec(
            music_mood=Mood.UPLIFTING, music_style="electronic",
            voiceover_text=" ".join(s.narration for s in scenes),
        ),
        metadata=ScriptMetadata(product="bike", audience="commuters", call_to_action="ride",
                                keywords=["bike"]),
    )  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    script: Script
    clips: list[ClipResult]
    narrations: list[NarrationResult | None]
    music: Path
    video: Composition
    plain: Composition  # the same composition without captions


async def render_script(script: Script, work: Path, size: tuple[int, int]) -> Rendered:
    generator, narrator = LocalClipGenerator(), EspeakNarrator()
    # Clips without continuity here, so the cut between two scenes stays a visible cut.
    clips = [
        await generator.generate(scene, size=size, fps=FPS, start_image=None, out_dir=work)
        for scene in script.scenes
    ]
    narrations: list[NarrationResult | None] = [
        await narrator.synthesize(s.narration, voice=None, out_path=work / f"v{s.scene_number}.wav")
        if s.narration else None
        for s in script.scenes
    ]  # fmt: skip
    music = await SynthMusicSource().generate(
        script.audio_spec.music_mood,
        script.audio_spec.music_style,
        script.total_duration,
        work / "music.wav",
    )
    parts = parts_from_script(script, clips, narrations)
    video, plain = await asyncio.gather(
        compose(parts, music=music, size=size, out_path=work / "video.mp4",
                poster_path=work / "poster.jpg"),
        compose(parts, music=music, size=size, out_path=work / "plain.mp4",
                poster_path=work / "plain.jpg", captions=False),
    )  # fmt: skip
    return Rendered(script, clips, narrations, music, video, plain)


@pytest.fixture(scope="module")
async def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return await render_script(make_script(SCENE_PLAN), tmp_path_factory.mktemp("job"), SMALL)


async def test_composed_video_lasts_exactly_the_script_total(rendered: Rendered) -> None:
    info = await probe(rendered.video.path)
    assert abs(info.duration_s - rendered.script.total_duration) <= 0.2
    assert await count_video_frames(rendered.video.path) == round(9.0 * FPS)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.pix_fmt, info.video.fps) == ("h264", "yuv420p", 30.0)
    assert (info.video.width, info.video.height) == SMALL
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == (
        "aac",
        48_000,
        "stereo",
    )


async def test_mp4_is_faststart(rendered: Rendered) -> None:
    """The index (moov) comes before the media (mdat), so playback starts while downloading."""
    assert top_level_boxes(rendered.video.path)[:3] == ["ftyp", "moov", "mdat"] or (
        top_level_boxes(rendered.video.path).index("moov")
        < top_level_boxes(rendered.video.path).index("mdat")
    )


def top_level_boxes(path: Path) -> list[str]:
    boxes: list[str] = []
    with path.open("rb") as mp4:
        while header := mp4.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(mp4.read(8), "big") - 8
            boxes.append(kind)
            mp4.seek(size - 8, 1)
    return boxes


async def test_soundtrack_is_audible_and_loudness_normalised(rendered: Rendered) -> None:
    measured = await loudness(rendered.video.path)
    assert measured.integrated_lufs > SILENCE_FLOOR_LUFS
    assert -22.0 <= measured.integrated_lufs <= -11.0  # loudnorm aims at -16 LUFS
    assert measured.max_volume_db <= 0.0


async def test_music_is_ducked_under_the_narration(rendered: Rendered, tmp_path: Path) -> None:
    """A 55 Hz tone as the bed (below the voice's pitch) is much quieter while a voice speaks."""
    tone = tmp_path / "tone.wav"
    await run_ffmpeg(["-f", "lavfi", "-i", "sine=f=55:r=48000:d=5", tone], what="tone")
    parts = [
        ScenePart(rendered.clips[0].path, 2.0, Transition.CUT, rendered.narrations[0]),
        ScenePart(rendered.clips[1].path, 3.0, Transition.CUT, None),
    ]
    video = await compose(parts, music=tone, size=SMALL, out_path=tmp_path / "v.mp4",
                          poster_path=tmp_path / "p.jpg", captions=False)  # fmt: skip
    voice = video.captions or rendered.video.captions[:1]
    spoken = await _band_level(video.path, tmp_path, voice[0].start_s + 0.2, voice[0].end_s)
    unspoken = await _band_level(video.path, tmp_path, 3.6, 4.6)
    assert unspoken > -40.0
    assert spoken < unspoken - 5.0


async def _band_level(path: Path, tmp_path: Path, start: float, end: float) -> float:
    """Mean level (dB) of the tone's band in a window of the composed soundtrack."""
    window = tmp_path / f"window_{start:.2f}.wav"
    await run_ffmpeg(
        ["-i", path, "-ss", f"{start:.3f}", "-to", f"{end:.3f}", "-vn",
         "-af", "lowpass=f=80,lowpass=f=80", window],
        what="cut a window",
    )  # fmt: skip
    return (await loudness(window)).mean_volume_db


async def test_hard_cuts_match_the_scripts_cut_transitions(rendered: Rendered) -> None:
    cuts = await scene_changes(rendered.video.path)
    assert len(cuts) == len(HARD_CUTS_AT), cuts
    for found, expected in zip(cuts, HARD_CUTS_AT, strict=True):
        assert abs(found - expected) <= 1.5 / FPS


async def test_captions_follow_the_narration(rendered: Rendered) -> None:
    cues = rendered.video.captions
    assert cues, "narrated scenes must produce captions"
    assert " ".join(cue.text for cue in cues) == " ".join(
        s.narration for s in rendered.script.scenes if s.narration
    )
    bounds = Timeline.plan([s.duration for s in rendered.script.scenes], FPS)
    narrated = [i for i, s in enumerate(rendered.script.scenes) if s.narration]
    firsts = {i: next(c for c in cues if bounds.start_s(i) <= c.start_s < bounds.end_s(i))
              for i in narrated}  # fmt: skip
    for index, cue in firsts.items():
        assert bounds.start_s(index) < cue.start_s < bounds.start_s(index) + 0.5
    for cue in cues:
        assert cue.start_s < cue.end_s
        assert not bounds.start_s(2) <= cue.start_s < bounds.end_s(2)  # scene 3 says nothing


async def test_captions_are_burned_in_only_while_spoken(rendered: Rendered) -> None:
    cue = rendered.video.captions[0]
    during = (cue.start_s + cue.end_s) / 2
    with_text = await extract_frame(rendered.video.path, at_s=during, size=SMALL)
    without = await extract_frame(rendered.plain.path, at_s=during, size=SMALL)
    caption_band = (0.0, 0.6, 1.0, 0.95)
    assert with_text.mean_abs_diff(without, caption_band) > 4.0
    assert with_text.mean_abs_diff(without, (0.0, 0.2, 1.0, 0.5)) < 1.5
    silent_at = 5.5  # scene 3 has no narration
    quiet_with = await extract_frame(rendered.video.path, at_s=silent_at, size=SMALL)
    quiet_without = await extract_frame(rendered.plain.path, at_s=silent_at, size=SMALL)
    assert quiet_with.mean_abs_diff(quiet_without, caption_band) < 1.5


async def test_poster_is_a_decodable_jpeg_of_the_first_scene(rendered: Rendered) -> None:
    info = await probe(rendered.video.poster_path)
    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("mjpeg", *SMALL)
    poster = await extract_frame(rendered.video.poster_path, size=(36, 64))
    black = Frame(36, 64, bytes(len(poster.rgb)))
    assert poster.mean_abs_diff(black) > 30.0


async def test_clip_continues_from_the_previous_last_frame(tmp_path: Path) -> None:
    script = make_script(SCENE_PLAN)
    generator = LocalClipGenerator()
    first = await generator.generate(
        script.scenes[0], size=SMALL, fps=FPS, start_image=None, out_dir=tmp_path
    )
    second = await generator.generate(
        script.scenes[1],
        size=SMALL,
        fps=FPS,
        start_image=first.last_frame_path,
        out_dir=tmp_path,
    )
    last_of_first = await extract_frame(first.last_frame_path, size=SMALL)
    start_of_second = await extract_frame(second.path, size=SMALL)
    end_of_second = await extract_frame(second.path, last=True, size=SMALL)
    assert start_of_second.mean_abs_diff(last_of_first) < 6.0
    assert end_of_second.mean_abs_diff(last_of_first) > 20.0
    shown_last = await extract_frame(first.path, last=True, size=SMALL)
    below_caption = (0.0, 0.3, 1.0, 1.0)
    assert shown_last.mean_abs_diff(last_of_first, below_caption) < 6.0
    assert names_in(tmp_path) == [
        "scene_01.mp4",
        "scene_01_last.jpg",
        "scene_02.mp4",
        "scene_02_last.jpg",
    ]


async def test_full_resolution_portrait_clip_and_video(tmp_path: Path) -> None:
    script = make_script([
        (1.0, Transition.CUT, Mood.INSPIRING, CameraMove.CRANE, "Go."),
        (1.0, Transition.CROSSFADE, Mood.PLAYFUL, CameraMove.STATIC, ""),
    ])  # fmt: skip
    size = (1080, 1920)
    generator = LocalClipGenerator()
    first = await generator.generate(
        script.scenes[0], size=size, fps=FPS, start_image=None, out_dir=tmp_path
    )
    second = await generator.generate(
        script.scenes[1],
        size=size,
        fps=FPS,
        start_image=first.last_frame_path,
        out_dir=tmp_path,
    )
    clip = await probe(first.path)
    assert clip.video is not None and clip.audio is None
    assert (clip.video.width, clip.video.height, clip.video.pix_fmt) == (1080, 1920, "yuv420p")
    assert await count_video_frames(first.path) == FPS
    last = await probe(first.last_frame_path)
    assert last.video is not None and (last.video.width, last.video.height) == size
    narration = await EspeakNarrator().synthesize("Go.", voice=None, out_path=tmp_path / "v.wav")
    video = await compose(
        parts_from_script(script, [first, second], [narration, None]),
        music=None,
        size=size,
        out_path=tmp_path / "video.mp4",
        poster_path=tmp_path / "poster.jpg",
    )
    info = await probe(video.path)
    assert info.video is not None and (info.video.width, info.video.height) == size
    assert abs(info.duration_s - 2.0) <= 0.2
    assert (await loudness(video.path)).integrated_lufs > SILENCE_FLOOR_LUFS


async def test_short_provider_clip_is_held_to_the_scene_length(
    rendered: Rendered, tmp_path: Path
) -> None:
    """A clip shorter than its scene (a hosted model's rounding) still fills its time."""
    parts = [
        ScenePart(rendered.clips[0].path, 3.2, Transition.CUT, rendered.narrations[0]),
        ScenePart(rendered.clips[1].path, 1.0, Transition.CROSSFADE, None),
    ]
    video = await compose(parts, music=rendered.music, size=SMALL, out_path=tmp_path / "v.mp4",
                          poster_path=tmp_path / "p.jpg")  # fmt: skip
    assert await count_video_frames(video.path) == round(4.2 * FPS)
    assert abs((await probe(video.path)).duration_s - 4.2) <= 0.2


async def test_composition_leaves_no_temporary_files(rendered: Rendered, tmp_path: Path) -> None:
    before = compose_dirs()
    await compose(
        [ScenePart(rendered.clips[2].path, 1.0, Transition.CUT)],
        music=None,
        size=SMALL,
        out_path=tmp_path / "v.mp4",
        poster_path=tmp_path / "p.jpg",
    )
    assert compose_dirs() <= before
    assert names_in(tmp_path) == ["p.jpg", "v.mp4"]


def compose_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("omnigen-compose-*"))


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_narration_is_speech_with_word_timings(tmp_path: Path) -> None:
    text = "Ride further. Fold faster, with 50% less weight."
    result = await EspeakNarrator().synthesize(text, voice="nova", out_path=tmp_path / "n.wav")
    info = await probe(result.path)
    assert info.audio is not None and info.audio.codec == "pcm_s16le"
    assert abs(info.duration_s - result.duration_s) < 0.05
    assert 1.5 < result.duration_s < 8.0
    assert [w.text for w in result.words] == text.split()
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts) and starts[-1] > starts[0]
    assert result.words[-1].end_s == pytest.approx(result.duration_s)
    assert (await loudness(result.path)).integrated_lufs > SILENCE_FLOOR_LUFS


async def test_music_bed_has_the_requested_length_per_mood(tmp_path: Path) -> None:
    source = SynthMusicSource()
    beds = [
        await source.generate(mood, style, 6.0, tmp_path / f"{mood.value}.wav")
        for mood, style in ((Mood.ENERGETIC, "electronic"), (Mood.MELANCHOLIC, "ambient"))
    ]
    for bed in beds:
        info = await probe(bed)
        assert info.audio is not None and info.audio.channels == "stereo"
        assert abs(info.duration_s - 6.0) < 0.05
        assert (await loudness(bed)).integrated_lufs > SILENCE_FLOOR_LUFS
    assert beds[0].read_bytes() != beds[1].read_bytes()


async def test_ffmpeg_failure_reports_its_stderr(tmp_path: Path) -> None:
    with pytest.raises(FfmpegFailed) as failure:
        await run_ffmpeg(["-i", tmp_path / "missing.mp4", "-f", "null", "-"], what="decoding")
    assert "decoding failed" in str(failure.value)
    assert "No such file or directory" in failure.value.reason
    with pytest.raises(ProbeFailed):
        await probe(tmp_path / "missing.mp4")


ENDLESS = ["-re", "-f", "lavfi", "-i", "anullsrc", "-f", "null", "-"]


async def test_ffmpeg_that_runs_too_long_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(FfmpegFailed, match="timed out"):
        await run_ffmpeg(ENDLESS, what="endless", timeout_s=0.5)
    assert time.monotonic() - started < 5.0
    assert ffmpeg_children() == []


async def test_cancelled_render_leaves_no_ffmpeg_running() -> None:
    task = asyncio.create_task(run_ffmpeg(ENDLESS, what="endless"))
    for _ in range(100):
        if ffmpeg_children():
            break
        await asyncio.sleep(0.05)
    assert ffmpeg_children(), "ffmpeg should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ffmpeg_children() == []


def ffmpeg_children() -> list[int]:
    """Live ffmpeg processes whose parent is this test process (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        state, parent = fields[0], int(fields[1])
        if parent == os.getpid() and "ffmpeg" in name and state != "Z":
            found.append(int(stat.parent.name))
    return found


def test_timeline_frames_add_up_to_the_script_total() -> None:
    timeline = Timeline.plan([2.01, 3.337, 1.5, 4.0], FPS)
    assert timeline.total_frames == round((2.01 + 3.337 + 1.5 + 4.0) * FPS)
    assert sum(timeline.frames) == timeline.total_frames
    assert timeline.starts[1] == round(2.01 * FPS)
