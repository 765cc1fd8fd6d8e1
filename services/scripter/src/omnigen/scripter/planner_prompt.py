"""What a prompt asks for, read without a model: the kind of video, its topic in the user's own
words, the items or steps it names, and the sentences it says that a narrator may repeat.

Keyword rules, not a language model: deterministic, and nothing is added that the user did not
write. What cannot be read with confidence is left out rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from omnigen.shared.domain.script_rules import words

FALLBACK_TOPIC: Final = "this idea"
TOPIC_MAX_WORDS: Final = 14
PHRASE_MAX_CHARS: Final = 120
MAX_ENUMERATED: Final = 10
NUMBER_WORDS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
NUMBER_WORDS_MORE: Final = (*NUMBER_WORDS, "nine", "ten")


class Kind(StrEnum):
    """The common kinds of short video, each with its own beats."""

    ADVERT = "advert"
    STORY = "story"
    LIST = "list"
    EXPLAINER = "explainer"
    ANNOUNCEMENT = "announcement"
    QUOTE = "quote"
    SCENE = "scene"  # a mood piece: a place or a moment, described


@dataclass(frozen=True)
class Reading:
    """A prompt as the planner understands it; every text is the user's own words."""

    kind: Kind
    topic: str  # a noun phrase ("three tips for ...") or a clause ("our bakery opens ...")
    asked: str  # the verb that asked for the video ("celebrate"), lower case; "" when none
    topic_is_clause: bool
    mid: str  # the topic as it reads after other words; "" when its first word's case is unsure
    items: tuple[str, ...]  # list items, steps, quote sentences or story events it names
    count: int | None  # "three" in "three tips for ..."
    unit: str  # "tip" in "three tips for ...", singular; "" when not a known list noun
    details: tuple[str, ...]  # further phrases and sentences of the prompt, narratable as said
    author: str  # who said the quote, when the prompt names them


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _pattern(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_VIDEO_NOUNS: Final = (
    r"video|clip|ad|advert|advertisement|promo|commercial|film|reel|short|spot|trailer|"
    r"tiktok|story|piece|montage|explainer|announcement|post"
)
_ASK: Final = re.compile(
    r"^(?:(?:please|hey|hi|ok|okay)[\s,]+)?(?:(?:i|we)\s+(?:want|need|would\s+like)\s+|"
    r"(?:can|could|would)\s+you\s+)?(?:(?:create|make|generate|produce|write|build|render|"
    r"design|give|do|shoot|film)\s+(?:me\s+|us\s+)?)?(?:(?:a|an|the|one|our|my)\s+)?"
    r"(?:[\w-]+[\s,]+){0,3}?(?:" + _VIDEO_NOUNS + r")\s+(?:about|for|of|on|showing|featuring|"
    r"that\s+shows|where|with|introducing|explaining|announcing|telling|celebrating|"
    r"promoting)\s+",
    re.IGNORECASE,
)
# A leading verb that asks for the video, with the kind it implies (None: no hint).
_VERBS: Final[tuple[tuple[str, Kind | None], ...]] = (
    (r"tell\s+(?:me\s+|us\s+)?(?:a|the)\s+(?:short\s+)?(?:story|tale)\s+(?:of|about)", Kind.STORY),
    (r"tell\s+(?:me\s+|us\s+)?(?:about)?", Kind.STORY),
    (r"explain(?:\s+to\s+me)?|teach(?:\s+me|\s+us)?|show\s+(?:me\s+|us\s+)?how", Kind.EXPLAINER),
    (r"announce|celebrate", Kind.ANNOUNCEMENT),
    (r"promote|advertise|sell|pitch|showcase", Kind.ADVERT),
    (r"share|give\s+(?:me\s+|us\s+)?|list", Kind.LIST),
    (
        r"create|make|generate|produce|write|build|render|design|show(?:\s+me)?|describe|"
        r"present|capture|film|shoot|imagine|visuali[sz]e|depict",
        None,
    ),
)
# Direction words trailing the topic: how to tell it, not what it is about.
_TRAILING_DIRECTIONS: Final = re.compile(
    r"(?:,?\s+(?:told|shown|shot|filmed|narrated|presented)\s+(?:in|as|with|for|on|at|"
    r"against|from)\s+.*$)|"
    r"(?:,?\s+in\s+(?:\d+|" + "|".join(NUMBER_WORDS_MORE) + r")\s+(?:scenes?|shots?|parts?|"
    r"seconds?|secs?)\b.*$)|"
    r"(?:,?\s+for\s+(?:instagram|tiktok|youtube|facebook|reels|shorts|social media)\b.*$)|"
    r"(?:,?\s+in\s+(?:a|an)\s+[\w\s-]{0,30}?\s+style\b.*$)",
    re.IGNORECASE,
)
_DIRECTION: Final = re.compile(
    r"^(?:please\s+)?(?:(?:make|keep)\s+it|(?:end|start|open|close|finish)\s+(?:with|on)|"
    r"include|feature|focus\s+on|highlight|mention|use\s+(?:a|an)\s+\w+\s+(?:tone|style|look)|"
    r"aim|target|mood|style|tone|tempo|music|voice|narrat|avoid|don't|do\s+not)\b|"
    r"\b(?:video|scenes?|shots?|camera|music|soundtrack|voice-?over|narration|footage|b-roll|"
    r"seconds|aspect|vertical|captions?|font|colou?r\s+palette|transition)\b",
    re.IGNORECASE,
)
_UNITS: Final = tuple(
    sorted(
        _word_set(
            "tips ways reasons things ideas steps mistakes habits facts secrets rules hacks signs "
            "tricks lessons questions myths places spots foods recipes books films movies songs "
            "exercises stretches tools apps games destinations benefits features examples "
            "strategies stories trails cities dishes drinks gifts plants words quotes truths lies "
            "skills"
        )
    )
)
_NUMBER: Final = r"\d{1,3}|" + "|".join(NUMBER_WORDS_MORE[1:]) + r"|a\s+few|some|several"
_LIST_HEAD: Final = re.compile(
    r"^(?:the\s+|my\s+|our\s+|your\s+)?(?:top\s+)?(?P<count>" + _NUMBER + r")\s+"
    r"(?:[\w'-]+\s+){0,3}?(?P<unit>[\w'-]+s)\b",
    re.IGNORECASE,
)
_LIST_WORDS: Final = re.compile(
    r"^(?:the\s+)?(?:top\s+(?:\d+\s+)?)?(?:[\w-]+\s+){0,2}?(?:" + "|".join(_UNITS) + r")\s+"
    r"(?:for|to|on|about|that|every|of|in|you|we|i)\b|^(?:a\s+)?list\s+of\b|^top\s+\d+\b",
    re.IGNORECASE,
)
_KIND_SIGNS: Final[tuple[tuple[Kind, re.Pattern[str]], ...]] = (
    (
        Kind.QUOTE,
        _pattern(
            r"\bquotes?\b|\bquotation\b|motivation|inspirational|affirmation|mantra|"
            r"words\s+to\s+live\s+by|proverb|\bsaying\b|\bonce\s+said\b|pep\s+talk|"
            r"never\s+give\s+up|believe\s+in\s+yourself|\bwisdom\b"
        ),
    ),
    (Kind.LIST, _LIST_WORDS),
    (
        Kind.EXPLAINER,
        _pattern(
            r"^(?:how|why|what|when|where)\b|\bexplain|\bexplainer\b|\bguide\s+to\b|tutorial|"
            r"step[\s-]by[\s-]step|\bthe\s+science\s+(?:of|behind)\b|\bhow\s+.+\s+works?\b|"
            r"\b101\b|\bbasics\s+of\b|\bintroduction\s+to\b"
        ),
    ),
    (
        Kind.STORY,
        _pattern(
            r"\bstory\b|\btale\b|once\s+upon|\bfable\b|\blegend\b|\badventure\b|\bjourney\b|"
            r"a\s+day\s+in\s+the\s+life|\btold\s+in\b|\bbedtime\b|"
            r"\bwho\s+(?:\w+ly\s+)?\w+(?:s|ed)\b|'s\s+(?:last|first|final|only)\s+\w+|"
            r"[.!?]\s+(?:he|she|they)\s+\w+(?:s|ed)\b|^(?:one\s+day|long\s+ago)\b"
        ),
    ),
    (
        Kind.ANNOUNCEMENT,
        _pattern(
            r"announc|\blaunch|grand\s+opening|now\s+open|\bopening\b|\bopens\b|coming\s+soon|"
            r"save\s+the\s+date|\bis\s+back\b|\bare\s+back\b|\breturns\b|we'?re\s+(?:moving|"
            r"hiring|open)|we\s+are\s+(?:moving|hiring|open)|\bnew\s+(?:location|store|shop|"
            r"branch|season|collection|menu|feature|version|release|office|website)\b|"
            r"\bunveil|\breleas|\bevent\b|\bfestival\b|\bwebinar\b|\bjoin\s+us\b|\bnews\b"
        ),
    ),
    (
        Kind.ADVERT,
        _pattern(
            r"\b(?:ad|advert|advertisement|promo|commercial|sponsored)\b|\b(?:our|my)\s+|\bbuy\b|"
            r"\bshop\b|\bsale\b|discount|%\s*off|\border\b|\bproduct|\bbrand\b|\bapp\b|"
            r"\bservice\b|subscription|introduc|\bnew\b|available|\bprice|\bdeal\b|\boffer\b|"
            r"\bstore\b|\bbakery\b|\bcaf[eé]\b|\bstudio\b|\bagency\b|\bstartup\b|"
            r"^(?:an?\s+)?(?:[\w-]+\s+){1,4}(?:that|which)\s+\w+s\b"
        ),
    ),
)
_BRAND: Final = re.compile(r"(?<!^)\b(?:[A-Z]{2,}[\w-]*|[A-Z][a-z]+[A-Z]\w*)\b")
_QUOTED: Final = re.compile(r"[\"\u201c\u201e]([^\"\u201c\u201d\u201e]{6,}?)[\"\u201d]")
_NAME: Final = (
    r"[A-Z][\w.'-]*(?:\s+(?:(?:da|de|del|di|van|von|der|le|la|bin|al)\s+)?[A-Z][\w.'-]*){0,3}"
)
_AUTHOR: Final = re.compile(
    rf"(?:\bby|\bfrom|[-\u2013\u2014])\s+(?P<name>{_NAME})|(?P<said>{_NAME})\s+(?:once\s+)?said\b"
)
_OPENERS: Final = re.compile(
    r"^(?:once\s+upon\s+a\s+time|one\s+(?:day|night|morning)|long\s+ago|years\s+ago)$", re.I
)
_SEQUENCE_WORD: Final = re.compile(
    r"^\s*(?:and\s+)?(?:then|next|finally|first(?:ly)?|lastly|after\s+that)\b[,\s]*", re.I
)
_BULLET: Final = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)])\s+(?P<item>.+)$")
_CLAUSE_VERBS: Final = _word_set(
    "is are was were will can has have had opens opened launches launched returns arrives "
    "begins starts moves joins comes goes gets makes becomes finds learns discovers wins loses "
    "meets turns helps saves builds tries decides falls runs walks takes gives brings needs "
    "wants loves celebrates turned became become grew grows lived lives found met"
)
_CLAUSE_STARTS: Final = _word_set("we i you they he she it we're it's they're i'm")
_RELATIVE: Final = frozenset({"who", "that", "which", "whose", "where"})
# A phrase may not end on one of these: it would leave a sentence hanging.
DANGLING: Final = _word_set(
    "a an the of our your my its their his her to in on at with for from by into onto about "
    "and or but as than that which who whose where when while during through over under "
    "is are was were be how why what this these those some any every each no not "
    "very so such just"
)
_CUT_BEFORE: Final = _word_set(
    "in on at with for from during while that which who where when to into by and or as "
    "through over under across around after before because so but"
)
# Words a phrase may start with in lower case mid-sentence: the rest keep the user's casing.
_LOWER_FIRST: Final = _word_set(
    "a an the our my your their his her its this these those some every each top how why "
    "what when where tips ways reasons things ideas steps we we're we've it it's they "
    "they're"
) | frozenset(NUMBER_WORDS_MORE)


