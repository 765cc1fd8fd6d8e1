"""How a scene's cinematic fields look in a locally rendered clip: palette, light, grade, motion.

Pure functions of the scene, so the same scene always renders the same picture, and two
neighbouring scenes differ enough for a viewer (and a scene-cut detector) to see the cut.
"""

from __future__ import annotations

import colorsys
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
class StyleLook:
    """What a request's `style` does to every frame: palette, shapes, finish, title card."""

    name: str
    saturation: float  # of the job's palette, 0-1
    lightness: float  # added to every palette colour's lightness
    accent_turn: float  # hue of the accent colour from the job's hue, in degrees
    decor: str  # shapes over the sky: bokeh | bubbles | stripes | disc | rays | none
    land: str  # ground: ridges | flat
    ridge_amp: float  # how hilly the ridges are, as a fraction of the height
    finish: str  # a last `eq` on the still
    vignette: str | None = None  # vignette angle; dark moods get one regardless
    # Film grain baked into the still (0: none); kept light, as grain is costly to encode.
    grain: int = 0
    letterbox: bool = False  # black bars top and bottom (a wide screen feel)
    title_upper: bool = False  # cased scripts only
    title_left: bool = False  # title flush to the safe zone's start edge, else centred
    title_scale: float = 1.0
    title_spacing: float = 0.0  # letter spacing as a fraction of the font size (Latin only)


DEFAULT_STYLE = StyleLook("default", 0.6, 0.0, 150.0, "bokeh", "ridges", 0.035, "eq=contrast=1.03")
STYLE_LOOKS: dict[str, StyleLook] = {
    look.name: look
    for look in (
        StyleLook("cinematic", 0.55, -0.03, 180.0, "bokeh", "ridges", 0.03,
                  "eq=contrast=1.08:saturation=0.9", vignette="PI/5", grain=4, letterbox=True,
                  title_upper=True, title_spacing=0.12, title_scale=0.85),
        StyleLook("documentary", 0.36, 0.02, 40.0, "none", "ridges", 0.05,
                  "eq=contrast=0.96:saturation=0.85", grain=5, title_left=True,
                  title_scale=0.9),
        StyleLook("energetic", 0.92, 0.02, 120.0, "stripes", "ridges", 0.06,
                  "eq=contrast=1.12:saturation=1.3", title_upper=True, title_scale=1.15),
        StyleLook("minimal", 0.28, 0.08, 180.0, "disc", "flat", 0.0,
                  "eq=contrast=0.98", title_left=True, title_scale=0.8),
        StyleLook("dramatic", 0.6, -0.1, 200.0, "rays", "ridges", 0.045,
                  "eq=contrast=1.2:saturation=0.95", vignette="PI/3.2", grain=4,
                  title_upper=True, title_spacing=0.2, title_scale=0.9),
        StyleLook("playful", 0.85, 0.06, 120.0, "bubbles", "ridges", 0.07,
                  "eq=saturation=1.2", title_scale=1.1),
    )
}  # fmt: skip


def style_look(style: object) -> StyleLook:
    """The look for a request's style (an enum member or a string; free text naming a style
    counts as that style, e.g. "cinematic commercial"); anything else: the default look."""
    text = str(getattr(style, "value", style) or "").strip().lower()
    if text in STYLE_LOOKS:
        return STYLE_LOOKS[text]
    words = text.replace("-", " ").replace(",", " ").split()
    return next((STYLE_LOOKS[word] for word in words if word in STYLE_LOOKS), DEFAULT_STYLE)


# (sky top lightness, sky bottom lightness, ground lightness, saturation factor, hue nudge)
MOOD_TONES: dict[Mood, tuple[float, float, float, float, float]] = {
    Mood.UPLIFTING: (0.42, 0.74, 0.18, 1.0, 25.0),
    Mood.CALM: (0.55, 0.82, 0.30, 0.55, -15.0),
    Mood.ENERGETIC: (0.46, 0.62, 0.14, 1.25, 45.0),
    Mood.DRAMATIC: (0.07, 0.30, 0.03, 0.9, -5.0),
    Mood.MYSTERIOUS: (0.09, 0.26, 0.04, 0.7, -40.0),
    Mood.PLAYFUL: (0.60, 0.80, 0.32, 1.2, 60.0),
    Mood.MELANCHOLIC: (0.22, 0.48, 0.12, 0.35, -25.0),
    Mood.INSPIRING: (0.30, 0.70, 0.12, 0.9, 30.0),
}
# Neighbouring scenes turn the job's hue this far apart, so cuts read while the job stays one.
SCENE_HUE_TURN = 22.0
# Above this, light colours turn neon (and lose their grade's nuance).
MAX_SATURATION = 0.8


