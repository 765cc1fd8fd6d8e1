"""Caption fonts: the Latin font ships inside the package; the fonts for other scripts (Noto, from
Debian's fonts-noto-core and fonts-noto-cjk, installed by scripts/install-system-deps.sh and the
renderer's Dockerfile) are found on disk, and a caption's font is one that has every character
of its text (checked against the font's character map), so nothing renders as empty boxes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

import structlog
from fontTools.ttLib import TTCollection, TTFont

from omnigen.renderer.media.errors import MediaError
from omnigen.shared.domain.media import language_info

log = structlog.get_logger()

FONTS_DIR = Path(str(files("omnigen.renderer") / "fonts"))
CAPTION_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"
CAPTION_FONT_FAMILY = "DejaVu Sans"
# Where system fonts are looked for (Debian's font packages install under the first).
SYSTEM_FONT_DIRS: Final = ("/usr/share/fonts", "/usr/local/share/fonts")
INSTALL_HINT: Final = (
    "install it with scripts/install-system-deps.sh (fonts-noto-core, fonts-noto-cjk)"
)


@dataclass(frozen=True)
class FontFace:
    """One face libass can be asked for by family name (bold), and where it lives."""

    family: str
    file_name: str
    index: int = 0  # the face within a collection (.ttc)
    scale: float = 1.0  # size relative to the Latin font, for scripts that look small


@dataclass(frozen=True)
class CaptionFont:
    family: str
    path: Path
    index: int = 0
    scale: float = 1.0

    def covers(self, text: str) -> bool:
        return not self.missing(text)

    def missing(self, text: str) -> str:
        """The characters of `text` this font has no glyph for (whitespace aside)."""
        cmap = _cmap(str(self.path), self.index)
        return "".join(sorted({c for c in text if not c.isspace() and ord(c) not in cmap}))

    def em_width(self, text: str) -> float:
        """How wide `text` is set in this font, in ems (its glyphs' advances, unkerned; a
        character it has no glyph for counts as a wide one)."""
        advances = _advances(str(self.path), self.index)
        return sum(advances.get(ord(char), 1.0) for char in text)


SHIPPED: Final = FontFace(CAPTION_FONT_FAMILY, CAPTION_FONT.name)
NOTO_SANS: Final = FontFace("Noto Sans", "NotoSans-Bold.ttf")
# Candidates per ISO 15924 script, best first; the first that covers a caption's text is used.
SCRIPT_FONTS: Final[dict[str, tuple[FontFace, ...]]] = {
    "Latn": (SHIPPED, NOTO_SANS),
    "Jpan": (FontFace("Noto Sans CJK JP", "NotoSansCJK-Bold.ttc", 0),),
    "Kore": (FontFace("Noto Sans CJK KR", "NotoSansCJK-Bold.ttc", 1),),
    "Hans": (FontFace("Noto Sans CJK SC", "NotoSansCJK-Bold.ttc", 2),),
    # Noto Sans Arabic and Hebrew lack some ASCII punctuation (and Hebrew the digits), which
    # DejaVu Sans has along with both scripts.
    "Arab": (FontFace("Noto Sans Arabic", "NotoSansArabic-Bold.ttf", scale=1.3), SHIPPED),
    "Hebr": (FontFace("Noto Sans Hebrew", "NotoSansHebrew-Bold.ttf"), SHIPPED),
    "Deva": (
        FontFace("Noto Sans Devanagari", "NotoSansDevanagari-Bold.ttf", scale=1.15),
        NOTO_SANS,
    ),
}


class CaptionFontMissing(MediaError):
    def __init__(self, language: str, faces: Sequence[FontFace]) -> None:
        names = ", ".join(face.family for face in faces)
        super().__init__(f"no caption font for {language} is installed ({names}): {INSTALL_HINT}")


def caption_font(language: str | None, texts: Iterable[str] = ()) -> CaptionFont:
    """The caption font for `language` that has a glyph for every character of `texts`; when
    none has them all, the installed one missing the fewest (libass falls back for those)."""
    info = language_info(language)
    faces = SCRIPT_FONTS.get(info.script, SCRIPT_FONTS["Latn"])
    installed = [font for face in faces if (font := _installed(face)) is not None]
    if not installed:
        raise CaptionFontMissing(info.name, faces)
    text = "".join(texts)
    best = min(installed, key=lambda font: len(font.missing(text)))
    if missing := best.missing(text):
        log.warning("caption_glyphs_missing", font=best.family, characters=missing[:40])
    return best


def _installed(face: FontFace) -> CaptionFont | None:
    path = _find(face.file_name, SYSTEM_FONT_DIRS)
    return None if path is None else CaptionFont(face.family, path, face.index, face.scale)


@functools.cache
def _find(file_name: str, dirs: tuple[str, ...]) -> Path | None:
    """The shipped font, else the first file of that name under the font directories."""
    shipped = FONTS_DIR / file_name
    if shipped.is_file():
        return shipped
    for directory in dirs:
        for found in sorted(Path(directory).rglob(file_name)) if Path(directory).is_dir() else ():
            return found
    return None


@functools.cache
def _cmap(path: str, index: int) -> frozenset[int]:
    return frozenset(_open(path, index).getBestCmap())


@functools.cache
def _advances(path: str, index: int) -> dict[int, float]:
    """Each character's advance width in ems."""
    font = _open(path, index)
    metrics, units = font["hmtx"], font["head"].unitsPerEm
    return {code: metrics[glyph][0] / units for code, glyph in font.getBestCmap().items()}


def _open(path: str, index: int) -> TTFont:
    if path.endswith((".ttc", ".otc")):
        return TTCollection(path, lazy=True).fonts[index]
    return TTFont(path, lazy=True)
