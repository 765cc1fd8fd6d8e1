"""The platform sets the soundtrack's loudness target, and the composed video meets it.

Measured by decoding the final MP4 with ffmpeg's ebur128 filter (integrated loudness). One-pass
loudnorm landed 1-2 LU short of the target on these short videos (-15.6 for -14, -16.9 for
-16), so the composition measures first and applies the gain (two passes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.compose import ScenePart, compose, parts_from_script
from omnigen.renderer.media.graph import LoudnessMeasure, loudnorm
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.media.probe import loudness
from omnigen.renderer.presentation import presentation_for
from omnigen.shared.domain.jobs import AspectRatio, Job, JobRequest
from omnigen.shared.domain.scripts import Mood, Script
from omnigen.testing.samples import sample_script

SMALL = (180, 320)
TOLERANCE_LU = 1.5


def _job(platform: str | None) -> Job:
    options = {"platform": platform} if platform else {}
    request = JobRequest.model_validate(
        {
            "prompt": "A folding bike for rainy commutes",
            "duration": 10,
            "aspect_ratio": AspectRatio.PORTRAIT,
            "options": options,
        }
    )
    return Job.new(job_id="j-loud", user_id="u1", request=request)


@pytest.fixture(scope="module")
async def parts_and_music(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScenePart], Path]:
    work = tmp_path_factory.mktemp("loudness")
    script: Script = sample_script((5.0, 5.0))
    generator, narrator = LocalClipGenerator(), EspeakNarrator()
    clips = [
        await generator.generate(scene, size=SMALL, fps=30, start_image=None, out_dir=work)
        for scene in script.scenes
    ]
    narrations = [
        await narrator.synthesize(s.narration, voice=None, out_path=work / f"n{s.scene_number}.wav")
        for s in script.scenes
    ]
    music = await SynthMusicSource().generate(
        Mood.ENERGETIC, "driving electronic beat", script.total_duration, work / "music.wav"
    )
    return parts_from_script(script, clips, narrations), music


@pytest.mark.parametrize(
    ("platform", "target"), [("youtube", -14.0), ("tiktok", -14.0), (None, -16.0)]
)
async def test_the_video_meets_its_platforms_loudness_target(
    parts_and_music: tuple[list[ScenePart], Path],
    tmp_path: Path,
    platform: str | None,
    target: float,
) -> None:
    parts, music = parts_and_music
    presentation = presentation_for(_job(platform))
    assert presentation.loudness_lufs == target

    video = await compose(
        parts,
        music=music,
        size=SMALL,
        out_path=tmp_path / "video.mp4",
        poster_path=tmp_path / "poster.jpg",
        presentation=presentation,
    )

    measured = (await loudness(video.path)).integrated_lufs
    assert abs(measured - target) <= TOLERANCE_LU, f"{measured} LUFS for a {target} target"


def test_the_second_pass_applies_the_first_pass_measure() -> None:
    stderr = (
        "[Parsed_loudnorm_0 @ 0x1]\n{\n"
        '\t"input_i" : "-27.61",\n\t"input_tp" : "-9.10",\n\t"input_lra" : "5.30",\n'
        '\t"input_thresh" : "-37.90",\n\t"output_i" : "-14.2",\n'
        '\t"normalization_type" : "dynamic",\n\t"target_offset" : "0.20"\n}\n'
    )
    measured = LoudnessMeasure.parse(stderr)

    assert measured == LoudnessMeasure(-27.61, -9.10, 5.30, -37.90, 0.20)
    assert loudnorm(-14.0, measured) == (
        "loudnorm=I=-14:TP=-1.5:LRA=11:measured_I=-27.61:measured_TP=-9.10"
        ":measured_LRA=5.30:measured_thresh=-37.90:offset=0.20:linear=true"
    )
    assert LoudnessMeasure.parse('{"input_i" : "-inf"}') is None  # silence: one pass
    assert LoudnessMeasure.parse("no report") is None
