"""Offline script writer: a deterministic plan from the prompt and options, valid by construction,
so the whole pipeline runs with no API key. Same request in, same script out."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from omnigen.scripter.planner_look import Look, derive_look
from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.shared.domain.script_rules import count_words, max_narration_words, words
from omnigen.shared.domain.scripts import (
    AudioSpec,
    CameraAngle,
    CameraMove,
    Scene,
    Script,
    ScriptMetadata,
    ShotType,
    Transition,
)

SUBJECT_MAX_WORDS: Final = 6
SUBJECT_MAX_CHARS: Final = 60
FALLBACK_SUBJECT: Final = "this idea"


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ASK = re.compile(
    r"^\s*(?:please\s+)?(?:(?:create|make|generate|produce|write|build|render|design)\s+"
    r"(?:me\s+)?)?(?:(?:a|an|the)\s+)?(?:[\w-]+\s+){0,2}?(?:video|clip|ad|advert|advertisement|"
    r"promo|commercial|film|reel|spot|trailer)\s+(?:about|for|of|on|showing|featuring|"
    r"that\s+shows|where|with)\s+",
    re.IGNORECASE,
)
_VERB = re.compile(
    r"^\s*(?:please\s+)?(?:create|make|generate|produce|write|build|render|design|show)\s+"
    r"(?:me\s+)?",
    re.IGNORECASE,
)
# Words where a long first clause can be cut without leaving half a phrase.
_JOINERS: Final = _word_set(
    "in on at with for from during while that which who where when to into by and or as"
)
_ARTICLES: Final = frozenset({"a", "an", "the", "of", "our", "your", "my", "its"})
_MOVES: Final = {
    CameraMove.STATIC: "locked off and still",
    CameraMove.PAN_LEFT: "a slow pan to the left",
    CameraMove.PAN_RIGHT: "a slow pan to the right",
    CameraMove.TILT_UP: "a gentle tilt up",
    CameraMove.TILT_DOWN: "a gentle tilt down",
    CameraMove.DOLLY_IN: "a slow dolly in",
    CameraMove.DOLLY_OUT: "a slow dolly out",
    CameraMove.TRACKING: "a smooth tracking move alongside the action",
    CameraMove.CRANE: "a rising crane move",
    CameraMove.HANDHELD: "handheld, close to the action",
}
_STOPWORDS: Final = _word_set(
    "about after also and are but can for from has have into its just like make more our over "
    "please that the their them then there these they this those video very what when with "
    "your you will which while create short clip second seconds"
)


@dataclass(frozen=True)
class _Beat:
    """One scene's role in the story: what we see, how it is framed, and lines to say."""

    action: str
    shots: dict[AspectRatio, ShotType]
    angle: CameraAngle
    lines: tuple[str, ...]  # longest first; the first that fits the scene is spoken


def _shots(
    landscape: ShotType, portrait: ShotType, square: ShotType
) -> dict[AspectRatio, ShotType]:
    return {
        AspectRatio.LANDSCAPE: landscape,
        AspectRatio.PORTRAIT: portrait,
        AspectRatio.SQUARE: square,
    }


