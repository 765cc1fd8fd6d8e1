"""Does a script fit its job? Rules the pydantic model cannot know, each problem naming its field.

The same rules judge the LLM's answer (and feed its repair prompt) and the offline planner's
output, so both writers are held to one standard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from pydantic import ValidationError

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.scripts import START_TIME_TOLERANCE_S, Script
from omnigen.shared.domain.text import error_message

DURATION_TOLERANCE_S: Final = 0.5
MIN_SCENE_DURATION_S: Final = 1.5
MAX_WORDS_PER_SECOND: Final = 2.8  # brisk voice-over pace (about 170 words a minute)
MIN_PROMPT_WORDS: Final = 8
MIN_PROMPT_CHARS: Final = 40

_WORD = re.compile(r"[\w'\u2019]+(?:-[\w'\u2019]+)*")
# Text a writer leaves when it did not finish the job; matched case-insensitively.
_PLACEHOLDERS: Final = (
    re.compile(r"\btbd\b|\btbc\b|\btodo\b|\bfixme\b|\bxxx+\b", re.IGNORECASE),
    re.compile(r"lorem\s+ipsum", re.IGNORECASE),
    re.compile(r"\[[^\]]*\]|\{[^}]*\}|<[^>]*>"),
    re.compile(r"\bplaceholder\b|\binsert\s+(?:\w+\s+){0,3}here\b", re.IGNORECASE),
    re.compile(r"^\W*(?P<word>n/?a|none|null|undefined|description|prompt)\W*$", re.IGNORECASE),
)
_ELLIPSIS: Final = re.compile(r"\.\.\.|…")


def count_words(text: str) -> int:
    """Spoken words, as the pace rule counts them."""
    return len(_WORD.findall(text))


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def find_placeholder(text: str, allowed: str = "") -> str | None:
    """The first placeholder-like fragment in `text` that the user did not write themselves
    (`allowed` is the request's own text: a prompt about a "TODO app" may say TODO)."""
    allowed = allowed.casefold()
    for pattern in _PLACEHOLDERS:
        for match in pattern.finditer(text):
            fragment = match.groupdict().get("word") or match.group(0).strip() or match.group(0)
            if fragment.casefold() not in allowed:
                return fragment
    return None


def request_text(request: JobRequest) -> str:
    """All text the user wrote, which a script may quote without it counting as a placeholder."""
    options = request.options.model_dump(exclude_none=True)
    return "\n".join([request.prompt or "", *(str(value) for value in options.values())])


def max_narration_words(duration_s: float) -> int:
    """The most words a scene of this length may speak at the allowed pace."""
    return int(duration_s * MAX_WORDS_PER_SECOND + 1e-9)


def script_problems(script: Script, request: JobRequest) -> list[str]:
    """Everything that makes `script` unfit for `request`; an empty list means valid."""
    problems: list[str] = []
    problems += _timing_problems(script, request)
    allowed = request_text(request)
    own_media = (
        {i for i, d in enumerate(request.script.scenes) if d.media} if request.script else set()
    )
    problems += _prompt_problems(script, allowed, own_media)
    problems += _narration_problems(script)
    problems += _text_problems(script, request, allowed)
    return problems


def given_script_problems(request: JobRequest, root: str = "script") -> list[tuple[str, str]]:
    """What is wrong with the script a request brings, as (field, message) pairs with fields
    named from the request (`script.scenes[2].narration`); empty when it has none or it is fit.
    The same rules as for a written script, so a given one renders like any other."""
    if request.script is None:
        return []
    unseen = [
        (f"{root}.scenes[{index}].generation_prompt", "required unless the scene shows your media")
        for index, draft in enumerate(request.script.scenes)
        if draft.generation_prompt is None and draft.media is None
    ]
    if unseen:
        return unseen
    try:
        script = request.script.complete(style=request.options.style)
    except ValidationError as exc:
        lines = validation_error_problems(exc, root="")
    else:
        lines = script_problems(script, request)
    pairs = []
    for line in lines:
        field, _, message = line.partition(": ")
        pairs.append((f"{root}.{field}" if field else root, message))
    return pairs


def validation_error_problems(error: ValidationError, root: str = "script") -> list[str]:
    """A pydantic error as `field.path: message` lines, in the same shape as `script_problems`."""
    problems = []
    for item in error.errors(include_url=False):
        path = _field_path(item["loc"]) or root
        message = error_message(item).removeprefix("Value error, ")
        problems.append(f"{path}: {message}")
    return problems


def _field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _timing_problems(script: Script, request: JobRequest) -> list[str]:
    problems = []
    total = script.total_duration
    if abs(total - request.duration) > DURATION_TOLERANCE_S:
        problems.append(
            f"scenes: durations add up to {total:.2f} s but the video is {request.duration} s "
            f"(tolerance {DURATION_TOLERANCE_S} s)"
        )
    expected_start = 0.0
    for index, scene in enumerate(script.scenes):
        field = f"scenes[{index}]"
        if scene.scene_number != index + 1:
            problems.append(f"{field}.scene_number: must be {index + 1}, got {scene.scene_number}")
        if abs(scene.start_time - expected_start) > START_TIME_TOLERANCE_S:
            problems.append(
                f"{field}.start_time: must be {expected_start:.2f} (where the previous scene "
                f"ends), got {scene.start_time}"
            )
        if scene.duration < MIN_SCENE_DURATION_S:
            problems.append(
                f"{field}.duration: {scene.duration} s is shorter than the "
                f"{MIN_SCENE_DURATION_S} s minimum"
            )
        expected_start += scene.duration
    return problems


def _prompt_problems(script: Script, allowed: str, own_media: set[int]) -> list[str]:
    """A generated scene's description must describe a shot; a scene that shows the user's own
    media (the indexes in `own_media`) is not generated from it, so it is not judged."""
    problems = []
    seen: dict[str, int] = {}
    for index, scene in enumerate(script.scenes):
        if index in own_media:
            continue
        field = f"scenes[{index}].generation_prompt"
        prompt = scene.generation_prompt.strip()
        placeholder = find_placeholder(prompt, allowed) or _ellipsis(prompt, allowed)
        if placeholder:
            problems.append(f"{field}: contains placeholder text {placeholder!r}")
        n_words = count_words(prompt)
        if n_words < MIN_PROMPT_WORDS or len(prompt) < MIN_PROMPT_CHARS:
            problems.append(
                f"{field}: too short to describe a shot ({n_words} words; at least "
                f"{MIN_PROMPT_WORDS} words and {MIN_PROMPT_CHARS} characters)"
            )
        key = " ".join(words(prompt))
        if key in seen:
            problems.append(f"{field}: identical to scenes[{seen[key]}].generation_prompt")
        seen.setdefault(key, index)
    return problems


def _narration_problems(script: Script) -> list[str]:
    problems = []
    for index, scene in enumerate(script.scenes):
        n_words = count_words(scene.narration)
        limit = max_narration_words(scene.duration)
        if n_words > limit:
            problems.append(
                f"scenes[{index}].narration: {n_words} words do not fit {scene.duration} s "
                f"(at most {MAX_WORDS_PER_SECOND} words/s, so {limit} words)"
            )
    spoken = [w for scene in script.scenes for w in words(scene.narration)]
    if not spoken:
        problems.append("scenes: no scene has narration; at least one must speak")
    voiceover = words(script.audio_spec.voiceover_text)
    if voiceover != spoken:
        at = next(
            (i for i, (a, b) in enumerate(zip(voiceover, spoken, strict=False)) if a != b),
            min(len(voiceover), len(spoken)),
        )
        problems.append(
            "audio_spec.voiceover_text: must be the scenes' narration in order; it differs "
            f"from word {at + 1} ({len(voiceover)} words vs {len(spoken)} in the scenes)"
        )
    return problems


def _text_problems(script: Script, request: JobRequest, allowed: str) -> list[str]:
    fields: list[tuple[str, str]] = [("title", script.title)]
    for index, scene in enumerate(script.scenes):
        for name in ("location", "action", "visual_style", "narration"):
            fields.append((f"scenes[{index}].{name}", getattr(scene, name)))
    fields.append(("audio_spec.music_style", script.audio_spec.music_style))
    problems = [
        f"{field}: contains placeholder text {found!r}"
        for field, text in fields
        if (found := find_placeholder(text, allowed))
    ]
    if not script.title.strip():
        problems.append("title: is blank")
    if request.options.call_to_action and not script.metadata.call_to_action.strip():
        problems.append("metadata.call_to_action: blank although the job asks for one")
    return problems


def _ellipsis(text: str, allowed: str) -> str | None:
    """An ellipsis marks an unfinished visual description, unless the user wrote one too."""
    match = _ELLIPSIS.search(text)
    return match.group(0) if match and match.group(0) not in allowed else None
