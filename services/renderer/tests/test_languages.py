"""Language, captions and music against the real espeak-ng and the bundled ffmpeg (libass with
HarfBuzz and FriBidi): a caption frame in every supported script with a font that has every
glyph, CJK line breaking, style presets, SRT/WebVTT sidecars that parse and match the burned
cues, speech rate, and the music's level and ducking."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import srt
import webvtt

from omnigen.renderer.media.captions import (
    NO_LINE_START,
    CaptionCue,
    cues_from_words,
    text_width,
    write_srt,
    write_vtt,
)
from omnigen.renderer.media.compose import Composition, Presentation, ScenePart, compose
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.fonts import CAPTION_FONT, SCRIPT_FONTS, caption_font
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.media.probe import extract_frame, loudness
from omnigen.renderer.ports import NarrationResult, WordTiming
from omnigen.shared.domain.media import LANGUAGES, CaptionStyle, espeak_voices
from omnigen.shared.domain.scripts import Transition

SIZE = (480, 270)
FPS = 30
CAPTION_BAND = (0.0, 0.6, 1.0, 0.97)
# One line of narration per language, in its own script.
SAMPLES = {
    "en": "Fresh bread every morning, baked with care.",
    "es": "Pan fresco cada mañana, horneado con cariño.",
    "fr": "Du pain frais chaque matin, cuit avec soin.",
    "de": "Jeden Morgen frisches Brot, mit Sorgfalt gebacken.",
    "pt": "Pão fresco todas as manhãs, assado com carinho.",
    "it": "Pane fresco ogni mattina, sfornato con cura.",
    "ja": "毎朝焼きたてのパンを、心を込めてお届けします。",
    "zh": "每天早上新鲜出炉的面包，用心烘焙。",  # noqa: RUF001 (a Chinese comma)
    "ko": "매일 아침 정성껏 구운 신선한 빵을 만나보세요.",
    "ar": "خبز طازج كل صباح، مخبوز بعناية.",
    "he": "לחם טרי כל בוקר, אפוי באהבה.",
    "hi": "हर सुबह ताज़ी रोटी, प्यार से पकाई गई।",
}


def test_every_supported_language_has_a_sample() -> None:
    assert set(SAMPLES) == set(LANGUAGES)


@pytest.fixture(scope="module")
async def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    await run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=s={SIZE[0]}x{SIZE[1]}:r={FPS}:d=6",
         "-pix_fmt", "yuv420p", path],
        what="test clip",
    )  # fmt: skip
    return path


async def narrate(text: str, language: str, out: Path, rate: float = 1.0) -> NarrationResult:
    return await EspeakNarrator().synthesize(
        text, voice=None, out_path=out, language=language, rate=rate
    )


@pytest.fixture(scope="module")
async def plain(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Composition:
    """The same picture with no captions (what every captioned frame is compared with)."""
    work = tmp_path_factory.mktemp("plain")
    parts = [ScenePart(clip, 6.0, Transition.CUT)]
    return await compose(parts, music=None, size=SIZE, out_path=work / "p.mp4",
                         poster_path=work / "p.jpg", captions=False)  # fmt: skip


@dataclass(frozen=True)
class Captioned:
    video: Composition
    plain: Composition


async def captioned(
    clip: Path, plain: Composition, narration: NarrationResult, work: Path,
    presentation: Presentation,
) -> Captioned:  # fmt: skip
    parts = [ScenePart(clip, 6.0, Transition.CUT, narration)]
    video = await compose(parts, music=None, size=SIZE, out_path=work / "v.mp4",
                          poster_path=work / "v.jpg", presentation=presentation)  # fmt: skip
    return Captioned(video, plain)


def unspaced(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("language", sorted(SAMPLES))
async def test_a_caption_frame_in_each_script_uses_a_font_with_every_glyph(
    clip: Path, plain: Composition, tmp_path: Path, language: str
) -> None:
    sample = SAMPLES[language]
    narration = await narrate(sample, language, tmp_path / "n.wav")
    result = await captioned(clip, plain, narration, tmp_path, Presentation(language=language))

    cues = result.video.captions
    assert unspaced("".join(cue.text for cue in cues)) == unspaced(sample)
    font = caption_font(language, [cue.text for cue in cues])
    assert font.missing(sample) == "", f"{font.family} lacks {font.missing(sample)!r}"
    at = (cues[0].start_s + cues[0].end_s) / 2
    shown = await extract_frame(result.video.path, at_s=at, size=SIZE)
    bare = await extract_frame(result.plain.path, at_s=at, size=SIZE)
    assert shown.mean_abs_diff(bare, CAPTION_BAND) > 3.0, "the caption must be drawn"
    assert shown.mean_abs_diff(bare, (0.0, 0.0, 1.0, 0.5)) < 1.5, "and only at the bottom"


def test_korean_keeps_its_spaces_and_japanese_has_none_added() -> None:
    korean = cues_from_words(
        [WordTiming("매일", 0.0, 0.5), WordTiming("아침", 0.5, 1.0)],
        offset_s=0.0, time_scale=1.0, until_s=5.0, max_chars=40,
    )  # fmt: skip
    japanese = cues_from_words(
        [WordTiming("毎朝、パンを", 0.0, 1.2), WordTiming("AIで。", 1.2, 2.0)],
        offset_s=0.0, time_scale=1.0, until_s=5.0, max_chars=40,
    )  # fmt: skip
    assert [c.text for c in korean] == ["매일 아침"]
    assert [c.text for c in japanese] == ["毎朝、パンを AIで。"]


def test_cjk_cues_are_broken_into_lines_never_before_closing_punctuation() -> None:
    text = "毎朝焼きたてのパンを、心を込めてお届けします。" * 3
    cues = cues_from_words(
        [WordTiming(text, 0.0, 9.0)],
        offset_s=1.0, time_scale=1.0, until_s=12.0, max_chars=40, line_chars=20,
    )  # fmt: skip
    assert "".join(c.text.replace("\n", "") for c in cues) == text
    for cue in cues:
        assert text_width(cue.text.replace("\n", "")) <= 40
        for line in cue.lines:
            assert text_width(line) <= 20, line
            assert line[0] not in NO_LINE_START, line
    assert any(len(cue.lines) == 2 for cue in cues)
    starts = [cue.start_s for cue in cues]
    assert starts == sorted(starts) and starts[0] >= 1.0 and cues[-1].end_s <= 12.0


async def test_sidecar_srt_and_vtt_parse_and_match_the_burned_captions(
    clip: Path, plain: Composition, tmp_path: Path
) -> None:
    text = "Fresh bread every morning. Baked with care, sold by nine. Come early, stay warm."
    narration = await narrate(text, "en", tmp_path / "n.wav")
    result = await captioned(clip, plain, narration, tmp_path, Presentation())
    cues = result.video.captions
    assert len(cues) >= 3
    write_srt(cues, tmp_path / "c.srt")
    write_vtt(cues, tmp_path / "c.vtt", "en")

    subs = list(srt.parse((tmp_path / "c.srt").read_text(encoding="utf-8")))
    vtt = list(webvtt.read(str(tmp_path / "c.vtt")))

    assert [s.content for s in subs] == [c.text for c in cues] == [v.text for v in vtt]
    for sub, caption, cue in zip(subs, vtt, cues, strict=True):
        assert abs(sub.start.total_seconds() - cue.start_s) < 0.001
        assert abs(sub.end.total_seconds() - cue.end_s) < 0.001
        assert abs(caption.start_in_seconds + caption.start_time.milliseconds / 1000
                   - cue.start_s) < 0.001  # fmt: skip
    await _burned_exactly_while_cued(result, cues)


async def _burned_exactly_while_cued(result: Captioned, cues: Sequence[CaptionCue]) -> None:
    """The burned picture shows text inside each cue's interval and none before the first."""
    for cue in cues:
        inside = min(cue.start_s + 0.1, (cue.start_s + cue.end_s) / 2)
        shown = await extract_frame(result.video.path, at_s=inside, size=SIZE)
        bare = await extract_frame(result.plain.path, at_s=inside, size=SIZE)
        assert shown.mean_abs_diff(bare, CAPTION_BAND) > 3.0, cue
    before = max(cues[0].start_s - 0.1, 0.0)
    shown = await extract_frame(result.video.path, at_s=before, size=SIZE)
    bare = await extract_frame(result.plain.path, at_s=before, size=SIZE)
    assert shown.mean_abs_diff(bare, CAPTION_BAND) < 1.0


