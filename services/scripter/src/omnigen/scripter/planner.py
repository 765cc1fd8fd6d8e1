"""Offline script writer: a deterministic plan from the prompt and options, valid by construction,
so the whole pipeline runs with no API key. Same request in, same script out.

The prompt is read for its kind of video (planner_prompt), each kind has its beats (an opening,
middles, a close), every line is built from the user's own words or says nothing factual, and
scene lengths are shared out so that each line fits its scene at the speaking pace.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from omnigen.scripter.planner_look import Look, derive_look
from omnigen.scripter.planner_prompt import (
    FALLBACK_TOPIC,
    NUMBER_WORDS_MORE,
    Kind,
    Reading,
    is_clause,
    mid_sentence,
    phrase,
    read_prompt,
    sentence_case,
    shortened,
    tidy,
    without_place,
)
from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.shared.domain.script_rules import (
    MAX_WORDS_PER_SECOND,
    MIN_SCENE_DURATION_S,
    count_words,
    words,
)
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

TITLE_MAX_CHARS: Final = 100


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
class _Frame:
    shots: dict[AspectRatio, ShotType]
    angle: CameraAngle


def _frame(landscape: ShotType, portrait: ShotType, square: ShotType, angle: CameraAngle) -> _Frame:
    shots = {AspectRatio.LANDSCAPE: landscape, AspectRatio.PORTRAIT: portrait}
    return _Frame({**shots, AspectRatio.SQUARE: square}, angle)


_OPEN: Final = _frame(ShotType.EXTREME_WIDE, ShotType.CLOSE_UP, ShotType.MEDIUM, CameraAngle.LOW)
_MIDDLE: Final = _frame(ShotType.MEDIUM, ShotType.MEDIUM, ShotType.MEDIUM, CameraAngle.EYE_LEVEL)
_DETAIL: Final = _frame(
    ShotType.CLOSE_UP, ShotType.EXTREME_CLOSE_UP, ShotType.CLOSE_UP, CameraAngle.HIGH
)
_WIDE: Final = _frame(ShotType.WIDE, ShotType.MEDIUM, ShotType.MEDIUM, CameraAngle.EYE_LEVEL)
_CLOSE: Final = _frame(ShotType.MEDIUM, ShotType.CLOSE_UP, ShotType.CLOSE_UP, CameraAngle.LOW)
_MIDDLE_FRAMES: Final = (_MIDDLE, _DETAIL, _WIDE)


@dataclass(frozen=True)
class _Part:
    """One scene's beat: what we see, and the lines that may be said, preferred first (the
    planner falls back along them when the scene is too short)."""

    action: str
    lines: tuple[str, ...]
    priority: int = 3  # when time is short, lower priorities give up their words first
    group: str = ""  # parts of a group (a list's items) fall back together, to read alike


# Lines that say nothing about the topic, for beats the prompt gives no words for.
_FILLERS: Final = {
    Kind.ADVERT: ("See it in action.", "Take a closer look.", "Every detail, up close."),
    Kind.STORY: ("Then, everything changes.", "Then comes the moment of truth.", "Watch closely."),
    Kind.LIST: ("Here is the first one.", "Here is the next one.", "And one more."),
    Kind.EXPLAINER: ("First, the basics.", "Then, the key step.", "Then, how it fits together."),
    Kind.ANNOUNCEMENT: ("Tell your friends.", "Don't miss it."),
    Kind.QUOTE: ("Let that sink in.", "Read it again.", "Take it with you."),
    Kind.SCENE: ("Take it all in.", "Stay a while.", "Breathe."),
}
_MOTIVATION: Final = ("Keep going.", "One step at a time.", "You've got this.")
MAX_FILLERS: Final = 2
_FILLER_SHOTS: Final = (
    "seen from a new angle",
    "in a quiet moment between beats",
    "with the focus pulled to a small detail",
    "seen wide, with room to breathe",
)
_STEP_WORDS: Final = ("First", "Next", "Then", "After that", "Then")
_GOAL_CTAS: Final = (
    (r"sale|sell|buy|order|purchase|convert", "Order yours today."),
    (r"sign.?up|subscri|register|join", "Sign up today."),
    (r"engag|comment|share|follow", "Tell us what you think in the comments."),
    (r"aware|brand|launch|announce", "Find out more."),
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
    clean = {name: _option(request, name) for name in _OPTION_NAMES}
    look = derive_look(request, variant=variant, clean=clean)
    reading = read_prompt(request.subject)
    cta = _closing_line(clean, reading.kind)
    count = _scene_count(request.duration, look.tempo, reading)
    parts = _parts(reading, count, audience=clean["audience"], cta=cta)
    lines, durations = _fit(parts, request.duration)
    scenes: list[Scene] = []
    start = 0.0
    for index, (part, line, duration) in enumerate(zip(parts, lines, durations, strict=True)):
        scenes.append(_scene(index, part, line, start, duration, look, request, variant))
        start = round(start + duration, 2)
    narration = " ".join(scene.narration for scene in scenes if scene.narration)
    return Script(
        title=_title(clean["title"], reading),
        scenes=scenes,
        audio_spec=AudioSpec(
            music_mood=look.mood, music_style=look.music_style, voiceover_text=narration
        ),
        metadata=ScriptMetadata(
            product=subject_of(reading)[:300],
            audience=clean["audience"][:300] or "general audience",
            call_to_action=(clean["call_to_action"] or cta.rstrip(".") or "Find out more")[:300],
            keywords=_keywords(request.subject, look),
        ),
    )


_OPTION_NAMES: Final = (
    "style", "tone", "tempo", "platform", "audience", "goal", "call_to_action", "title",
)  # fmt: skip


def _option(request: JobRequest, name: str) -> str:
    """An option as plain text, whether it is free text or a closed enum (or not there yet)."""
    value = getattr(request.options, name, None)
    return clean_text(str(getattr(value, "value", value))) if value is not None else ""


def clean_text(text: str) -> str:
    """User text made safe to splice into sentences (see `planner_prompt.tidy`)."""
    return tidy(text)


def extract_subject(prompt: str) -> str:
    """What the video is about, in the user's words, without the wording that asks for it (for
    an advert: what it sells)."""
    return subject_of(read_prompt(prompt))


def subject_of(reading: Reading) -> str:
    introduced = _introduced(reading)
    if introduced:
        return introduced
    if reading.kind is Kind.ADVERT and not reading.topic_is_clause:
        return without_place(_relative(reading.topic)[0])
    return reading.topic


def _title(title_option: str, reading: Reading) -> str:
    title = title_option or sentence_case(subject_of(reading))
    if not title_option and reading.kind is Kind.QUOTE and reading.items:
        title = shortened(reading.items[0], 8) or title
    if len(title) > TITLE_MAX_CHARS:
        title = shortened(title, 12) or title[:TITLE_MAX_CHARS].rsplit(" ", 1)[0]
    return title


def _closing_line(clean: dict[str, str], kind: Kind) -> str:
    """The call to action the video ends on: the user's own, else one for their goal, else an
    advert's default; "" when nothing asks for one."""
    if clean["call_to_action"]:
        return _sentence(clean["call_to_action"])
    for pattern, line in _GOAL_CTAS:
        if clean["goal"] and re.search(pattern, clean["goal"], re.IGNORECASE):
            return line if kind in (Kind.ADVERT, Kind.ANNOUNCEMENT) or "Order" not in line else ""
    return "Find out more today." if kind is Kind.ADVERT else ""