@dataclass(frozen=True)
class SceneColours:
    """A scene's colours as ffmpeg `0xRRGGBB`: one job hue, the scene's mood and style."""

    sky_top: str
    sky_bottom: str
    far: str
    ground: str
    accent: str
    glint: str  # a light tint of the palette, for out-of-focus lights


def job_hue(seed: str) -> float:
    """The job's base hue in degrees, from something stable about the job (its id)."""
    digest = hashlib.sha256(f"palette|{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 360


def palette_hue(seed: str, hue: float | None = None) -> float:
    """The palette's hue: the given one (e.g. a style reference image's), else the job's."""
    return job_hue(seed) if hue is None else hue % 360


def scene_colours(scene: Scene, hue: float, style: StyleLook) -> SceneColours:
    top_l, bottom_l, ground_l, sat_factor, nudge = MOOD_TONES[scene.mood]
    turn = ((scene.scene_number - 1) % 3 - 1) * SCENE_HUE_TURN
    base = hue + turn + nudge
    sat = min(MAX_SATURATION, style.saturation * sat_factor)
    lift = style.lightness
    return SceneColours(
        sky_top=hls(base, top_l + lift, sat),
        sky_bottom=hls(base + 35, bottom_l + lift, sat * 0.9),
        far=hls(base + 15, (ground_l + bottom_l) / 2 + lift, sat * 0.6),
        ground=hls(base - 10, ground_l + lift / 2, sat * 0.8),
        accent=hls(base + style.accent_turn, 0.62, min(1.0, sat * 1.3 + 0.15)),
        glint=hls(base + 50, 0.84, min(1.0, sat * 0.9)),
    )


def hls(hue: float, lightness: float, saturation: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(
        (hue % 360) / 360, min(max(lightness, 0.02), 0.95), min(max(saturation, 0.0), 1.0)
    )
    return "0x" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


def rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour[2:], 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


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
    ColorGrade.WARM: "colortemperature=temperature=4000,eq=saturation=1.08",
    ColorGrade.COOL: "colortemperature=temperature=10000",
    ColorGrade.TEAL_ORANGE: "colorbalance=rs=-0.25:gs=0.04:bs=0.3:rh=0.25:gh=0.04:bh=-0.25",
    ColorGrade.BLACK_AND_WHITE: "hue=s=0,eq=contrast=1.15",
    ColorGrade.VINTAGE: "curves=preset=vintage,eq=saturation=0.8",
    ColorGrade.VIBRANT: "eq=saturation=1.45:contrast=1.08",
    ColorGrade.MUTED: "eq=saturation=0.6:contrast=0.95",
}

DARK_MOODS = {Mood.DRAMATIC, Mood.MYSTERIOUS, Mood.MELANCHOLIC}
# How much of the frame the foreground ridges fill: closer shots, bigger foreground.
LAND_SCALE: dict[ShotType, float] = {
    ShotType.EXTREME_WIDE: 0.45,
    ShotType.WIDE: 0.6,
    ShotType.AERIAL: 0.4,
    ShotType.MEDIUM: 0.8,
    ShotType.OVER_THE_SHOULDER: 0.9,
    ShotType.POV: 0.85,
    ShotType.CLOSE_UP: 1.1,
    ShotType.EXTREME_CLOSE_UP: 1.3,
}
# Wide-screen bars: a 16:9 frame shows 2.39:1; other shapes lose this much top and bottom.
SCOPE_RATIO = 2.39
LETTERBOX_BAR = 0.06


def scene_rng(scene: Scene, seed: str = "") -> random.Random:
    """A generator seeded by what the scene is, so renders are reproducible."""
    digest = hashlib.sha256(f"{seed}|{scene.scene_number}|{scene.location}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - layout, not secrets


def picture_size(size: tuple[int, int], style: StyleLook) -> tuple[int, int]:
    """The moving picture's size inside the frame: all of it, or what the bars leave."""
    width, height = size
    if not style.letterbox:
        return size
    if width * 9 == height * 16:
        return width, min(height, _even(width / SCOPE_RATIO))
    return width, _even(height * (1 - 2 * LETTERBOX_BAR))


def letterbox_filter(size: tuple[int, int], picture: tuple[int, int]) -> str:
    """Centre the picture in the frame on black (nothing when it fills the frame)."""
    if picture == size:
        return "null"
    width, height = size
    return f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black"


def still_graph(
    scene: Scene, base: tuple[int, int], style: StyleLook, hue: float, seed: str = ""
) -> str:
    """Filter graph of sources to one graded still at `base`, labelled `[still]`: sky, light,
    the style's shapes and the ground, drawn small (they are smooth) and scaled up once."""
    small = (base[0] // GRADIENT_DOWNSCALE, base[1] // GRADIENT_DOWNSCALE)
    colours = scene_colours(scene, hue, style)
    rng = scene_rng(scene, seed)
    sky, glow, glow_at = sky_sources(scene, small, colours, rng)
    layers = [f"{sky}[sky]", f"{glow}[glow]", "[sky][glow]overlay=format=auto[lit]"]
    picture = "lit"
    decor = decor_source(style, small, colours, glow_at, rng)
    if decor is not None:
        layers += [f"{decor}[decor]", f"[{picture}][decor]overlay=format=auto[decorated]"]
        picture = "decorated"
    (far, near), top = land_sources(scene, style, small, colours, rng)
    layers += [
        f"{far}[far]",
        f"{near}[near]",
        f"[{picture}][far]overlay=y={top}:format=auto[distant]",
        f"[distant][near]overlay=y={top}:format=auto,{finish(scene, base, style, colours)}[still]",
    ]
    return ";".join(layers)


def finish(scene: Scene, base: tuple[int, int], style: StyleLook, colours: SceneColours) -> str:
    """Scale the small drawing to `base`, then light, grade, vignette, grain and tilt it."""
    width, height = base
    _, _, exposure = LIGHTING_LOOKS[scene.lighting]
    steps = [
        f"scale={width}:{height}:flags=bicubic",
        f"eq=brightness={exposure:.3f}",
        GRADE_FILTERS[scene.color_grade],
        style.finish,
    ]
    if style.land == "flat":  # a fine horizon line: minimal's one drawn detail
        line_y = int(height * (1 - 0.2 * LAND_SCALE[scene.shot_type]))
        thickness = max(2, height // 400)
        steps.append(
            f"drawbox=x=0:y={line_y}:w={width}:h={thickness}:color={colours.accent}:t=fill"
        )
    angle = style.vignette
    if angle is None and (scene.mood in DARK_MOODS or scene.lighting is Lighting.LOW_KEY):
        angle = "PI/4"
    if angle is not None:
        steps.append(f"vignette=angle={angle}")
    if scene.camera_angle is CameraAngle.DUTCH:
        # Tilt the horizon, then zoom in enough that no rotated corner shows.
        steps.append(
            f"rotate=a=0.08:c={colours.ground},crop=iw/1.16:ih/1.16,scale={width}:{height}"
        )
    steps.append(YUV420_TV)
    if style.grain:
        steps.append(f"noise=c0s={style.grain}")
    return ",".join(steps)


def sky_sources(
    scene: Scene, small: tuple[int, int], colours: SceneColours, rng: random.Random
) -> tuple[str, str, tuple[int, int]]:
    """lavfi sources of the one-frame sky gradient and the light glow, and where the glow is."""
    width, height = small
    glow_color, glow_height, _ = LIGHTING_LOOKS[scene.lighting]
    glow_x = int(width * rng.uniform(0.2, 0.8))
    glow_y = int(height * glow_height)
    radius = int(min(width, height) * 0.45)
    sky = (
        f"gradients=s={width}x{height}:c0={colours.sky_top}:c1={colours.sky_bottom}"
        f":x0=0:y0=0:x1={width // 3}:y1={height}:n=2:r=1:d=1:speed=0:seed=1"
    )
    glow = (
        f"gradients=s={width}x{height}:c0={glow_color}ff:c1={glow_color}00:type=radial"
        f":x0={glow_x}:y0={glow_y}:x1={glow_x + radius}:y1={glow_y}:n=2:r=1:d=1:speed=0:seed=1"
    )
    return sky, glow, (glow_x, glow_y)


def _layer(size: tuple[int, int], colour: str, alpha: str) -> str:
    """A one-frame transparent layer painted by `geq`: `colour` where `alpha` (0-255) says."""
    red, green, blue = rgb(colour)
    width, height = size
    return (
        f"color=c=black@0:s={width}x{height}:r=1:d=1,format=rgba,"
        f"geq=r='{red}':g='{green}':b='{blue}':a='{alpha}'"
    )


def _discs(spots: list[tuple[float, float, float]], softness: float) -> str:
    """Coverage (0-1) of soft-edged discs (x, y, radius in pixels)."""
    terms = [
        f"if(lt(abs(Y-{y:.1f}),{r:.1f})*lt(abs(X-{x:.1f}),{r:.1f}),"
        f"clip(({r:.1f}-hypot(X-{x:.1f},Y-{y:.1f}))/{max(r * softness, 0.8):.2f},0,1),0)"
        for x, y, r in spots
    ]
    return f"min(1,{'+'.join(terms)})"


def decor_source(
    style: StyleLook,
    small: tuple[int, int],
    colours: SceneColours,
    glow_at: tuple[int, int],
    rng: random.Random,
) -> str | None:
    """The style's shapes over the sky, or None for a style without any."""
    width, height = small
    unit = min(width, height)
    match style.decor:
        case "bokeh":
            spots = [(rng.uniform(0, width), rng.uniform(0, height * 0.7),
                      unit * rng.uniform(0.03, 0.09)) for _ in range(9)]  # fmt: skip
            return _layer(small, colours.glint, f"120*{_discs(spots, 0.45)}")
        case "bubbles":
            spots = [(rng.uniform(0, width), rng.uniform(0, height * 0.8),
                      unit * rng.uniform(0.04, 0.13)) for _ in range(11)]  # fmt: skip
            return _layer(small, colours.accent, f"215*{_discs(spots, 0.08)}")
        case "stripes":
            period = width * 0.28
            phase = rng.uniform(0, period)
            band = f"lt(mod(X+Y*0.75+{phase:.1f},{period:.1f}),{period * 0.32:.1f})"
            return _layer(small, colours.accent, f"{band}*(150-90*Y/H)")
        case "disc":
            spot = (width * rng.uniform(0.3, 0.7), height * rng.uniform(0.25, 0.4), unit * 0.24)
            return _layer(small, colours.accent, f"255*{_discs([spot], 0.02)}")
        case "rays":
            gx, gy = glow_at
            rays = f"lt(mod(atan2(Y-{gy},X-{gx})*2.2282+{rng.uniform(0, 1):.3f},1),0.4)"
            return _layer(small, "0xffffff", f"{rays}*75*exp(-hypot(X-{gx},Y-{gy})/(0.6*H))")
    return None


def land_sources(
    scene: Scene, style: StyleLook, small: tuple[int, int], colours: SceneColours,
    rng: random.Random,
) -> tuple[tuple[str, str], int]:  # fmt: skip
    """Two ridges along the bottom (far, lighter; near, darker), taller for closer shots, as
    layers of the band they occupy (drawing only there is most of the saving), and its top."""
    width, height = small
    scale = LAND_SCALE[scene.shot_type]
    near_h, far_h = 0.2 * scale, 0.2 * scale + 0.11
    top = max(0, int(height * (1 - far_h - 2 * style.ridge_amp * 1.4)) - 2)
    band = (width, height - top)
    near = _ridge(height, top, near_h, style.ridge_amp, rng)
    far = _ridge(height, top, far_h, style.ridge_amp * 1.4, rng)
    return (_layer(band, colours.far, far), _layer(band, colours.ground, near)), top


def _ridge(height: int, top: int, share: float, amp: float, rng: random.Random) -> str:
    """Alpha (0-255) below a ridge line `share` of the frame's `height` above the bottom, gently
    rolling, in a band starting at `top`; the edge is anti-aliased by the distance to the line
    (its vertical distance over the slope's length), so steep slopes do not show steps."""
    freq, phase = rng.uniform(0.7, 1.6) * 6.2832, rng.uniform(0, 6.2832)
    big, small = height * amp, height * amp * 0.4
    wave, ripple = f"X/W*{freq:.3f}+{phase:.3f}", f"X/W*{freq * 2.7:.3f}+{phase * 1.9:.3f}"
    line = f"{height * (1 - share) - top:.2f}+{big:.3f}*sin({wave})+{small:.3f}*sin({ripple})"
    slope = f"({big * freq:.3f}*cos({wave})+{small * freq * 2.7:.3f}*cos({ripple}))/W"
    return f"255*clip((Y-({line}))/hypot(1,{slope})+0.5,0,1)"


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
