"""The caption font ships inside the package, so text renders the same on a bare container."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FONTS_DIR = Path(str(files("omnigen.renderer") / "fonts"))
CAPTION_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"
CAPTION_FONT_FAMILY = "DejaVu Sans"