def read_prompt(prompt: str) -> Reading:
    """The kind, topic, items and narratable sentences of `prompt`."""
    quote_sentences, author, text = _take_quote(prompt)
    bullets, text = _take_bullets(tidy(text, keep_lines=True))
    first, rest = _first_and_rest(text)
    stripped, hint = _strip_ask(first)
    cased = stripped != first  # after the asking words, a capital is the user's choice: a name
    asked = words(first[: len(first) - len(stripped)])[:1] if cased else []
    head, _, after_colon = _TRAILING_DIRECTIONS.sub("", stripped).strip(" ,;-").partition(":")
    topic, tails = _split_topic(head)
    kind = hint or _detect(topic, prompt)
    count, unit = _count_and_unit(topic)
    if kind in (Kind.LIST, Kind.EXPLAINER):
        items, tails, rest = _named_items(bullets, after_colon, tails, rest, count)
    else:
        items = quote_sentences if kind is Kind.QUOTE else bullets
        tails = [*tails, after_colon] if words(after_colon) else tails
    details = [phrase(t) for t in tails if _narratable(t)] + [phrase(s) for s in rest]
    if kind is Kind.SCENE:
        topic, more = _scene_parts(topic)
        details = [*more, *details]
    if kind is Kind.EXPLAINER and not re.match(r"(?:how|why|what|when|where)\b", topic, re.I):
        topic = re.split(r"\s+(?:to|for)\s+", topic, maxsplit=1)[0]  # "... to ten year olds"
    topic = _trim(topic) or FALLBACK_TOPIC
    return Reading(
        kind=kind,
        topic=topic,
        asked=asked[0] if asked else "",
        topic_is_clause=is_clause(topic),
        mid=mid_sentence(topic, cased=cased or topic == FALLBACK_TOPIC),
        items=tuple(p for item in items if (p := phrase(_SEQUENCE_WORD.sub("", item)))),
        count=count if count is None or count <= MAX_ENUMERATED else None,
        unit=unit,
        details=tuple(d for d in dict.fromkeys(details) if d and d != topic),
        author=author,
    )


