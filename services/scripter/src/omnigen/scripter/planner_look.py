"""The planner's visual and musical choices, read off the words of the prompt and options.

Keyword tables instead of a model: the same request always gets the same look, offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.shared.domain.scripts import CameraMove, ColorGrade, Lighting, Mood, Transition

T = TypeVar("T")

_MOODS: tuple[tuple[str, Mood], ...] = (
    (r"calm|relax|peace|seren|gentle|soothing|quiet", Mood.CALM),
    (r"energ|excit|hype|bold|dynamic|intense|action|edgy", Mood.ENERGETIC),
    (r"dramatic|epic|cinematic|serious|powerful", Mood.DRAMATIC),
    (r"myster|suspense|dark|secret|eerie", Mood.MYSTERIOUS),
    (r"fun|playful|quirky|humou?r|silly|cheeky|whimsical", Mood.PLAYFUL),
    (r"sad|nostalg|melanch|wistful|bittersweet", Mood.MELANCHOLIC),
    (r"inspir|motivat|aspir|hope|empower", Mood.INSPIRING),
    (r"happy|positive|upbeat|friendly|warm|uplift|joy|cheer", Mood.UPLIFTING),
)
_LIGHTING: tuple[tuple[str, Lighting], ...] = (
    (r"neon|cyber|night ?life|club|synthwave|edgy", Lighting.NEON),
    (r"sunset|sunrise|golden|cozy|cosy|autumn", Lighting.GOLDEN_HOUR),
    (r"dusk|twilight|blue hour|moody", Lighting.BLUE_HOUR),
    (r"luxur|premium|elegant|noir|dark|dramatic", Lighting.LOW_KEY),
    (r"clean|minimal|corporate|professional|tech|product|studio", Lighting.STUDIO),
    (r"bright|airy|fresh|pastel|playful|energetic", Lighting.HIGH_KEY),
    (r"silhouette|dreamy|backlit|romantic", Lighting.BACKLIT),
)
_GRADES: tuple[tuple[str, ColorGrade], ...] = (
    (r"black and white|black & white|monochrome|noir", ColorGrade.BLACK_AND_WHITE),
    (r"vintage|retro|film|analog|nostalg", ColorGrade.VINTAGE),
    (r"cinematic|blockbuster|epic", ColorGrade.TEAL_ORANGE),
    (r"vibrant|colou?rful|bold|pop|fun|playful|energetic", ColorGrade.VIBRANT),
    (r"documentary|natural|realis", ColorGrade.NEUTRAL),
    (r"cozy|cosy|warm|sunny", ColorGrade.WARM),
    (r"tech|futur|cool|winter|ice", ColorGrade.COOL),
    (r"muted|minimal|subtle|calm|pastel", ColorGrade.MUTED),
    (r"dramatic|moody", ColorGrade.COOL),
)
_GRADE_BY_MOOD = {
    Mood.UPLIFTING: ColorGrade.WARM,
    Mood.CALM: ColorGrade.MUTED,
    Mood.ENERGETIC: ColorGrade.VIBRANT,
    Mood.DRAMATIC: ColorGrade.TEAL_ORANGE,
    Mood.MYSTERIOUS: ColorGrade.COOL,
    Mood.PLAYFUL: ColorGrade.VIBRANT,
    Mood.MELANCHOLIC: ColorGrade.MUTED,
    Mood.INSPIRING: ColorGrade.WARM,
}
_MUSIC_BY_MOOD = {
    Mood.UPLIFTING: "bright acoustic pop with light percussion",
    Mood.CALM: "soft ambient piano with warm pads",
    Mood.ENERGETIC: "driving electronic beat with punchy drums",
    Mood.DRAMATIC: "cinematic orchestral build with deep percussion",
    Mood.MYSTERIOUS: "sparse atmospheric synths with a low pulse",
    Mood.PLAYFUL: "bouncy ukulele and whistling with claps",
    Mood.MELANCHOLIC: "slow strings over a gentle piano motif",
    Mood.INSPIRING: "rising piano and strings anthem",
}
_SETTINGS: tuple[tuple[str, str], ...] = (
    (r"coffee|caf[eé]|espresso|latte|bakery", "a cozy neighbourhood cafe"),
    (r"beach|surf|seaside|coast", "a sunlit beach with gentle waves"),
    (r"kitchen|cook|recipe|chef", "a bright home kitchen"),
    (r"office|startup|saas|software|team|work", "a modern open-plan office"),
    (r"city|urban|street|downtown", "a lively city street"),
    (r"forest|woods|jungle", "a quiet forest path"),
    (r"mountain|hik|climb|alpine", "a mountain trail high above the valley"),
    (r"gym|fitness|workout|sport|run", "a modern training gym"),
    (r"space|galax|planet|rocket|astronaut", "a star field in deep space"),
    (r"ocean|sea|underwater|dive|boat", "an open ocean under a wide sky"),
    (r"snow|winter|ski", "a snowy winter landscape"),
    (r"desert|dune", "a wide desert at dusk"),
    (r"restaurant|dinner|food|meal", "a warm restaurant dining room"),
    (r"park|garden|flower", "a green garden in full bloom"),
    (r"car|road|drive|travel", "an open highway through the countryside"),
    (r"home|house|living room|family", "a comfortable family living room"),
)
_DEFAULT_SETTINGS = (
    "a bright modern interior",
    "an open outdoor space in soft daylight",
    "a minimal studio set with a seamless backdrop",
)
# The closed `style` values, spelled out for a video model; free text is used as written.
_STYLE_LOOKS = {
    "cinematic": "cinematic, shallow depth of field and soft anamorphic flares",
    "documentary": "documentary realism, natural and observational",
    "energetic": "energetic, bold colour and quick motion",
    "minimal": "minimal, clean lines and generous negative space",
    "dramatic": "dramatic, deep shadows and strong contrast",
    "playful": "playful, bright colour and bouncy motion",
}
_FAST = r"fast|quick|snappy|rapid|upbeat|punchy|energetic|hype"
_SLOW = r"slow|calm|relaxed|gentle|leisurely|lingering|meditative"
_SOCIAL = r"tiktok|reels?|shorts|instagram|snap"

_MOVES_BY_TEMPO = {
    "fast": (CameraMove.HANDHELD, CameraMove.TRACKING, CameraMove.DOLLY_IN, CameraMove.PAN_RIGHT),
    "slow": (CameraMove.STATIC, CameraMove.DOLLY_IN, CameraMove.CRANE, CameraMove.TILT_UP),
    "steady": (CameraMove.DOLLY_IN, CameraMove.TRACKING, CameraMove.PAN_RIGHT, CameraMove.CRANE),
}
_FRAMING = {
    AspectRatio.PORTRAIT: "vertical 9:16 frame with the subject centred and close",
    AspectRatio.LANDSCAPE: "wide 16:9 frame with room for the setting",
    AspectRatio.SQUARE: "square 1:1 frame with a centred, balanced composition",
}


@dataclass(frozen=True)
class Look:
    """Everything about how the video looks and sounds that holds across its scenes."""

    mood: Mood
    lighting: Lighting
    color_grade: ColorGrade
    tempo: str  # fast | steady | slow
    moves: tuple[CameraMove, ...]
    transition: Transition
    setting: str
    visual_style: str
    framing: str
    music_style: str


def _first(table: tuple[tuple[str, T], ...], *texts: str) -> T | None:
    for text in texts:
        for pattern, value in table:
            if text and re.search(rf"\b(?:{pattern})", text, re.IGNORECASE):
                return value
    return None


_PLACE = re.compile(
    r"\b(?:on|in|at|inside|across|through|beside|near|under|over)\s+(?P<place>"
    r"(?:a|an|the|our|my)\s+(?:[\w'-]+\s+){0,3}?[\w'-]+|[A-Z][\w-]+(?:\s+[A-Z][\w-]+){0,2})"
    r"(?=\s*(?:$|[,.;:!?]|\s(?:at|in|on|with|while|during|for|told|this|that)\b))"
)
_NOT_PLACES = re.compile(
    r"\b(?:morning|night|evening|afternoon|day|dawn|dusk|week|weekend|month|year|time|moment|"
    r"winter|spring|summer|autumn|fall|row|way|minutes?|seconds?|hours?|scenes?|style|mood|"
    r"home|budget|life|world|mind|future|past|future)$",
    re.IGNORECASE,
)


def place_in(prompt: str) -> str:
    """Where the prompt itself sets its scene ("on a stormy island", "through Amsterdam"), in
    its own words; "" when it names no place."""
    for match in _PLACE.finditer(prompt):
        place = match.group("place")
        if not _NOT_PLACES.search(place) and len(place) <= 60:
            lead = place.split()[0]
            return (
                place[:1].lower() + place[1:] if lead in ("A", "An", "The", "Our", "My") else place
            )
    return ""


def derive_look(request: JobRequest, *, variant: int, clean: dict[str, str]) -> Look:
    """Choose mood, light, grade, pacing and setting from the request; `variant` breaks ties."""
    prompt, style, tone = request.subject, clean["style"], clean["tone"]
    mood = _first(_MOODS, tone, style, prompt) or Mood.UPLIFTING
    lighting = _first(_LIGHTING, style, tone, prompt) or Lighting.NATURAL
    grade = _first(_GRADES, style, tone) or _GRADE_BY_MOOD[mood]
    tempo_text = f"{clean['tempo']} {tone}"
    tempo = (
        "fast"
        if re.search(_FAST, tempo_text, re.IGNORECASE)
        else ("slow" if re.search(_SLOW, tempo_text, re.IGNORECASE) else "steady")
    )
    social = re.search(_SOCIAL, clean["platform"], re.IGNORECASE)
    if tempo == "steady" and not clean["tempo"] and social:  # a chosen "medium" stays medium
        tempo = "fast"
    setting = (
        place_in(prompt)
        or _first(_SETTINGS, prompt)
        or _DEFAULT_SETTINGS[variant % len(_DEFAULT_SETTINGS)]
    )
    platform = clean["platform"]
    visual_style = _STYLE_LOOKS.get(style.casefold(), style) or (
        "clean commercial look" if tempo != "fast" else "punchy social look"
    )
    if platform:
        visual_style = f"{visual_style}, made for {platform}"
    music = _MUSIC_BY_MOOD[mood] + {"fast": ", quick tempo", "slow": ", slow tempo"}.get(tempo, "")
    if tone and len(tone) <= 40:
        music = f"{music}, {tone.casefold()} feel"
    return Look(
        mood=mood,
        lighting=lighting,
        color_grade=grade,
        tempo=tempo,
        moves=_MOVES_BY_TEMPO[tempo],
        transition={"fast": Transition.CUT, "slow": Transition.CROSSFADE}.get(
            tempo, Transition.CROSSFADE
        ),
        setting=setting,
        visual_style=visual_style,
        framing=_FRAMING[request.aspect_ratio],
        music_style=music,
    )