@pytest.mark.parametrize("style", list(CaptionStyle))
async def test_each_caption_style_draws_differently(
    clip: Path, plain: Composition, tmp_path: Path, style: CaptionStyle
) -> None:
    narration = await narrate("Fresh bread every morning.", "en", tmp_path / "n.wav")
    styled = await captioned(clip, plain, narration, tmp_path, Presentation(caption_style=style))
    cue = styled.video.captions[0]
    at = cue.words[1].start_s + 0.05 if style is CaptionStyle.WORD_HIGHLIGHT else cue.start_s + 0.2
    frame = await extract_frame(styled.video.path, at_s=at, size=SIZE)
    bare = await extract_frame(styled.plain.path, at_s=at, size=SIZE)
    difference = frame.mean_abs_diff(bare, CAPTION_BAND)
    if style is CaptionStyle.BOLD_BOX:
        assert difference > 12.0  # a dark box behind the text covers far more of the band
    else:
        assert 3.0 < difference < 12.0
    if style is CaptionStyle.WORD_HIGHLIGHT:
        amber = sum(
            1
            for i in range(0, len(frame.rgb), 3)
            if frame.rgb[i] > 220 and 170 < frame.rgb[i + 1] < 235 and frame.rgb[i + 2] < 60
        )
        assert amber > 20, "the spoken word is lit"