def _first_and_rest(text: str) -> tuple[str, list[str]]:
    """The sentence that says what the video is about, and the later ones that are not
    directions to the director ("Make it pop!", "Use upbeat music.")."""
    sentences = [s for s in _sentences(text) if words(s)]
    while len(sentences) > 1 and _DIRECTION.search(sentences[0]):
        sentences.pop(0)
    first = sentences[0] if sentences else ""
    return first, [s for s in sentences[1:] if not _DIRECTION.search(s)]


def _named_items(
    bullets: list[str], after_colon: str, tails: list[str], rest: list[str], count: int | None
) -> tuple[list[str], list[str], list[str]]:
    """A list's items or an explainer's steps, wherever the prompt names them: bullet lines,
    after a colon, after "including", or as the sentences that follow; with the phrases and
    sentences left over."""
    items = bullets or _colon_items(after_colon)
    if not items:
        items, tails = _inline_items(tails)
    if not items and len(rest) >= max(2, count or 2):
        items, rest = rest[: count or len(rest)], rest[count or len(rest) :]
    return items, tails, rest


def tidy(text: str, *, keep_lines: bool = False) -> str:
    """User text made safe to splice into sentences: no brackets, no ellipses, single spaces,
    no dangling punctuation at either end."""
    text = re.sub(r"\([^)]*\)", " ", text)
    text = re.sub(r"[\[\]{}<>()]", " ", text)
    text = re.sub(r"\.{2,}|\u2026", " ", text)
    text = re.sub(r"[^\S\n]+", " ", text) if keep_lines else " ".join(text.split())
    return text.strip(" \n.,;:!?'\"-\u2013\u2014")