_HOOK = _Beat(
    "an arresting opening reveal of {subject}",
    _shots(ShotType.EXTREME_WIDE, ShotType.CLOSE_UP, ShotType.MEDIUM),
    CameraAngle.LOW,
    ("Meet {subject}, made for {audience}.", "Meet {subject}.", "Take a look."),
)
_CONTEXT = _Beat(
    "an ordinary moment just before {subject} arrives, a small everyday frustration",
    _shots(ShotType.MEDIUM, ShotType.MEDIUM, ShotType.MEDIUM),
    CameraAngle.EYE_LEVEL,
    ("Every day starts with the same small frustration.", "Sound familiar?"),
)
_SHOWCASE = _Beat(
    "{subject} in use, shown clearly from its best side",
    _shots(ShotType.MEDIUM, ShotType.MEDIUM, ShotType.MEDIUM),
    CameraAngle.EYE_LEVEL,
    ("This is {subject}, doing exactly what it promises.", "This is {subject}.", "See it work."),
)
_DETAIL = _Beat(
    "close detail of {subject}: texture, craft and the small touches",
    _shots(ShotType.CLOSE_UP, ShotType.EXTREME_CLOSE_UP, ShotType.CLOSE_UP),
    CameraAngle.HIGH,
    ("{detail_line}", "Details matter."),
)
_BENEFIT = _Beat(
    "people enjoying what {subject} brings, relaxed and smiling together",
    _shots(ShotType.WIDE, ShotType.MEDIUM, ShotType.MEDIUM),
    CameraAngle.EYE_LEVEL,
    ("The result is more time for what matters.", "Feel the difference."),
)
_CALL = _Beat(
    "a final hero shot of {subject} with clean space for the closing message",
    _shots(ShotType.MEDIUM, ShotType.CLOSE_UP, ShotType.CLOSE_UP),
    CameraAngle.LOW,
    ("{cta}", "{default_cta}", "Try it today."),
)
_STORY: Final = {
    3: (_HOOK, _SHOWCASE, _CALL),
    4: (_HOOK, _CONTEXT, _SHOWCASE, _CALL),
    5: (_HOOK, _CONTEXT, _SHOWCASE, _DETAIL, _CALL),
    6: (_HOOK, _CONTEXT, _SHOWCASE, _DETAIL, _BENEFIT, _CALL),
}
_GOAL_CTAS: Final = (
    (r"sale|sell|buy|order|purchase|convert", "Order yours today."),
    (r"sign.?up|subscri|register|join", "Sign up today."),
    (r"download|install|app", "Download it today."),
    (r"aware|brand|launch|announce", "Discover it today."),
)


class OfflinePlanner:
    """The ScriptWriter used when no model is configured."""

    async def write(self, request: JobRequest) -> Script:
        return plan_script(request)

    async def aclose(self) -> None:
        return None


def plan_script(request: JobRequest) -> Script:
    """Build the script for `request`; pure and deterministic."""
    variant = int(hashlib.sha256(request.fingerprint().encode()).hexdigest()[:8], 16)
    clean = {
        name: clean_text(getattr(request.options, name) or "")
        for name in ("style", "tone", "tempo", "platform", "audience", "goal", "call_to_action")
    }
    look = derive_look(request, variant=variant, clean=clean)
    subject = extract_subject(request.subject)
    default_cta = _default_cta(clean["goal"])
    slots = {
        "subject": subject,
        "audience": clean["audience"],
        "cta": clean["call_to_action"],
        "default_cta": default_cta,
        "detail_line": "This is how it works, step by step."
        if re.search(r"educat|explain|teach|learn|how", clean["goal"], re.IGNORECASE)
        else "Every detail is designed with care.",
    }
    beats = _STORY[_scene_count(request.duration, look.tempo)]
    durations = _split(request.duration, len(beats))
    scenes: list[Scene] = []
    start = 0.0
    for index, (beat, duration) in enumerate(zip(beats, durations, strict=True)):
        scenes.append(_scene(index, beat, start, duration, look, slots, request, variant))
        start = round(start + duration, 2)
    narration = " ".join(scene.narration for scene in scenes if scene.narration)
    return Script(
        title=subject[:1].upper() + subject[1:],
        scenes=scenes,
        audio_spec=AudioSpec(
            music_mood=look.mood, music_style=look.music_style, voiceover_text=narration
        ),
        metadata=ScriptMetadata(
            product=subject,
            audience=clean["audience"] or "general audience",
            call_to_action=clean["call_to_action"] or default_cta,
            keywords=_keywords(request.subject, look),
        ),
    )


def clean_text(text: str) -> str:
    """User text made safe to splice into sentences: no brackets, no ellipses, no dangling
    punctuation, single spaces."""
    text = re.sub(r"[\[\]{}<>]", " ", text)
    text = re.sub(r"\.{2,}|…", " ", text)
    text = " ".join(text.split())
    return text.strip(" .,;:!?'\"-\u2013\u2014")


