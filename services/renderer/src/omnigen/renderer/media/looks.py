"""How a scene's cinematic fields look in a locally rendered clip: palette, light, grade, motion.

Pure functions of the scene, so the same scene always renders the same picture, and two
neighbouring scenes differ enough for a viewer (and a scene-cut detector) to see the cut.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from omnigen.shared.domain.scripts import (
    CameraAngle,
    CameraMove,
    ColorGrade,
    Lighting,
    Mood,
    Scene,
    ShotType,
)

# Base picture is this much larger than the frame so the camera has room to move.
OVERSCAN = 1.25
# Smooth gradients are drawn this many times smaller and scaled up: same look, far less work.
GRADIENT_DOWNSCALE = 4
# Limited-range yuv420p, what every player expects from H.264 (JPEG inputs arrive full-range).
YUV420_TV = "scale=out_range=tv,format=pix_fmts=yuv420p:color_ranges=tv"


@dataclass(frozen=True)
class Palette:
    sky_top: str
    sky_bottom: str
    ground: str


MOOD_PALETTES: dict[Mood, Palette] = {
    Mood.UPLIFTING: Palette("0x3a7bd5", "0xffd36e", "0x1e3b2f"),
    Mood.CALM: Palette("0x6a9fb5", "0xd8ecf0", "0x2f4a52"),
    Mood.ENERGETIC: Palette("0xff2e63", "0xffb800", "0x1a0f2e"),
    Mood.DRAMATIC: Palette("0x0f0c29", "0xb23a48", "0x07060f"),
    Mood.MYSTERIOUS: Palette("0x141e30", "0x5b3f8c", "0x0a0f18"),
    Mood.PLAYFUL: Palette("0x7f5af0", "0x2cb67d", "0x16161a"),
    Mood.MELANCHOLIC: Palette("0x2c3e50", "0x8e9eab", "0x1b2631"),
    Mood.INSPIRING: Palette("0x1d4350", "0xf7b733", "0x10222b"),
}

# (glow colour, glow height as a fraction of the frame, exposure offset for `eq`)
LIGHTING_LOOKS: dict[Lighting, tuple[str, float, float]] = {
    Lighting.NATURAL: ("0xfff4d6", 0.25, 0.0),
    Lighting.GOLDEN_HOUR: ("0xffb347", 0.55, 0.02),
    Lighting.BLUE_HOUR: ("0x9ec9ff", 0.5, -0.04),
    Lighting.HIGH_KEY: ("0xffffff", 0.3, 0.08),
    Lighting.LOW_KEY: ("0xd0a060", 0.35, -0.1),
    Lighting.NEON: ("0xff3cac", 0.4, 0.0),
    Lighting.STUDIO: ("0xf0f0f0", 0.2, 0.03),
    Lighting.BACKLIT: ("0xfff0c0", 0.6, -0.02),
}

GRADE_FILTERS: dict[ColorGrade, str] = {
    ColorGrade.NEUTRAL: "eq=contrast=1.02",
    ColorGrade.WARM: "colorbalance=rs=0.12:gs=0.03:bs=-0.1:rm=0.08:bm=-0.06",
    ColorGrade.COOL: "colorbalance=rs=-0.1:bs=0.12:rm=-0.06:bm=0.08",
    ColorGrade.TEAL_ORANGE: "colorbalance=rs=-0.12:bs=0.14:rh=0.14:bh=-0.12",
    ColorGrade.BLACK_AND_WHITE: "hue=s=0,eq=contrast=1.15",
    ColorGrade.VINTAGE: "curves=preset=vintage,eq=saturation=0.8",
    ColorGrade.VIBRANT: "eq=saturation=1.45:contrast=1.08",
    ColorGrade.MUTED: "eq=saturation=0.6:contrast=0.95",
}

DARK_MOODS = {Mood.DRAMATIC, Mood.MYSTERIOUS, Mood.MELANCHOLIC}
SILHOUETTE_SCALE: dict[ShotType, float] = {
    ShotType.EXTREME_WIDE: 0.45,
    ShotType.WIDE: 0.6,
    ShotType.AERIAL: 0.4,
    ShotType.MEDIUM: 0.8,
    ShotType.OVER_THE_SHOULDER: 0.9,
    ShotType.POV: 0.85,
    ShotType.CLOSE_UP: 1.1,
    ShotType.EXTREME_CLOSE_UP: 1.3,
}


def scene_rng(scene: Scene) -> random.Random:
    """A generator seeded by what the scene is, so renders are reproducible."""
    digest = hashlib.sha256(f"{scene.scene_number}|{scene.location}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - layout, not secrets


def still_filters(scene: Scene, base: tuple[int, int]) -> str:
    """Filter chain from the sky gradient (first pad) and glow (second pad) to the graded still."""
    width, height = base
    palette = MOOD_PALETTES[scene.mood]
    rng = scene_rng(scene)
    _, _, exposure = LIGHTING_LOOKS[scene.lighting]
    hue_shift = (scene.scene_number * 47) % 120 - 60
    steps = [
        "overlay=format=auto",
        f"scale={width}:{height}:flags=bicubic",
        *silhouettes(palette.ground, base, SILHOUETTE_SCALE[scene.shot_type], rng),
        f"hue=h={hue_shift}",
        f"eq=brightness={exposure:.3f}",
        GRADE_FILTERS[scene.color_grade],
    ]
    if scene.mood in DARK_MOODS or scene.lighting is Lighting.LOW_KEY:
        steps.append("vignette=angle=PI/4")
    if scene.camera_angle is CameraAngle.DUTCH:
        # Tilt the horizon, then zoom in enough that no rotated corner shows.
        steps.append(
            f"rotate=a=0.08:c={palette.ground},crop=iw/1.16:ih/1.16,scale={width}:{height}"
        )
    steps.append(YUV420_TV)
    return ",".join(steps)


def silhouettes(color: str, base: tuple[int, int], scale: float, rng: random.Random) -> list[str]:
    """A skyline of boxes along the bottom; taller and fewer for closer shots."""
    width, height = base
    boxes: list[str] = []
    x = 0
    while x < width:
        box_w = int(width * rng.uniform(0.08, 0.2) * scale)
        box_h = int(height * rng.uniform(0.08, 0.3) * scale)
        boxes.append(f"drawbox=x={x}:y={height - box_h}:w={box_w}:h={box_h}:color={color}:t=fill")
        x += box_w + int(width * rng.uniform(0.0, 0.05))
    return boxes


def sky_sources(scene: Scene, base: tuple[int, int]) -> tuple[str, str]:
    """lavfi descriptions of the one-frame sky gradient and the light glow."""
    width, height = base[0] // GRADIENT_DOWNSCALE, base[1] // GRADIENT_DOWNSCALE
    palette = MOOD_PALETTES[scene.mood]
    glow_color, glow_height, _ = LIGHTING_LOOKS[scene.lighting]
    rng = scene_rng(scene)
    glow_x = int(width * rng.uniform(0.2, 0.8))
    glow_y = int(height * glow_height)
    radius = int(min(width, height) * 0.45)
    sky = (
        f"gradients=s={width}x{height}:c0={palette.sky_top}:c1={palette.sky_bottom}"
        f":x0=0:y0=0:x1={width // 3}:y1={height}:n=2:r=1:d=1:speed=0:seed=1"
    )
    glow = (
        f"gradients=s={width}x{height}:c0={glow_color}ff:c1={glow_color}00:type=radial"
        f":x0={glow_x}:y0={glow_y}:x1={glow_x + radius}:y1={glow_y}:n=2:r=1:d=1:speed=0:seed=1"
    )
    return sky, glow


def motion_filter(
    move: CameraMove, frames: int, size: tuple[int, int], fps: int, *, only_frame: int | None = None
) -> str:
    """zoompan over the still for the camera move; progress eases in and out.

    Moves without a zoom keep the window exactly the output size, so no frame is rescaled.
    With `only_frame`, it draws just that frame of the move (one frame out).
    """
    last = max(frames - 1, 1)
    on = "on" if only_frame is None else f"({only_frame})"
    ease = f"(3*pow({on}/{last},2)-2*pow({on}/{last},3))"
    full, tight = "1.0", f"{OVERSCAN:.3f}"
    mid_x, mid_y = "(iw-iw/zoom)/2", "(ih-ih/zoom)/2"
    span_x, span_y = "(iw-iw/zoom)", "(ih-ih/zoom)"
    zoom, x, y = tight, mid_x, mid_y
    match move:
        case CameraMove.STATIC:
            pass
        case CameraMove.PAN_LEFT:
            x = f"{span_x}*(1-{ease})"
        case CameraMove.PAN_RIGHT:
            x = f"{span_x}*{ease}"
        case CameraMove.TILT_UP:
            y = f"{span_y}*(1-{ease})"
        case CameraMove.TILT_DOWN:
            y = f"{span_y}*{ease}"
        case CameraMove.DOLLY_IN:
            zoom = f"{full}+({tight}-{full})*{ease}"
        case CameraMove.DOLLY_OUT:
            zoom = f"{tight}-({tight}-{full})*{ease}"
        case CameraMove.TRACKING:
            x, y = f"{span_x}*{ease}", f"{span_y}*(0.4+0.2*{ease})"
        case CameraMove.CRANE:
            zoom = f"{tight}-0.15*{ease}"
            y = f"{span_y}*(1-{ease})"
        case CameraMove.HANDHELD:
            x = f"{mid_x}*(1+0.25*sin({on}*0.21)+0.12*sin({on}*0.53))"
            y = f"{mid_y}*(1+0.2*sin({on}*0.17+1)+0.1*sin({on}*0.61))"
    width, height = size
    count = frames if only_frame is None else 1
    return f"zoompan=z='{zoom}':x='{x}':y='{y}':d={count}:s={width}x{height}:fps={fps}"


def base_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    return (_even(width * OVERSCAN), _even(height * OVERSCAN))


def _even(value: float) -> int:
    return round(value / 2) * 2