def phrase(text: str) -> str:
    """A fragment of the prompt as a phrase: trimmed, no hanging word at its end."""
    return _trim(tidy(text))


def is_clause(text: str) -> bool:
    """True when `text` reads as a sentence (a subject and its verb) rather than a noun phrase."""
    tokens = words(text)
    if not tokens:
        return False
    if tokens[0] in _CLAUSE_STARTS:
        return True
    for token in tokens[1:]:
        if token in _RELATIVE:
            return False
        if token in _CLAUSE_VERBS:
            return True
    return False


def mid_sentence(text: str, *, cased: bool = True) -> str:
    """`text` as it reads after other words: a leading article, number or list word in lower
    case, anything else as the user wrote it; "" when the first word is capitalised only
    because it began the prompt (`cased` False) and might be a name or might not."""
    first, _, rest = text.partition(" ")
    if first.casefold() in _LOWER_FIRST and (len(first) == 1 or first[1:].islower()):
        return f"{first.lower()} {rest}".strip()
    if cased or not first[:1].isupper() or first.isupper() or not first[1:].islower():
        return text
    return ""


def sentence_case(text: str) -> str:
    """`text` to begin a sentence: capital first letter, a small leading number spelt out."""
    first, _, rest = text.partition(" ")
    if first.isdecimal() and 0 < int(first) < len(NUMBER_WORDS_MORE):
        text = f"{NUMBER_WORDS_MORE[int(first)]} {rest}".strip()
    return text[:1].upper() + text[1:]