def extract_subject(prompt: str) -> str:
    """What the video is about, in a few words: the first clause, minus the request wording."""
    text = clean_text(re.sub(r"\([^)]*\)", " ", prompt))
    clause = next((part for part in re.split(r"[.!?;:\n]", text) if words(part)), "")
    head = re.split(r",|\s[-\u2013\u2014]\s|\(", clause, maxsplit=1)[0]
    clause = head if len(words(head)) >= 2 else clause
    for pattern in (_ASK, _VERB):
        stripped = pattern.sub("", clause, count=1)
        if words(stripped):
            clause = stripped
            break
    tokens = clause.split()
    cut = next(
        (i for i, token in enumerate(tokens) if i >= 2 and token.casefold() in _JOINERS),
        len(tokens),
    )
    subject = ""
    for token in tokens[:cut]:
        candidate = f"{subject} {token}".strip()
        if count_words(candidate) > SUBJECT_MAX_WORDS or len(candidate) > SUBJECT_MAX_CHARS:
            break
        subject = candidate
    kept = subject.split()
    while len(kept) > 1 and kept[-1].casefold() in _JOINERS | _ARTICLES:
        kept.pop()
    subject = clean_text(" ".join(kept))
    return subject if words(subject) else FALLBACK_SUBJECT


def _scene_count(duration: int, tempo: str) -> int:
    base = 3 if duration < 15 else 4 if duration < 25 else 5 if duration < 40 else 6
    base += {"fast": 1, "slow": -1}.get(tempo, 0)
    return min(6, max(3, base))


def _split(duration: int, count: int) -> list[float]:
    """Near-equal scene lengths in hundredths of a second that add up exactly."""
    total = duration * 100
    base, extra = divmod(total, count)
    return [(base + (1 if i < extra else 0)) / 100 for i in range(count)]


def _scene(
    index: int,
    beat: _Beat,
    start: float,
    duration: float,
    look: Look,
    slots: dict[str, str],
    request: JobRequest,
    variant: int,
) -> Scene:
    action = beat.action.format(subject=slots["subject"])
    shot = beat.shots[request.aspect_ratio]
    move = look.moves[(index + variant) % len(look.moves)]
    angle = _words(beat.angle)
    prompt = (
        f"{_words(shot)} shot from {_article(angle)} {angle} angle of {action}, set in "
        f"{look.setting}. {_words(look.lighting).capitalize()} lighting, "
        f"{_words(look.color_grade)} colour grade, {look.mood.value} mood, {look.visual_style}. "
        f"Camera: {_MOVES[move]}; {look.framing}."
    )
    if index == 0 and request.options.start_image_key:
        prompt += " The shot opens on the supplied start image."
    return Scene(
        scene_number=index + 1,
        start_time=start,
        duration=duration,
        location=look.setting,
        action=action,
        shot_type=shot,
        camera_angle=beat.angle,
        camera_move=move,
        lighting=look.lighting,
        color_grade=look.color_grade,
        mood=look.mood,
        visual_style=look.visual_style,
        transition_in=Transition.FADE if index == 0 else look.transition,
        generation_prompt=prompt[:1].upper() + prompt[1:],
        narration=_line(beat.lines, slots, max_narration_words(duration)),
    )


def _line(lines: tuple[str, ...], slots: dict[str, str], budget: int) -> str:
    """The longest of the beat's lines whose slots are filled and that fits the word budget."""
    for template in lines:
        needed = re.findall(r"{(\w+)}", template)
        if any(not slots[name] for name in needed):
            continue
        line = template.format(**slots)
        line = line if line[-1:] in ".!?" else f"{line}."
        if count_words(line) <= budget:
            return line
    return ""


def _default_cta(goal: str) -> str:
    for pattern, cta in _GOAL_CTAS:
        if re.search(pattern, goal, re.IGNORECASE):
            return cta
    return "Find out more today."


def _keywords(prompt: str, look: Look) -> list[str]:
    found: list[str] = []
    for word in words(prompt):
        if len(word) >= 4 and word not in _STOPWORDS and word[:40] not in found:
            found.append(word[:40])
        if len(found) == 8:
            break
    return [*found, look.mood.value]


def _article(word: str) -> str:
    return "an" if word[:1].casefold() in "aeiou" else "a"


def _words(value: str) -> str:
    return value.replace("_", " ")
