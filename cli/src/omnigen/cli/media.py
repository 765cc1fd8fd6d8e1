"""The CLI's side of uploads: content types from file names, `--scene-media` parsing, and the
given script a set of uploaded visuals becomes (one scene each, the text spread over them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

CONTENT_TYPES: Final = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
}
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp")
UPLOAD_ID: Final = re.compile(r"^up_[0-9a-f]{32}$")
MIN_SCENE_S: Final = 2.0


def content_type_of(path: Path) -> str | None:
    return CONTENT_TYPES.get(path.suffix.lower())


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def parse_scene_media(text: str) -> dict[int, str]:
    """`1=ID,2=ID` -> {1: ID, 2: ID}; ValueError naming the bad part."""
    media: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        number, _, upload_id = part.partition("=")
        if not number.isdigit() or int(number) < 1 or not UPLOAD_ID.match(upload_id.strip()):
            raise ValueError(f"{part!r}: expected SCENE=UPLOAD_ID, e.g. 1=up_0123...")
        media[int(number)] = upload_id.strip()
    return media


def _sentences(text: str, count: int) -> list[str]:
    """`text` cut at sentence ends into `count` nearly even parts (some may be empty)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    parts: list[list[str]] = [[] for _ in range(count)]
    for index, sentence in enumerate(sentences):
        parts[min(index * count // max(len(sentences), 1), count - 1)].append(sentence)
    return [" ".join(p) for p in parts]


def media_script(text: str, duration: int, media: dict[int, str]) -> dict[str, Any]:
    """A given script of as many scenes as the highest scene number, `duration` shared evenly,
    each scene's media as given, and `text` narrated across them."""
    count = max(media)
    each = max(MIN_SCENE_S, round(duration / count, 2))
    narration = _sentences(text, count)
    scenes = []
    for number in range(1, count + 1):
        scene: dict[str, Any] = {"duration": each, "narration": narration[number - 1]}
        if number in media:
            scene["media"] = media[number]  # shown as it is: it needs no description
        else:
            scene["generation_prompt"] = f"Scene {number} of {count} of a short video about {text}"[
                :2000
            ]
        scenes.append(scene)
    title = text.strip().split(".")[0][:80] or "My media"
    return {"title": title, "scenes": scenes}