def shortened(text: str, max_words: int) -> str:
    """The longest start of `text` of at most `max_words` words that ends at a phrase boundary
    and on a word that does not leave it hanging; "" when there is none."""
    tokens = text.split()
    for end in range(min(len(tokens), max_words), 1, -1):
        if end < len(tokens) and tokens[end].casefold() not in _CUT_BEFORE:
            continue
        candidate = _trim(" ".join(tokens[:end]))
        if candidate and len(candidate.split()) == end:
            return candidate
    return ""


def without_place(text: str) -> str:
    """A noun phrase without the place or time after it: "our sneaker drop in a city at
    night" -> "our sneaker drop" (what is sold, not where it is shown)."""
    match = re.match(
        r"^(.+?)\s+(?:in|at|on|during|under|across|through|inside|beside|by)\s+(?:a|an|the)\b",
        text,
        re.IGNORECASE,
    )
    kept = _trim(match.group(1)) if match else ""
    return kept if len(words(kept)) >= 2 else text


def _trim(text: str) -> str:
    tokens = text.strip(" ,;:-\u2013\u2014").split()
    if len(tokens) > TOPIC_MAX_WORDS:
        tokens = (shortened(" ".join(tokens), TOPIC_MAX_WORDS) or "").split() or tokens[:8]
    while tokens and tokens[-1].casefold().strip(".,;:!?") in DANGLING:
        tokens.pop()
    while tokens and not words(tokens[0]):
        tokens.pop(0)
    while len(" ".join(tokens)) > PHRASE_MAX_CHARS and len(tokens) > 1:
        tokens.pop()
    if tokens and len(tokens[0]) > PHRASE_MAX_CHARS:
        tokens = [tokens[0][:PHRASE_MAX_CHARS]]
    return " ".join(tokens).strip(" ,;:-\u2013\u2014") if any(words(t) for t in tokens) else ""


def _take_quote(text: str) -> tuple[list[str], str, str]:
    match = _QUOTED.search(text)
    if not match:
        return [], "", text
    quote = match.group(1).strip()
    remainder = (text[: match.start()] + " " + text[match.end() :]).strip()
    author_match = _AUTHOR.search(text[match.end() :]) or _AUTHOR.search(text[: match.start()])
    author = ""
    if author_match:
        author = _trim(author_match.group("name") or author_match.group("said") or "")
        remainder = remainder.replace(author_match.group(0), " ")
    sentences = [s for s in _sentences(quote) if words(s)]
    return sentences, author, " ".join(remainder.split())


def _take_bullets(text: str) -> tuple[list[str], str]:
    bullets, kept = [], []
    for line in text.splitlines():
        match = _BULLET.match(line)
        if match:
            bullets.append(match.group("item"))
        else:
            kept.append(line)
    return (bullets, "\n".join(kept)) if len(bullets) >= 2 else ([], text)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+|(?<=\w)[.!?](?=$)", text)
    return [p.strip(" .!?;") for p in parts if p and p.strip(" .!?;")]


def _strip_ask(sentence: str) -> tuple[str, Kind | None]:
    """`sentence` without the words that ask for a video, and the kind those words imply."""
    hint: Kind | None = None
    match = _ASK.match(sentence)
    if match and words(sentence[match.end() :]):
        asked = match.group(0).casefold()
        if re.search(r"\b(?:ad|advert|advertisement|promo|commercial|promoting)\b", asked):
            hint = Kind.ADVERT
        elif re.search(r"\b(?:story|telling)\b", asked):
            hint = Kind.STORY
        elif re.search(r"\b(?:explainer|explaining)\b", asked):
            hint = Kind.EXPLAINER
        elif re.search(r"\b(?:announcement|announcing)\b", asked):
            hint = Kind.ANNOUNCEMENT
        return sentence[match.end() :], hint
    for verb, kind in _VERBS:
        verb_match = re.match(rf"^(?:please\s+)?(?:{verb})(?:\s*[:,]\s*|\s+)", sentence, re.I)
        if verb_match and words(sentence[verb_match.end() :]):
            rest = sentence[verb_match.end() :]
            if kind is Kind.EXPLAINER and verb_match.group(0).casefold().rstrip().endswith("how"):
                rest = "how " + rest
            if kind is Kind.LIST and not _LIST_WORDS.search(rest) and not _LIST_HEAD.search(rest):
                kind = None
            return rest, kind
    if re.match(r"^introducing\s+\S", sentence, re.IGNORECASE):
        return sentence.split(None, 1)[1], Kind.ADVERT
    return sentence, None


