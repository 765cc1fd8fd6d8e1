"""Decode an uploaded file far enough to trust it: a picture's header is read and its pixel
count capped BEFORE any pixel is decoded (decompression bombs); a clip or a track is probed
with the bundled ffmpeg for its streams, size and duration. Reasons are for the user."""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.probe import probe
from omnigen.shared.domain.uploads import (
    MAX_BYTES,
    MAX_DURATION_S,
    MAX_PIXELS,
    MAX_VIDEO_SIDE,
    UploadFacts,
    UploadKind,
)

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
DECODE_SIDE = 2048  # a JPEG is checked decoded at a fraction of its size (draft mode)


@dataclass(frozen=True)
class Verdict:
    facts: UploadFacts
    reason: str | None = None  # None: fit for use

    @property
    def ready(self) -> bool:
        return self.reason is None


async def inspect_upload(path: Path, kind: UploadKind) -> Verdict:
    size = (await asyncio.to_thread(path.stat)).st_size
    if size > MAX_BYTES[kind]:
        return Verdict(UploadFacts(), f"the file is larger than {MAX_BYTES[kind]} bytes")
    if size == 0:
        return Verdict(UploadFacts(), "the file is empty")
    if kind is UploadKind.IMAGE:
        return await asyncio.to_thread(inspect_image, path)
    return await inspect_media(path, kind)


def inspect_image(path: Path) -> Verdict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
                facts = UploadFacts(width=width, height=height)
                if image.format not in IMAGE_FORMATS:
                    return Verdict(facts, f"{image.format} images are not accepted")
                if width * height > MAX_PIXELS:
                    return Verdict(facts, _too_many_pixels(width, height))
                image.draft("RGB", (DECODE_SIDE, DECODE_SIDE))  # JPEG: decode scaled down
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Verdict(UploadFacts(), f"the image declares more than {MAX_PIXELS} pixels")
    except UnidentifiedImageError:
        return Verdict(UploadFacts(), "the file is not a readable JPEG, PNG or WebP image")
    except (OSError, SyntaxError, ValueError) as exc:
        return Verdict(UploadFacts(), f"the image is damaged or truncated ({_short(exc)})")
    return Verdict(facts)


def _too_many_pixels(width: int, height: int) -> str:
    return f"the image is {width}x{height}, more than {MAX_PIXELS} pixels"


async def inspect_media(path: Path, kind: UploadKind) -> Verdict:
    try:
        info = await probe(path)
    except MediaError:
        return Verdict(UploadFacts(), f"the file is not a readable {kind.value} file")
    video, audio = info.video, info.audio
    facts = UploadFacts(
        width=video.width if video else None,
        height=video.height if video else None,
        duration_s=round(info.duration_s, 3),
        has_video=video is not None,
        has_audio=audio is not None,
    )
    if kind is UploadKind.VIDEO and video is None:
        return Verdict(facts, "the file has no video stream")
    if kind is UploadKind.AUDIO and audio is None:
        return Verdict(facts, "the file has no audio stream")
    if info.duration_s <= 0:
        return Verdict(facts, "the file's duration cannot be read")
    if info.duration_s > MAX_DURATION_S[kind]:
        return Verdict(
            facts, f"it lasts {info.duration_s:.0f} s, more than {MAX_DURATION_S[kind]:.0f} s"
        )
    if video is not None and max(video.width, video.height) > MAX_VIDEO_SIDE:
        return Verdict(
            facts, f"the video is {video.width}x{video.height}, over {MAX_VIDEO_SIDE} a side"
        )
    if not await _end_decodes(path):
        return Verdict(facts, "the file is truncated or damaged (its end does not decode)")
    return Verdict(facts)


async def _end_decodes(path: Path) -> bool:
    """A header can be whole while the data is cut (a faststart MP4 cut short): decoding the
    last second finds it, without decoding the whole file."""
    try:
        await run_ffmpeg(
            ["-xerror", "-sseof", "-1", "-i", path, "-f", "null", "-"],
            what="decoding an upload's end",
            timeout_s=120,
        )
    except MediaError:
        return False
    return True


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
