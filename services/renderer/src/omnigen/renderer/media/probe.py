"""Media measurements with the bundled ffmpeg only (the wheel has no ffprobe).

Container facts come from parsing `ffmpeg -i` (its input dump is stable across releases);
anything about content is measured by decoding into filters: `ebur128` + `volumedetect` for
loudness, and small raw RGB frames for pixel comparisons and hard-cut detection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from omnigen.renderer.media.errors import FfmpegFailed, ProbeFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+\S*: (Video|Audio): (.*)")
_SIZE = re.compile(r"[ ,](\d{2,5})x(\d{2,5})[ ,\n]")
_FPS = re.compile(r"([\d.]+) fps")
_RATE = re.compile(r"(\d+) Hz")
_INTEGRATED = re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS")
_MEAN = re.compile(r"mean_volume: (-?[\d.]+|-inf) dB")
_MAX = re.compile(r"max_volume: (-?[\d.]+|-inf) dB")


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: str


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    video: VideoStream | None
    audio: AudioStream | None


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    mean_volume_db: float
    max_volume_db: float


@dataclass(frozen=True)
class Frame:
    """One decoded frame as packed RGB24 bytes."""

    width: int
    height: int
    rgb: bytes

    def mean_abs_diff(
        self, other: Frame, region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    ) -> float:
        """Mean absolute channel difference (0-255) in a region given as fractions x0,y0,x1,y1."""
        if (self.width, self.height) != (other.width, other.height):
            raise ValueError("frames differ in size")
        x0, y0 = int(region[0] * self.width), int(region[1] * self.height)
        x1, y1 = int(region[2] * self.width), int(region[3] * self.height)
        total, count = 0, 0
        for y in range(y0, y1):
            start, end = (y * self.width + x0) * 3, (y * self.width + x1) * 3
            row = zip(self.rgb[start:end], other.rgb[start:end], strict=True)
            total += sum(abs(a - b) for a, b in row)
            count += end - start
        return total / count if count else 0.0


async def probe(path: Path) -> MediaInfo:
    """Duration and first video/audio stream of a file, from ffmpeg's input dump."""
    # Without an output ffmpeg exits 1 after printing the input dump; that is the answer.
    try:
        run = await run_ffmpeg(
            ["-i", path], what=f"probe {path.name}", loglevel="info", ok_returncodes=(0, 1)
        )
    except FfmpegFailed as err:
        raise ProbeFailed(str(path), err.reason) from err
    if "Input #0" not in run.stderr:
        lines = run.stderr.strip().splitlines()
        raise ProbeFailed(str(path), lines[-1] if lines else "unreadable")
    return parse_input_dump(run.stderr)


def parse_input_dump(text: str) -> MediaInfo:
    duration = _DURATION.search(text)
    seconds = 0.0
    if duration:
        hours, minutes, secs = duration.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    video: VideoStream | None = None
    audio: AudioStream | None = None
    for kind, desc in _STREAM.findall(text):
        codec = desc.split()[0].rstrip(",")
        if kind == "Video" and video is None:
            size = _SIZE.search(desc + "\n")
            fps = _FPS.search(desc)
            fields = [part.strip() for part in desc.split(",")]
            pix_fmt = fields[1].split("(")[0] if len(fields) > 1 else ""
            video = VideoStream(
                codec=codec,
                width=int(size.group(1)) if size else 0,
                height=int(size.group(2)) if size else 0,
                fps=float(fps.group(1)) if fps else 0.0,
                pix_fmt=pix_fmt,
            )
        elif kind == "Audio" and audio is None:
            rate = _RATE.search(desc)
            fields = [part.strip() for part in desc.split(",")]
            audio = AudioStream(
                codec=codec,
                sample_rate=int(rate.group(1)) if rate else 0,
                channels=fields[2] if len(fields) > 2 else "",
            )
    return MediaInfo(duration_s=seconds, video=video, audio=audio)


async def count_video_frames(path: Path) -> int:
    """Exact number of video frames, by listing packets (no decoding)."""
    run = await run_ffmpeg(
        ["-i", path, "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
        what=f"count frames of {path.name}",
    )
    return sum(1 for line in run.stdout.decode().splitlines() if line and not line.startswith("#"))


async def loudness(path: Path) -> Loudness:
    """Integrated loudness (EBU R128) and volume statistics of the first audio stream."""
    run = await run_ffmpeg(
        [
            "-i",
            path,
            "-map",
            "0:a:0",
            "-af",
            "ebur128=framelog=quiet,volumedetect",
            "-f",
            "null",
            "-",
        ],
        what=f"loudness of {path.name}",
        loglevel="info",
    )
    return Loudness(
        integrated_lufs=_last_float(_INTEGRATED, run.stderr),
        mean_volume_db=_last_float(_MEAN, run.stderr),
        max_volume_db=_last_float(_MAX, run.stderr),
    )


async def scene_changes(path: Path, *, threshold: float = 20.0, width: int = 48) -> list[float]:
    """Times (s) of hard cuts: a frame far from the one before it, and alone in being so.

    Frames are decoded small (`width` px wide, RGB); a cut is a mean absolute difference above
    `threshold` (0-255) and three times its neighbours', so fades and dissolves, whose change
    spreads over many frames, and camera motion do not count.
    """
    info = await probe(path)
    if info.video is None or not info.video.width:
        raise ProbeFailed(str(path), "no video stream")
    height = max(2, round(width * info.video.height / info.video.width / 2) * 2)
    run = await run_ffmpeg(
        ["-i", path, "-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area",
         "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        what=f"scene detection on {path.name}",
    )  # fmt: skip
    size = width * height * 3
    frames = [
        Frame(width, height, run.stdout[offset : offset + size])
        for offset in range(0, len(run.stdout) - size + 1, size)
    ]
    diffs = [0.0] + [b.mean_abs_diff(a) for a, b in pairwise(frames)]
    fps = info.video.fps or 30.0
    cuts: list[float] = []
    for index in range(1, len(diffs)):
        around = max(diffs[index - 1], diffs[index + 1] if index + 1 < len(diffs) else 0.0)
        if diffs[index] > threshold and diffs[index] > 3 * around:
            cuts.append(round(index / fps, 3))
    return cuts


async def extract_frame(
    path: Path, *, at_s: float | None = None, last: bool = False, size: tuple[int, int] = (90, 160)
) -> Frame:
    """Decode one frame (at a time, the first, or the last) scaled to `size` as RGB24."""
    seek: list[str | Path] = []
    if last:
        seek = ["-sseof", "-0.5"]
    elif at_s is not None:
        seek = ["-ss", f"{at_s:.3f}"]
    width, height = size
    tail = [] if last else ["-frames:v", "1"]
    run = await run_ffmpeg(
        [
            *seek,
            "-i",
            path,
            "-map",
            "0:v:0",
            "-vf",
            f"scale={width}:{height}:flags=area",
            "-pix_fmt",
            "rgb24",
            *tail,
            "-f",
            "rawvideo",
            "-",
        ],
        what=f"frame of {path.name}",
    )
    frame_bytes = width * height * 3
    if len(run.stdout) < frame_bytes:
        raise ProbeFailed(str(path), "no frame decoded")
    return Frame(width=width, height=height, rgb=run.stdout[-frame_bytes:])


def _last_float(pattern: re.Pattern[str], text: str) -> float:
    found = pattern.findall(text)
    if not found:
        return float("-inf")
    return float(found[-1])
