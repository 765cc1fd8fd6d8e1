"""Text as requests and events must carry it: a JSON string, nothing coerced into one, and no
control character where a person's words go (prose keeps its LF and TAB)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Strict

PROSE_WHITESPACE: Final = frozenset("\n\t")


def _refuse_controls(text: str, allowed: frozenset[str]) -> str:
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")
    return text


def single_line(text: str) -> str:
    """`text` when it holds no control character at all (NUL, CR, LF, DEL, C1, surrogates)."""
    return _refuse_controls(text, frozenset())


def prose(text: str) -> str:
    """`text` when its only control characters are the ordinary whitespace of prose (LF, TAB)."""
    return _refuse_controls(text, PROSE_WHITESPACE)


# Request text is a JSON string, nothing else (no number or bool coerced to one).
LineText = Annotated[str, Strict(), AfterValidator(single_line)]
ProseText = Annotated[str, Strict(), AfterValidator(prose)]
StrictInt = Annotated[int, Strict()]


def error_message(error: Mapping[str, Any]) -> str:
    """pydantic's message for one of its errors, in a person's words. A text field whose
    characters are checked first (`LineText`, `ProseText`) has its length limits checked as
    a generic value's ("Value should have at least 10 items after validation, not 9"): say it
    as pydantic says it of a plain string."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind in ("too_short", "too_long") and isinstance(error.get("input"), str):
        bound = context.get("min_length" if kind == "too_short" else "max_length")
        most = "at least" if kind == "too_short" else "at most"
        unit = "character" if bound == 1 else "characters"
        return f"String should have {most} {bound} {unit}, not {context.get('actual_length')}"
    return str(error.get("msg", "invalid value"))