def _scene_count(duration: int, tempo: str, reading: Reading) -> int:
    base = 3 if duration < 15 else 4 if duration < 25 else 5 if duration < 40 else 6
    base += {"fast": 1, "slow": -1}.get(tempo, 0)
    if reading.kind in (Kind.LIST, Kind.EXPLAINER) and (reading.items or reading.count):
        base = len(reading.items or range(reading.count or 0)) + 2
    if reading.kind is Kind.STORY and reading.details:
        base = min(base, len(reading.details) + 1)  # one scene per event the user tells
    most = 6 if duration >= 20 else 5 if duration >= 15 else 4
    return min(most, max(3, base))


Lines = tuple[str, ...]
_Beats = tuple[Lines, list[_Part], Lines]  # the opening's lines, the middles, the ending's lines


def _parts(reading: Reading, count: int, *, audience: str, cta: str) -> list[_Part]:
    """The opening, the middles and the close for this kind of video, `count` parts in all."""
    slots = count - 2
    beats = _KIND_BEATS.get(reading.kind, _scene_beats)
    opening, middles, ending = beats(reading, slots, audience)
    middles = (middles + _filler_parts(reading, slots))[:slots]
    topic = reading.topic
    quoted = reading.kind is Kind.QUOTE and reading.items
    shown = reading.items[0] if quoted else mid_sentence(topic)
    first = _Part(f"{shown}, as the video opens", _with_short(opening, topic), 2)
    last = _Part(
        f"{shown}, as the video closes, with space for the final words",
        _with_cta(ending, cta),
        3 if cta else 0,
    )
    return [first, *middles, last]


