"""Files for the uploads' tests and benchmark, made on the spot: real pictures, a PNG whose
header declares a decompression bomb, a 2-hour clip that weighs ~100 KB, a truncated MP4."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw


def photo(path: Path, width: int, height: int, *, seed: int = 0, quality: int = 90) -> Path:
    """A picture with large distinct shapes (so a perceptual hash tells two apart)."""
    image = Image.new("RGB", (width, height), ((seed * 67) % 256, 40, 200 - (seed * 31) % 150))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x = ((seed + 1) * (i + 3) * 97) % width
        y = ((seed + 2) * (i + 5) * 61) % height
        r = min(width, height) // (3 + i)
        color = ((i * 80 + seed * 40) % 256, (i * 50 + 120) % 256, (seed * 90 + i * 20) % 256)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    draw.rectangle((0, 0, width // 3, height // 4), fill=(250, 250, 250) if seed % 2 else (5, 5, 5))
    image.save(path, quality=quality) if path.suffix == ".jpg" else image.save(path)
    return path


def png_bomb_header(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid PNG structure whose header declares `width`x`height` (the data is tiny)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    signature = b"\x89PNG\r\n\x1a\n"
    png = signature + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def ffmpeg(*args: str) -> None:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def clip(path: Path, seconds: float, *, size: str = "320x240", rate: int = 25) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}",
        "-f", "lavfi", "-i", "sine=f=440",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
        "-shortest", str(path),
    )  # fmt: skip
    return path


def long_clip(path: Path, seconds: int = 7200) -> Path:
    """Two hours at 16x16 and 1 frame/s: a real, decodable file of about 100 KB."""
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "3600", str(path),
    )  # fmt: skip
    return path


def audio_only_mp4(path: Path, seconds: float = 2.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=f=330", "-t", str(seconds), "-c:a", "aac", str(path))
    return path


def track(path: Path, seconds: float = 5.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=f=220", "-t", str(seconds), str(path))
    return path


def truncated(source: Path, path: Path, keep: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def ahash(path: Path, size: int = 8) -> int:
    """An average hash: 64 bits of which grey-thumbnail pixels are brighter than their mean
    (steadier than a difference hash on pictures with large flat areas)."""
    with Image.open(path) as image:
        pixels = list(image.convert("L").resize((size, size), Image.Resampling.LANCZOS).getdata())
    mean = sum(pixels) / len(pixels)
    bits = 0
    for value in pixels:
        bits = bits << 1 | (value > mean)
    return bits


def hash_distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def frame_at(video: Path, seconds: float, out: Path) -> Path:
    ffmpeg("-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1", "-q:v", "2", str(out))
    return out