def _split_topic(head: str) -> tuple[str, list[str]]:
    """The topic (the head's first phrase) and the phrases that follow it after commas/dashes."""
    parts = [p for p in re.split(r",\s*|\s[-\u2013\u2014]\s|;\s*", head) if words(p)]
    if not parts:
        return "", []
    topic, tails = parts[0], parts[1:]
    while tails and (len(words(topic)) < 2 or _OPENERS.match(topic)):
        topic = f"{topic}, {tails.pop(0)}"
    return topic, tails


def _detect(topic: str, prompt: str) -> Kind:
    for kind, sign in _KIND_SIGNS:
        if kind is Kind.QUOTE and not sign.search(prompt):
            continue
        if kind in (Kind.LIST, Kind.EXPLAINER):
            if sign.search(topic) or (kind is Kind.LIST and _list_head(topic)):
                return kind
            continue
        if sign.search(prompt):
            return kind
    return Kind.ADVERT if _BRAND.search(prompt) else Kind.SCENE


def _list_head(topic: str) -> bool:
    match = _LIST_HEAD.match(topic)
    return bool(match and match.group("unit").casefold() in _UNITS)


def _count_and_unit(topic: str) -> tuple[int | None, str]:
    match = _LIST_HEAD.match(topic)
    if not match:
        unit = next((w for w in words(topic)[:3] if w in _UNITS), "")
        return None, singular(unit) if unit else ""
    raw = match.group("count").casefold()
    count = (
        int(raw)
        if raw.isdecimal()
        else (NUMBER_WORDS_MORE.index(raw) if raw in NUMBER_WORDS_MORE else None)
    )
    unit = match.group("unit").casefold()
    return count, singular(unit) if unit in _UNITS else ""


def singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if re.search(r"(?:ch|sh|ss|x)es$", noun):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") else noun


def _colon_items(text: str) -> list[str]:
    text = text.strip()
    if not words(text):
        return []
    parts = [p for p in re.split(r"\s*[,;]\s*", text) if words(p)]
    if len(parts) >= 2:
        last = re.split(r"^(?:and|or)\s+|\s+(?:and|or)\s+(?=\S)", parts[-1], maxsplit=1)
        parts = parts[:-1] + [p for p in last if words(p)]
    else:
        parts = [p for p in re.split(r"\s+and\s+", text, maxsplit=1) if words(p)]
    return [re.sub(r"^(?:and|or)\s+", "", p, flags=re.IGNORECASE) for p in parts]


def _inline_items(tails: list[str]) -> tuple[list[str], list[str]]:
    """Items named after "including", "like" or "such as" in the phrases after the topic."""
    joined = ", ".join(tails)
    match = re.search(r"\b(?:including|like|such\s+as|from)\s+(.+)$", joined, re.IGNORECASE)
    if not match:
        return [], tails
    items = _colon_items(match.group(1))
    return (
        (items, [joined[: match.start()]] if words(joined[: match.start()]) else [])
        if (len(items) >= 2)
        else ([], tails)
    )


def _scene_parts(topic: str) -> tuple[str, list[str]]:
    """A described moment split into the things it shows: "sunset over the sea with dolphins
    jumping and kids playing" -> "Sunset over the sea", "dolphins jumping", "kids playing"."""
    parts = [p.strip() for p in re.split(r"\s+(?:with|and|while|as)\s+", topic) if p.strip()]
    if len(parts) < 2 or any(len(words(p)) < 2 for p in parts):
        return topic, []
    return parts[0], [sentence_case(kept) for p in parts[1:] if (kept := phrase(p))]


def _narratable(text: str) -> bool:
    return len(words(text)) >= 2 and not _DIRECTION.search(text)
