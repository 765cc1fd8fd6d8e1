"""The embedded look: scenes drawn from their cinematic fields and the job's style and palette,
the first one opening on the title card, and never a word of the prompt on screen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnigen.renderer.media import looks
from omnigen.renderer.media.clips import (
    LocalClipGenerator,
    prepare_title_card,
    synthetic_clip_arguments,
)
from omnigen.renderer.media.fonts import caption_font
from omnigen.renderer.media.probe import Frame, extract_frame, probe
from omnigen.renderer.ports import ClipLook
from omnigen.shared.domain.media import CaptionPosition, safe_zone
from omnigen.shared.domain.scripts import (
    CameraAngle,
    CameraMove,
    ColorGrade,
    Lighting,
    Mood,
    Scene,
    ShotType,
    Transition,
)

PORTRAIT = (144, 256)
FPS = 30
PROMPT = "A glossy orange folding bicycle leans on a rain-streaked lamppost at dusk"
ACTION = "The rider unfolds the bicycle in one smooth motion"
STYLES = ["cinematic", "documentary", "energetic", "minimal", "dramatic", "playful"]
TITLES = {
    "ja": "冬を越す観葉植物の育て方",
    "zh": "冬天照顾室内植物的三个窍门",
    "ko": "겨울철 화초 관리 세 가지 팁",
    "ar": "كيف تعتني بنباتاتك في الشتاء",
    "he": "איך לשמור על צמחי בית בחורף",
    "hi": "सर्दियों में पौधों की देखभाल",
}


def make_scene(number: int = 1, **fields: object) -> Scene:
    values: dict[str, object] = {
        "scene_number": number,
        "start_time": 0.0,
        "duration": 1.0,
        "location": f"riverside street {number}",
        "action": ACTION,
        "shot_type": ShotType.WIDE,
        "camera_angle": CameraAngle.EYE_LEVEL,
        "camera_move": CameraMove.STATIC,
        "lighting": Lighting.NATURAL,
        "color_grade": ColorGrade.NEUTRAL,
        "mood": Mood.UPLIFTING,
        "visual_style": "cinematic",
        "transition_in": Transition.CUT,
        "generation_prompt": PROMPT,
        "narration": "Meet the bike that folds in ten seconds.",
        **fields,
    }
    return Scene.model_validate(values)


@dataclass(frozen=True)
class Clip:
    first: Frame
    middle: Frame
    last: Frame


async def render(
    tmp_path: Path,
    scene: Scene,
    look: ClipLook | None = None,
    size: tuple[int, int] = PORTRAIT,
    name: str = "clip",
) -> Clip:
    out = tmp_path / name
    result = await LocalClipGenerator().generate(
        scene, size=size, fps=FPS, start_image=None, out_dir=out, look=look
    )
    info = await probe(result.path)
    assert info.video is not None and (info.video.width, info.video.height) == size
    return Clip(
        first=await extract_frame(result.path, size=size),
        middle=await extract_frame(result.path, at_s=scene.duration / 2, size=size),
        last=await extract_frame(result.path, last=True, size=size),
    )


def mean_rgb(
    frame: Frame, region: tuple[float, float, float, float] = (0, 0, 1, 1)
) -> tuple[float, float, float]:
    x0, y0 = int(region[0] * frame.width), int(region[1] * frame.height)
    x1, y1 = int(region[2] * frame.width), int(region[3] * frame.height)
    sums, count = [0, 0, 0], 0
    for y in range(y0, y1):
        row = frame.rgb[(y * frame.width + x0) * 3 : (y * frame.width + x1) * 3]
        for channel in range(3):
            sums[channel] += sum(row[channel::3])
        count += x1 - x0
    red, green, blue = (total / max(count, 1) for total in sums)
    return red, green, blue


def changed_rows(one: Frame, two: Frame, threshold: float = 12.0) -> list[int]:
    rows = []
    for y in range(one.height):
        if one.mean_abs_diff(two, (0.0, y / one.height, 1.0, (y + 1) / one.height)) > threshold:
            rows.append(y)
    return rows


def changed_columns(one: Frame, two: Frame, threshold: float = 12.0) -> list[int]:
    """The columns that differ, within the band of rows that differ."""
    rows = changed_rows(one, two, threshold)
    if not rows:
        return []
    top, bottom = min(rows) / one.height, (max(rows) + 1) / one.height
    columns = []
    for x in range(one.width):
        if one.mean_abs_diff(two, (x / one.width, top, (x + 1) / one.width, bottom)) > threshold:
            columns.append(x)
    return columns


def test_the_clip_graph_draws_no_prompt_text(tmp_path: Path) -> None:
    look = ClipLook(palette_seed="job-1", style="cinematic", title="Fold and go")
    for number in (1, 2):
        scene = make_scene(number)
        title = prepare_title_card(scene, look, PORTRAIT, tmp_path / f"title{number}")
        args = " ".join(
            str(arg)
            for arg in synthetic_clip_arguments(scene, look, PORTRAIT, FPS, 30, None, title)
        )
        assert "drawtext" not in args and "textfile" not in args
        for words in (PROMPT, ACTION, scene.location, scene.narration):
            assert words not in args
        if title is not None:
            card = title.read_text(encoding="utf-8")
            assert "FOLD AND GO" in card  # cinematic sets the title in capitals
            assert PROMPT not in card and ACTION not in card


async def test_first_scene_opens_on_the_title_card_and_it_is_gone_by_the_cut(
    tmp_path: Path,
) -> None:
    scene = make_scene(1, duration=2.0)
    titled = ClipLook(palette_seed="job-1", title="Fold and go")
    plain = ClipLook(palette_seed="job-1")
    with_title = await render(tmp_path, scene, titled, name="titled")
    without = await render(tmp_path, scene, plain, name="plain")
    assert len(changed_rows(with_title.middle, without.middle)) >= 6  # the title is drawn
    assert with_title.last.mean_abs_diff(without.last) < 2.0  # and gone before the next scene
    # Later scenes of the same job carry no card.
    assert prepare_title_card(make_scene(2), titled, PORTRAIT, tmp_path / "t2") is None


@pytest.mark.parametrize(
    ("size", "aspect", "position"),
    [
        ((144, 256), "9:16", CaptionPosition.BOTTOM),
        ((256, 144), "16:9", CaptionPosition.BOTTOM),
        ((192, 192), "1:1", CaptionPosition.TOP),
    ],
)
async def test_title_card_sits_in_the_safe_zone_clear_of_the_captions(
    tmp_path: Path, size: tuple[int, int], aspect: str, position: CaptionPosition
) -> None:
    zone = safe_zone(aspect, "tiktok")
    scene = make_scene(1, duration=2.0)
    common = {"palette_seed": "job-2", "safe_zone": zone, "caption_position": position}
    with_title = await render(
        tmp_path, scene, ClipLook(title="Three tips for winter houseplants", **common), size, "t"
    )
    without = await render(tmp_path, scene, ClipLook(**common), size, "p")
    rows = changed_rows(with_title.middle, without.middle)
    assert rows
    height = size[1]
    top, bottom = min(rows) / height, (max(rows) + 1) / height
    assert top >= zone.top - 0.02 and bottom <= 1 - zone.bottom + 0.02
    # Captions take about a fifth of the usable height at their edge; the card keeps off it.
    caption_band = 0.2 * (1 - zone.top - zone.bottom)
    if position is CaptionPosition.BOTTOM:
        assert bottom <= 1 - zone.bottom - caption_band
    else:
        assert top >= zone.top + caption_band


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("size", [(480, 270), (270, 480)])
async def test_a_long_title_stays_inside_the_safe_zone_across(
    tmp_path: Path, style: str, size: tuple[int, int]
) -> None:
    # Capitals and letter spacing widen a line well past an average lower-case glyph's width.
    zone = safe_zone("16:9" if size[0] > size[1] else "9:16", "youtube")
    scene = make_scene(1, duration=2.0)
    common = {"palette_seed": "job-3", "style": style, "safe_zone": zone}
    title = "An old fisherman mends his nets"
    with_title = await render(tmp_path, scene, ClipLook(title=title, **common), size, "t")
    without = await render(tmp_path, scene, ClipLook(**common), size, "p")
    columns = changed_columns(with_title.middle, without.middle)
    assert columns
    left, right = min(columns) / size[0], (max(columns) + 1) / size[0]
    assert left >= zone.left - 0.01 and right <= 1 - zone.right + 0.01, (left, right, zone)


async def test_camera_moves_move_the_picture_differently(tmp_path: Path) -> None:
    moves = [CameraMove.STATIC, CameraMove.PAN_LEFT, CameraMove.TILT_UP, CameraMove.DOLLY_IN,
             CameraMove.CRANE, CameraMove.HANDHELD]  # fmt: skip
    clips = {
        move: await render(tmp_path, make_scene(2, camera_move=move), name=move.value)
        for move in moves
    }
    assert clips[CameraMove.STATIC].first.mean_abs_diff(clips[CameraMove.STATIC].last) < 1.0
    for move in moves[1:]:
        assert clips[move].first.mean_abs_diff(clips[move].last) > 2.0, move
    ends = [clips[move].last for move in moves[1:]]
    for index, one in enumerate(ends):
        for two in ends[index + 1 :]:
            assert one.mean_abs_diff(two) > 1.0


async def test_grade_lighting_and_mood_change_the_colours(tmp_path: Path) -> None:
    async def colour(name: str, **fields: object) -> tuple[float, float, float]:
        return mean_rgb((await render(tmp_path, make_scene(2, **fields), name=name)).middle)

    warm = await colour("warm", color_grade=ColorGrade.WARM)
    cool = await colour("cool", color_grade=ColorGrade.COOL)
    assert warm[0] - warm[2] > cool[0] - cool[2] + 10
    grey = await colour("bw", color_grade=ColorGrade.BLACK_AND_WHITE)
    assert max(grey) - min(grey) < 3
    bright = await colour("high", lighting=Lighting.HIGH_KEY)
    dark = await colour("low", lighting=Lighting.LOW_KEY)
    assert sum(bright) > sum(dark) + 30
    calm = await colour("calm", mood=Mood.CALM)
    dramatic = await colour("dramatic", mood=Mood.DRAMATIC)
    assert sum(calm) > sum(dramatic) + 150


async def test_each_style_draws_its_own_picture(tmp_path: Path) -> None:
    scene = make_scene(2)
    frames = {
        style: (
            await render(tmp_path, scene, ClipLook("job-3", style), name=style or "default")
        ).middle
        for style in [None, *STYLES]
    }
    names = list(frames)
    for index, one in enumerate(names):
        for two in names[index + 1 :]:
            assert frames[one].mean_abs_diff(frames[two]) > 4.0, (one, two)
    # Cinematic: wide-screen bars, black, top and bottom, the frame's size unchanged.
    bars = mean_rgb(frames["cinematic"], (0, 0, 1, 0.04))
    assert max(bars) < 20 and max(mean_rgb(frames[None], (0, 0, 1, 0.04))) > 20


@pytest.mark.parametrize("size", [(256, 144), (144, 256), (192, 192)])
async def test_every_style_keeps_the_frame_size(tmp_path: Path, size: tuple[int, int]) -> None:
    for style in ("cinematic", "energetic"):
        await render(tmp_path, make_scene(1), ClipLook("job", style, title="Go"), size, style)


def test_one_palette_per_job() -> None:
    hues = {seed: looks.job_hue(seed) for seed in ("job-a", "job-b", "job-c")}
    assert looks.job_hue("job-a") == hues["job-a"]
    assert len(set(hues.values())) == 3
    style = looks.style_look(None)
    for seed, hue in hues.items():
        skies = [_hue(looks.scene_colours(make_scene(n), hue, style).sky_top) for n in range(1, 7)]
        spread = max(_hue_distance(one, two) for one in skies for two in skies)
        assert spread <= 2 * looks.SCENE_HUE_TURN + 2, seed  # scenes of a job stay one family
    one = [looks.scene_colours(make_scene(n), hues["job-a"], style) for n in (1, 2)]
    assert one[0].sky_top != one[1].sky_top  # neighbouring scenes still differ


async def test_the_same_job_renders_the_same_picture(tmp_path: Path) -> None:
    look = ClipLook("job-7", "playful")
    one = await render(tmp_path, make_scene(3), look, name="one")
    again = await render(tmp_path, make_scene(3), look, name="again")
    other = await render(tmp_path, make_scene(3), ClipLook("job-8", "playful"), name="other")
    assert one.middle.mean_abs_diff(again.middle) < 0.5
    assert one.middle.mean_abs_diff(other.middle) > 5.0


def test_style_is_read_from_an_enum_or_text() -> None:
    class Style:
        value = "energetic"

    assert looks.style_look(Style()).name == "energetic"
    assert looks.style_look("Cinematic commercial").name == "cinematic"
    assert looks.style_look("watercolour").name == "default"
    assert looks.style_look(None).name == "default"


@pytest.mark.parametrize("language", sorted(TITLES))
def test_title_card_font_has_every_character_of_the_title(tmp_path: Path, language: str) -> None:
    title = TITLES[language]
    card = prepare_title_card(make_scene(1), ClipLook(title=title, language=language),
                              PORTRAIT, tmp_path)  # fmt: skip
    assert card is not None
    font = caption_font(language, [title])
    assert font.missing(title) == ""
    text = card.read_text(encoding="utf-8")
    assert f"Style: Title,{font.family}," in text
    shown = re.sub(r"\{[^}]*\}", "", text.splitlines()[-2].split(",,", 1)[1].split(",,", 1)[1])
    assert shown.replace("\\N", "").replace(" ", "") == title.replace(" ", "")
    assert (tmp_path / "fonts" / font.path.name).exists()


@pytest.mark.parametrize("language", ["ja", "ar", "hi"])
async def test_non_latin_title_is_drawn(tmp_path: Path, language: str) -> None:
    scene = make_scene(1, duration=2.0)
    titled = await render(
        tmp_path, scene, ClipLook("j", title=TITLES[language], language=language), name="t"
    )
    plain = await render(tmp_path, scene, ClipLook("j", language=language), name="p")
    assert len(changed_rows(titled.middle, plain.middle)) >= 6


def _hue(colour: str) -> float:
    import colorsys

    red, green, blue = (channel / 255 for channel in looks.rgb(colour))
    return colorsys.rgb_to_hls(red, green, blue)[0] * 360


def _hue_distance(one: float, two: float) -> float:
    return abs((one - two + 180) % 360 - 180)
