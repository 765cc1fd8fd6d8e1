"""The title card the first scene opens with: the script's title in the job's language, set in
a font that has its characters, inside the platform's safe zone and clear of the captions.

Written as an ASS subtitle burned in by libass, which shapes Arabic, Hebrew and Devanagari and
animates the card (fade, a slow push-in, an accent bar drawn out under the title).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from omnigen.renderer.media.captions import NO_LINE_START, is_unspaced, text_width
from omnigen.renderer.media.fonts import CaptionFont
from omnigen.renderer.media.looks import StyleLook, rgb
from omnigen.shared.domain.media import CaptionPosition, SafeZone

MAX_TITLE_LINES: Final = 3
TITLE_IN_S: Final = 0.2
TITLE_MAX_S: Final = 4.0
AVERAGE_GLYPH: Final = 0.56  # an average Latin glyph's advance, as a fraction of the size
PUSH_IN: Final = 1.04  # how much the card grows while it shows (from its centre)


@dataclass(frozen=True)
class TitleCard:
    """What the card says and how it sits: the frame, its safe zone, where captions go."""

    title: str
    font: CaptionFont
    zone: SafeZone
    caption_position: CaptionPosition
    style: StyleLook
    accent: str  # 0xRRGGBB
    rtl: bool = False
    latin: bool = True  # letter spacing and upper case only suit cased, unjoined scripts


def title_window(duration_s: float) -> tuple[float, float]:
    """When the card shows within the scene: in after a beat, out well before the cut."""
    end = min(TITLE_MAX_S, duration_s * 0.85)
    return min(TITLE_IN_S, end / 4), end


def title_lines(text: str, chars_per_line: float) -> list[str]:
    """The title broken to lines of about `chars_per_line` average Latin characters: at spaces,
    or between characters in scripts written without them (never before closing marks)."""
    text = " ".join(text.split())
    if not any(is_unspaced(char) for char in text):
        return textwrap.wrap(text, width=max(6, int(chars_per_line))) or [text]
    lines, line = [], ""
    for char in text:
        if line and text_width(line + char) > chars_per_line and char not in NO_LINE_START:
            lines.append(line.strip())
            line = ""
        line += char
    return [*lines, line.strip()] if line.strip() else lines


def _layout(card: TitleCard, size: tuple[int, int]) -> tuple[int, list[str]]:
    """The largest font size (down from the style's) at which the title fits in a few lines,
    every line as the font sets it (capitals, letter spacing, the halo and the push-in) inside
    the safe zone's width."""
    width, height = size
    zone_width = width * (1 - card.zone.left - card.zone.right)
    font_size = min(width, height) * 0.092 * card.style.title_scale * card.font.scale
    text = card.title.upper() if card.style.title_upper and card.latin else card.title
    tracking = card.style.title_spacing if card.latin else 0.0  # letter spacing, in ems

    def em_width(line: str) -> float:
        return card.font.em_width(line) + tracking * len(line)

    # Lines are broken by characters: of this title's average width where words are spaced,
    # of the Latin average where they are not (`title_lines` counts wide characters twice).
    spaced = not any(is_unspaced(char) for char in text)
    per_char = em_width(text) / max(1, len(text)) if spaced else AVERAGE_GLYPH
    for _ in range(6):
        room = zone_width / PUSH_IN - 2 * _halo(round(font_size))[0]
        lines = title_lines(text, room / (font_size * per_char))
        widest = max(em_width(line) for line in lines) * font_size
        if len(lines) <= MAX_TITLE_LINES and widest <= room:
            return round(font_size), lines
        font_size *= 0.85
    lines = lines[:MAX_TITLE_LINES]
    lines[-1] = lines[-1].rstrip() + "…"
    return round(font_size), lines


def _halo(font_size: int) -> tuple[int, int]:
    """The title's outline and shadow, in pixels: a soft dark halo (a wide, blurred,
    translucent outline) keeps white type readable on a light sky as on a dark one."""
    return max(2, font_size // 10), max(1, font_size // 20)


def _centre_y(card: TitleCard, height: int, block: float) -> int:
    """Vertical centre of the title block: away from wherever the captions sit."""
    top, bottom = height * card.zone.top, height * (1 - card.zone.bottom)
    usable = bottom - top
    share = {
        CaptionPosition.BOTTOM: 0.40,
        CaptionPosition.MIDDLE: 0.16,
        CaptionPosition.TOP: 0.62,
    }[card.caption_position]
    centre = top + usable * share
    return round(min(max(centre, top + block / 2), bottom - block / 2))


def title_card_ass(card: TitleCard, size: tuple[int, int], duration_s: float) -> str:
    """The card as an ASS script whose coordinates are the frame's pixels."""
    width, height = size
    font_size, lines = _layout(card, size)
    block = len(lines) * font_size * 1.2
    centre_y = _centre_y(card, height, block)
    left, right = round(width * card.zone.left), round(width * (1 - card.zone.right))
    if card.style.title_left:
        start_edge = right if card.rtl else left
        anchor, x = ("6" if card.rtl else "4"), start_edge
    else:  # centred in the safe zone, which a platform's buttons make lopsided
        anchor, x = "5", (left + right) // 2
    start, end = title_window(duration_s)
    shown_ms = round((end - start) * 1000)
    spacing = round(font_size * card.style.title_spacing) if card.latin else 0
    outline, shadow = _halo(font_size)
    bar_w = round(min(right - left, font_size * 4.0))
    bar_h = max(3, round(font_size * 0.09))
    bar_y = round(centre_y + block / 2 + font_size * 0.35)
    # The bar grows out from its anchor: the title's start edge, or its middle.
    bar_anchor = ("9" if card.rtl else "7") if card.style.title_left else "8"
    red, green, blue = rgb(card.accent)
    accent = f"&H00{blue:02X}{green:02X}{red:02X}&"
    fade = f"\\fad({min(450, shown_ms // 4)},{min(450, shown_ms // 4)})"
    text = "\\N".join(_ass_plain(line) for line in lines)
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Title,{card.font.family},{font_size},&H00FFFFFF,&H00FFFFFF,&H90000000,"
        f"&H96000000,1,0,0,0,100,100,{spacing},0,1,{outline},{shadow},5,0,0,0,"
        f"{-1 if card.rtl else 1}",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    when = f"{_ass_time(start)},{_ass_time(end)}"
    grown = round(PUSH_IN * 100)
    push = f"\\blur{max(1, font_size // 14)}\\t(0,{shown_ms},\\fscx{grown}\\fscy{grown})"
    events = [
        f"Dialogue: 1,{when},Title,,0,0,0,,{{\\an{anchor}\\pos({x},{centre_y}){fade}{push}}}{text}",
        f"Dialogue: 0,{when},Title,,0,0,0,,{{\\an{bar_anchor}\\pos({x},{bar_y})\\bord0"
        f"\\shad0\\1c{accent}{fade}\\fscx0\\t(120,{min(900, shown_ms // 2)},\\fscx100)\\p1}}"
        f"m 0 0 l {bar_w} 0 {bar_w} {bar_h} 0 {bar_h}{{\\p0}}",
    ]
    return "\n".join([*header, *events]) + "\n"


def _ass_plain(text: str) -> str:
    """Plain text only: braces would start override tags, backslashes escapes."""
    return text.replace("\\", "/").replace("{", "(").replace("}", ")")


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def write_title_card(card: TitleCard, size: tuple[int, int], duration_s: float, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(title_card_ass(card, size, duration_s), encoding="utf-8")