async def test_speech_rate_speeds_narration_and_its_captions(tmp_path: Path) -> None:
    text = "Fresh bread every morning, baked with care and sold warm."
    normal = await narrate(text, "en", tmp_path / "a.wav")
    fast = await narrate(text, "en", tmp_path / "b.wav", rate=1.8)
    slow = await narrate(text, "en", tmp_path / "c.wav", rate=0.6)

    assert fast.duration_s < normal.duration_s * 0.7
    assert slow.duration_s > normal.duration_s * 1.4
    assert fast.words[-1].start_s < normal.words[-1].start_s * 0.7


def test_each_language_speaks_with_one_of_its_own_voices() -> None:
    narrator = EspeakNarrator()
    for code in LANGUAGES:
        offered = {voice.id for voice in espeak_voices(code)}
        assert narrator.voice_for(None, code) in offered
        assert narrator.voice_for(f"{sorted(offered)[-1]}", code) == sorted(offered)[-1]
    assert narrator.voice_for("nova", "es") == "es+f3"
    assert narrator.voice_for("nova", None) == "en-us+f3"
    assert narrator.voice_for("de", "ja") == "ja"  # another language's voice is not used


async def test_music_volume_and_ducking(clip: Path, tmp_path: Path) -> None:
    """A 55 Hz tone as the bed: -20 dB sits well under -6 dB; without ducking the bed keeps its
    level while the narrator speaks."""
    tone = tmp_path / "tone.wav"
    await run_ffmpeg(["-f", "lavfi", "-i", "sine=f=55:r=48000:d=7", tone], what="tone")
    narration = await narrate("Fresh bread every morning.", "en", tmp_path / "n.wav")
    parts = [ScenePart(clip, 3.0, Transition.CUT, narration), ScenePart(clip, 3.0, Transition.CUT)]

    async def mixed(name: str, presentation: Presentation) -> Path:
        done = await compose(parts, music=tone, size=SIZE, out_path=tmp_path / f"{name}.mp4",
                             poster_path=tmp_path / f"{name}.jpg", captions=False,
                             presentation=presentation)  # fmt: skip
        return done.path

    loud = await mixed("loud", Presentation(music_volume_db=-6.0))
    quiet = await mixed("quiet", Presentation(music_volume_db=-20.0))
    steady = await mixed("steady", Presentation(music_volume_db=-6.0, ducking=False))
    voiced = (narration.duration_s * 0.3 + 0.3, narration.duration_s * 0.9)
    bare = (3.8, 4.8)

    loud_bare, quiet_bare = await band(loud, tmp_path, bare), await band(quiet, tmp_path, bare)
    assert loud_bare - quiet_bare > 8.0  # loudnorm narrows the 14 dB, but not away
    ducked_drop = loud_bare - await band(loud, tmp_path, voiced)
    steady_drop = await band(steady, tmp_path, bare) - await band(steady, tmp_path, voiced)
    assert ducked_drop > 5.0
    assert steady_drop < 2.5
    assert (await loudness(steady)).integrated_lufs > -30.0


async def band(path: Path, tmp_path: Path, window: tuple[float, float]) -> float:
    """Mean level (dB) of the 55 Hz tone's band in a window of the soundtrack."""
    cut = tmp_path / f"{path.stem}_{window[0]:.2f}.wav"
    await run_ffmpeg(
        ["-i", path, "-ss", f"{window[0]:.3f}", "-to", f"{window[1]:.3f}", "-vn",
         "-af", "lowpass=f=80,lowpass=f=80", cut],
        what="cut a window",
    )  # fmt: skip
    return (await loudness(cut)).mean_volume_db


def test_the_renderer_image_keeps_every_caption_font_it_installs() -> None:
    """The Dockerfile prunes the Noto packages to the faces the renderer uses: those exactly."""
    dockerfile = Path(__file__).parents[1].joinpath("Dockerfile").read_text(encoding="utf-8")
    kept = set(re.findall(r"! -name (\S+)", dockerfile))
    wanted = {face.file_name for faces in SCRIPT_FONTS.values() for face in faces}
    assert kept == wanted - {CAPTION_FONT.name}