def _list_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    mid = reading.mid
    ending: Lines = (f"Those were {_the(mid)}.",) if mid and _plural_head(reading) else ()
    return _list_opening(reading), list(_list_middles(reading, slots)), ending


def _explainer_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    opening, ending = _explainer_lines(reading.topic, reading.mid)
    steps = [
        _Part(f"step {i + 1}: {step}", (f"{_STEP_WORDS[min(i, 4)]}, {_item(step)}.",), 4, "steps")
        for i, step in enumerate(reading.items)
    ]
    if len(steps) > 1:
        last = reading.items[-1]
        steps[-1] = _Part(f"the last step: {last}", (f"Finally, {_item(last)}.",), 4, "steps")
    return opening, _chunk_parts(steps, slots) + _detail_parts(reading), ending


def _story_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    """Beginning, turn and end: the user's own events when the prompt tells them."""
    topic, mid = reading.topic, reading.mid
    told = not reading.topic_is_clause and bool(mid)
    opening: Lines = (f"This is the story of {mid}.",) if told else ()
    opening += (f"{sentence_case(topic)}.",)
    events = _detail_parts(reading)
    if events:
        return opening, events[:-1], events[-1].lines
    return opening, [], (f"That was {mid}.",) if told else ("And that is how it ends.",)


def _announcement_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    topic, mid = reading.topic, reading.mid
    opening: Lines = (f"Big news: {mid}.",) if mid else ()
    if mid and reading.asked == "celebrate":
        opening = (f"Celebrating {mid}.",)
    if mid and not reading.topic_is_clause:
        opening += (f"Announcing {mid}.",)
    opening += (f"{sentence_case(topic)}.",)
    event = re.search(r"open|festival|event|party|fair|concert|save the date", topic, re.I)
    return opening, _detail_parts(reading), ("See you there.",) if event else ("Spread the word.",)


def _quote_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    quote = [_Part(q, (_sentence(q),), 4) for i, q in enumerate(reading.items)]
    opening = quote[0].lines if quote else (f"{sentence_case(reading.topic)}.",)
    ending: Lines = (f"Words by {reading.author}.",) if reading.author else ()
    ending += ("Words worth remembering.",) if quote else ("This is your sign.",)
    return opening, quote[1:] + _detail_parts(reading), ending


def _advert_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    opening, middles = _advert_lines(reading, audience)
    return opening, middles, ()


def _scene_beats(reading: Reading, slots: int, audience: str) -> _Beats:
    return (f"{sentence_case(reading.topic)}.",), _detail_parts(reading), ("Stay a while.",)


_KIND_BEATS: Final = {
    Kind.LIST: _list_beats,
    Kind.EXPLAINER: _explainer_beats,
    Kind.STORY: _story_beats,
    Kind.ANNOUNCEMENT: _announcement_beats,
    Kind.QUOTE: _quote_beats,
    Kind.ADVERT: _advert_beats,
    Kind.SCENE: _scene_beats,
}


def _list_opening(reading: Reading) -> tuple[str, ...]:
    lines = [f"Here are {_the(reading.mid)}."] if reading.mid and _plural_head(reading) else []
    return (*lines, f"{sentence_case(reading.topic)}.")


def _the(mid: str) -> str:
    """ "top 3 mistakes" reads "the top 3 mistakes" after other words."""
    return f"the {mid}" if mid.startswith("top ") else mid


def _plural_head(reading: Reading) -> bool:
    first = reading.topic.split()[0].casefold()
    return (
        bool(reading.unit)
        and (reading.count is not None or first in ("top", "the", f"{reading.unit}s"))
        and first not in ("a", "an", "one", "1")
    )


