"""Scenes from a user's own media: a picture becomes a clip with the scene's camera move (Ken
Burns: scaled and centre-cropped to the frame's aspect, never stretched, then moved over), a
video is looped or trimmed to the scene, fitted the same way, its own sound dropped; a track
becomes the music bed, looped or trimmed to the video and loudness-normalised. Every output is
what the composition takes from any clip or bed (clips.CLIP_ENCODING; a stereo WAV)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from omnigen.renderer.media import looks
from omnigen.renderer.media.clips import CLIP_ENCODING, fit_filter, frame_count
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.shared.domain.scripts import CameraMove

MUSIC_RATE: Final = 44100
MUSIC_LOUDNESS: Final = "loudnorm=I=-16:TP=-1.5:LRA=11"


async def image_clip(
    image: Path,
    out: Path,
    *,
    duration_s: float,
    size: tuple[int, int],
    fps: int,
    move: CameraMove,
    timeout_s: float = 600.0,
) -> Path:
    """One frame decoded and shrunk straight to a little over the output size (a 4000x3000
    JPEG is never held at full size past its decode), then zoompan draws every frame."""
    frames = frame_count(duration_s, fps)
    width, height = looks.base_size(size)
    graph = (
        f"[0:v]scale={width}:{height}:force_original_aspect_ratio=increase:flags=area,"
        f"crop={width}:{height},setsar=1,trim=end_frame=1,"
        f"{looks.motion_filter(move, frames, size, fps)},setsar=1,format=yuv420p[video]"
    )
    await run_ffmpeg(
        ["-i", image, "-filter_complex", graph, "-map", "[video]", *_encode(frames, fps), out],
        what="a scene from an uploaded picture",
        timeout_s=timeout_s,
    )
    return out


async def video_clip(
    video: Path,
    out: Path,
    *,
    duration_s: float,
    size: tuple[int, int],
    fps: int,
    timeout_s: float = 600.0,
) -> Path:
    """The upload from its start for the scene's duration (looped when it is shorter)."""
    frames = frame_count(duration_s, fps)
    fitted = f"fps={fps},{fit_filter(size)}"
    source: list[str | Path] = ["-stream_loop", "-1", "-i", video, "-map", "0:v:0", "-vf", fitted]
    await run_ffmpeg(
        [*source, *_encode(frames, fps), out],
        what="a scene from an uploaded video",
        timeout_s=timeout_s,
    )
    return out


def _encode(frames: int, fps: int) -> list[str]:
    return ["-frames:v", str(frames), "-r", str(fps), *CLIP_ENCODING]


async def music_bed(track: Path, out: Path, *, duration_s: float, timeout_s: float = 300.0) -> Path:
    """The track looped or trimmed to `duration_s`, normalised, faded in and out."""
    fade = min(2.0, duration_s / 4)
    chain = ",".join(
        [
            f"atrim=0:{duration_s:.3f}",
            MUSIC_LOUDNESS,
            f"aresample={MUSIC_RATE}",
            "aformat=channel_layouts=stereo",
            f"afade=t=in:d={min(1.0, duration_s / 4):.3f}",
            f"afade=t=out:st={duration_s - fade:.3f}:d={fade:.3f}",
        ]
    )
    await run_ffmpeg(
        [
            *("-stream_loop", "-1", "-i", track, "-map", "0:a:0", "-af", chain),
            *("-t", f"{duration_s:.3f}", "-c:a", "pcm_s16le", out),
        ],
        what="the music bed from an uploaded track",
        timeout_s=timeout_s,
    )
    return out
