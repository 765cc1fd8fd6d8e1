"""Text as requests and events must carry it: a JSON string, nothing coerced into one, and no
control character where a person's words go (prose keeps its LF and TAB)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Final

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