def _list_middles(reading: Reading, slots: int) -> Iterator[_Part]:
    total = len(reading.items) or reading.count or 0
    if total == 0 or slots <= 0:
        yield from _detail_parts(reading)
        return
    groups = _groups(total, slots)
    label = (reading.unit or "number").capitalize()
    for index, group in enumerate(groups):
        numbers = [NUMBER_WORDS_MORE[n] if n < len(NUMBER_WORDS_MORE) else str(n) for n in group]
        finally_ = "And finally, " if index == len(groups) - 1 and index > 0 else ""
        if reading.items:
            said = " ".join(
                f"{label} {number}: {_item(reading.items[n - 1])}."
                for n, number in zip(group, numbers, strict=True)
            )
            bare = " ".join(_sentence(reading.items[n - 1]) for n in group)
            lines: tuple[str, ...] = (said, bare, _numbers_line(label, numbers, finally_))
            shown = ": " + "; ".join(reading.items[n - 1] for n in group)
        else:
            lines = (_numbers_line(label, numbers, finally_), _numbers_line(label, numbers, ""))
            shown = f" of {mid_sentence(reading.topic)}"
        yield _Part(f"{label.lower()} {', '.join(numbers)}{shown}", lines, 4, "items")
    yield from _detail_parts(reading)


def _numbers_line(label: str, numbers: list[str], lead: str) -> str:
    if len(numbers) == 1:
        said = f"{label.lower() if lead else label} {numbers[0]}"
    else:
        joined = " and " if len(numbers) == 2 else " to "
        plural = label if label == "Number" else f"{label}s"
        said = f"{plural.lower() if lead else plural} {numbers[0]}{joined}{numbers[-1]}"
        if label == "Number":
            said = f"{'numbers' if lead else 'Numbers'} {numbers[0]}{joined}{numbers[-1]}"
    return f"{lead}{said}."


def _groups(total: int, slots: int) -> list[list[int]]:
    """Numbers 1..total shared out over at most `slots` scenes, in order, as evenly as can be."""
    slots = min(slots, total)
    base, extra = divmod(total, slots)
    groups, start = [], 1
    for index in range(slots):
        size = base + (1 if index < extra else 0)
        groups.append(list(range(start, start + size)))
        start += size
    return groups


def _chunk_parts(parts: list[_Part], slots: int) -> list[_Part]:
    """`parts` merged into at most `slots` parts, neighbours joined, so none is left out."""
    if slots <= 0 or len(parts) <= slots:
        return parts
    merged = []
    for group in _groups(len(parts), slots):
        chosen = [parts[n - 1] for n in group]
        merged.append(
            _Part(
                "; ".join(p.action for p in chosen),
                (" ".join(p.lines[0] for p in chosen), chosen[0].lines[0]),
                4,
                "steps",
            )
        )
    return merged


def _explainer_lines(topic: str, mid: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The opening and the recap of an explainer, by the shape of its topic."""
    question = re.match(r"^(how|why|what|when|where)\s+(does|do|is|are)\s+(.+)$", topic, re.I)
    if question:
        wh, aux, rest = question.groups()
        known = _known(wh.lower(), aux.lower(), rest)
        opening = (f"{sentence_case(topic)}?",)
        return opening, (
            *((f"Now you know {known}.",) if known else ()),
            f"Now you know {wh.lower()}.",
        )
    if re.match(r"^(how|why|what|when|where)\b", topic, re.I):
        lowered = mid_sentence(topic)
        return (f"Here is {lowered}.", f"{sentence_case(topic)}."), (f"Now you know {lowered}.",)
    recap = (f"That was {mid}, explained.",) if mid else ()
    return (f"{sentence_case(topic)}, explained.",), recap


def _known(wh: str, aux: str, rest: str) -> str:
    """ "how does yeast work" -> "how yeast works"; "what is a black hole" -> "what a black hole
    is"; "" when it cannot be turned around with confidence."""
    tokens = rest.split()
    if aux in ("is", "are"):
        if wh in ("what", "who"):
            return f"{wh} {rest} {aux}"
        # "why is the sky blue" -> "why the sky is blue"; longer ones are left alone
        short = wh in ("why", "how") and 2 <= len(tokens) <= 3 and tokens[-1].islower()
        return f"{wh} {' '.join(tokens[:-1])} {aux} {tokens[-1]}" if short else ""
    if len(tokens) >= 2 and tokens[-1].isalpha():
        verb = tokens[-1] + ("s" if aux == "does" and not tokens[-1].endswith("s") else "")
        return f"{wh} {' '.join(tokens[:-1])} {verb}"
    return ""


def _advert_lines(reading: Reading, audience: str) -> tuple[tuple[str, ...], list[_Part]]:
    topic = reading.topic
    if reading.topic_is_clause:
        return (f"{sentence_case(topic)}.",), _detail_parts(reading)
    product, relative = _relative(topic)
    product = without_place(product)
    mid = reading.mid and mid_sentence(product)
    if _introduced(reading):  # the prompt sets the scene, then introduces its product itself
        mid, product = "", topic
    opening: tuple[str, ...] = ()
    if mid and audience:
        opening += (f"Introducing {mid}, made for {_lower(audience)}.",)
    if mid:
        opening += (f"Introducing {mid}.",)
    opening += (f"{sentence_case(product)}.",)
    middles = [_Part(f"{product} in use, shown clearly", (relative,))] if relative else []
    return opening, middles + _detail_parts(reading)


def _introduced(reading: Reading) -> str:
    """What a prompt introduces after setting the scene ("..., introducing our oat latte")."""
    for detail in reading.details:
        if detail.casefold().startswith("introducing ") and len(detail.split()) >= 2:
            return phrase(detail.split(None, 1)[1])
    return ""


def _relative(topic: str) -> tuple[str, str]:
    """ "a shoe that grips wet rock" -> ("a shoe", "It grips wet rock.")."""
    match = re.match(r"^(.+?)\s+(?:that|which)\s+(.+)$", topic)
    if not match or len(words(match.group(1))) < 1 or len(words(match.group(2))) < 2:
        return topic, ""
    product, rest = match.groups()
    verb = rest.split()[0].casefold()
    if verb in ("is", "has", "was", "does") or (verb.endswith("s") and not verb.endswith("ss")):
        pronoun = "It"
    elif verb in ("are", "have", "were", "do"):
        pronoun = "They"
    else:
        last = product.split()[-1].casefold()
        pronoun = "They" if last.endswith("s") and not last.endswith("ss") else "It"
        modal = verb in ("will", "can", "could", "would", "may", "might", "should", "must")
        if not modal and pronoun == "It":
            return topic, ""  # "a kit that grip" cannot be turned into a sentence safely
    return phrase(product) or topic, f"{pronoun} {rest}."


def _detail_parts(reading: Reading) -> list[_Part]:
    return [_Part(detail, (_sentence(detail),)) for detail in reading.details]


def _filler_parts(reading: Reading, slots: int) -> list[_Part]:
    """Beats the prompt gives no words for: at most `MAX_FILLERS` say a line that claims
    nothing, the rest are silent (music and picture), so nothing is padded with talk."""
    kind = reading.kind
    fillers = _MOTIVATION if kind is Kind.QUOTE and not reading.items else _FILLERS[kind]
    most = 1 if kind is Kind.SCENE else MAX_FILLERS
    if kind is Kind.STORY and reading.details:
        most = 0  # a turn of phrase between the user's own events would invent one
    lines: list[Lines] = [(line, "") for line in fillers[:most]]
    lines += [()] * max(0, slots - len(lines))
    return [
        _Part(f"{mid_sentence(reading.topic)}, {_FILLER_SHOTS[i % len(_FILLER_SHOTS)]}", said, 0)
        for i, said in enumerate(lines[:slots])
    ]


def _with_short(lines: tuple[str, ...], topic: str) -> tuple[str, ...]:
    """`lines`, then the topic cut at a phrase boundary, for a scene too short for them."""
    shorter = [shortened(topic, n) for n in (8, 5, 3)]
    return tuple(dict.fromkeys([*lines, *(f"{sentence_case(s)}." for s in shorter if s)]))


def _with_cta(ending: tuple[str, ...], cta: str) -> tuple[str, ...]:
    if not cta:
        return (*ending, "")
    return tuple(dict.fromkeys([*(f"{line} {cta}" for line in ending[:1]), cta, *ending]))


def _fit(parts: list[_Part], duration: int) -> tuple[list[str], list[float]]:
    """Each part's line and the scene lengths: the preferred lines when the video is long enough
    for all of them at the speaking pace, else the lowest-priority parts fall back to shorter
    lines (or silence) first; lengths in hundredths of a second that add up exactly, each scene
    at least its share's floor, every line distinct."""
    choice = [0] * len(parts)
    floor = math.ceil(max(MIN_SCENE_DURATION_S, duration / len(parts) * 0.5) * 100)

    def line(i: int) -> str:
        return parts[i].lines[choice[i]] if choice[i] < len(parts[i].lines) else ""

    def need(text: str) -> int:
        return max(floor, math.ceil(count_words(text) / MAX_WORDS_PER_SECOND * 100))

    while True:
        said = [line(i) for i in range(len(parts))]
        repeated = next((i for i, text in enumerate(said) if text and text in said[:i]), None)
        if repeated is not None:
            choice[repeated] += 1
            continue
        needs = [need(text) for text in said]
        if sum(needs) <= duration * 100:
            break
        speaking = sum(1 for text in said if text)
        gains = {
            i: needs[i] - need(parts[i].lines[choice[i] + 1])
            for i, text in enumerate(said)
            if text
            and choice[i] + 1 < len(parts[i].lines)
            and (speaking > 1 or parts[i].lines[choice[i] + 1])
        }
        if not any(gain > 0 for gain in gains.values()):
            said, needs = _silenced(said, floor, need)
            break
        chosen = min(gains, key=lambda i: (gains[i] <= 0, parts[i].priority, -needs[i], i))
        group = parts[chosen].group
        for i, part in enumerate(parts):
            same = group and part.group == group and choice[i] == choice[chosen]
            if i != chosen and same and choice[i] + 1 < len(part.lines):
                choice[i] += 1
        choice[chosen] += 1
    spare = duration * 100 - sum(needs)
    base, extra = divmod(spare, len(parts))
    hundredths = [n + base + (1 if i < extra else 0) for i, n in enumerate(needs)]
    return said, [h / 100 for h in hundredths]


def _silenced(
    said: list[str], floor: int, need: Callable[[str], int]
) -> tuple[list[str], list[int]]:
    """The last resort for text that no line can fit (one long run of symbols): lines longer
    than a floor-length scene go, and a short opening line says the video's subject."""
    said = [text if need(text) <= floor else "" for text in said]
    if not any(said):
        said[0] = f"{sentence_case(FALLBACK_TOPIC)}."
    return said, [need(text) for text in said]


def _scene(
    index: int,
    part: _Part,
    line: str,
    start: float,
    duration: float,
    look: Look,
    request: JobRequest,
    variant: int,
) -> Scene:
    frame = _OPEN if index == 0 else _MIDDLE_FRAMES[(index - 1) % len(_MIDDLE_FRAMES)]
    if index > 0 and line and start + duration >= request.duration - 0.01:
        frame = _CLOSE
    shot = frame.shots[request.aspect_ratio]
    move = look.moves[(index + variant) % len(look.moves)]
    angle = _words(frame.angle)
    action = part.action[:400]
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
        camera_angle=frame.angle,
        camera_move=move,
        lighting=look.lighting,
        color_grade=look.color_grade,
        mood=look.mood,
        visual_style=look.visual_style,
        transition_in=Transition.FADE if index == 0 else look.transition,
        generation_prompt=prompt[:1].upper() + prompt[1:],
        narration=line,
    )


def _sentence(text: str) -> str:
    text = sentence_case(text.strip())
    return text if text[-1:] in ".!?" else f"{text}."


def _lower(text: str) -> str:
    """An audience as it reads after "made for"."""
    return mid_sentence(text) or text


_ITEM_STARTS: Final = _word_set(
    "a an the your our my pack lay wake keep put use take make try add drink eat water move skip "
    "go get start stop avoid set turn write read plan buy choose check clean cut open close give "
    "let find walk run sleep be do don't no never always ask leave bring learn pick stay limit "
    "swap spend save cook prep store wash rinse stir pour grind heat mix fill trim loosen"
)


def _item(text: str) -> str:
    """A list item or step as it reads after a colon or "First,": an ordinary leading word
    (an article, a common verb) in lower case, a name as written."""
    first, _, rest = text.partition(" ")
    if first.casefold() in _ITEM_STARTS and first[1:].islower() | (len(first) == 1):
        return f"{first.lower()} {rest}".strip()
    return text


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


__all__ = ["FALLBACK_TOPIC", "OfflinePlanner", "extract_subject", "is_clause", "plan_script"]
