"""Local scene clips: one ffmpeg run draws a still from the scene's look, moves a camera over it,
burns the action in as a caption, encodes once, and saves the last frame for continuity.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import structlog

from omnigen.renderer.media import looks
from omnigen.renderer.media.ffmpeg import filter_path, run_ffmpeg
from omnigen.renderer.media.fonts import CAPTION_FONT
from omnigen.renderer.ports import ClipResult
from omnigen.shared.domain.scripts import Scene

log = structlog.get_logger()

# What the composition relies on: H.264 yuv420p, constant frame rate, square pixels, no audio.
# ultrafast: the clip is an intermediate that is decoded once more, not delivered; keyframes
# every two seconds keep the composition's seeks (poster, cross-fade tails) short.
CLIP_ENCODING: tuple[str, ...] = (
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "60",
    "-pix_fmt", "yuv420p", "-an",
)  # fmt: skip
MAX_CAPTION_LINES = 3
CONTINUITY_DISSOLVE_S = 1.0


def frame_count(duration_s: float, fps: int) -> int:
    return max(1, round(duration_s * fps))


async def save_last_frame(clip: Path, out: Path, *, what: str, timeout_s: float = 120.0) -> Path:
    """The clip's final frame as a JPEG, from a short decode of its end (a `select` on the last
    frame number would hold every frame in memory until then)."""
    await run_ffmpeg(
        ["-sseof", "-0.5", "-i", clip, "-map", "0:v:0", "-q:v", "2", "-update", "1", out],
        what=f"taking the last frame of the {what}",
        timeout_s=timeout_s,
    )  # fmt: skip
    return out


class LocalClipGenerator:
    """The offline ClipGenerator: a procedurally drawn, camera-moved, captioned scene."""

    def __init__(self, *, font: Path = CAPTION_FONT, timeout_s: float = 600.0) -> None:
        self._font = font
        self._timeout_s = timeout_s

    async def generate(
        self,
        scene: Scene,
        *,
        size: tuple[int, int],
        fps: int,
        start_image: Path | None,
        out_dir: Path,
    ) -> ClipResult:
        clip_path = out_dir / f"scene_{scene.scene_number:02d}.mp4"
        last_frame = out_dir / f"scene_{scene.scene_number:02d}_last.jpg"
        caption_file = out_dir / f"scene_{scene.scene_number:02d}_caption.txt"
        await asyncio.to_thread(_write_caption, caption_file, wrap_caption(scene.action, size))
        frames = frame_count(scene.duration, fps)
        try:
            await run_ffmpeg(
                [
                    *self._arguments(scene, size, fps, frames, start_image, caption_file),
                    clip_path,
                    *("-map", "[last]", "-frames:v", "1", "-q:v", "2", "-update", "1"),
                    last_frame,
                ],
                what=f"scene {scene.scene_number} clip",
                timeout_s=self._timeout_s,
            )
        finally:
            await asyncio.to_thread(caption_file.unlink, missing_ok=True)
        log.info(
            "scene_clip_rendered",
            scene=scene.scene_number,
            frames=frames,
            size=f"{size[0]}x{size[1]}",
            continuity=start_image is not None,
        )
        return ClipResult(path=clip_path, last_frame_path=last_frame)

    def _arguments(
        self,
        scene: Scene,
        size: tuple[int, int],
        fps: int,
        frames: int,
        start_image: Path | None,
        caption_file: Path,
    ) -> list[str | Path]:
        base = looks.base_size(size)
        sky, glow = looks.sky_sources(scene, base)
        inputs: list[str | Path] = ["-f", "lavfi", "-i", sky, "-f", "lavfi", "-i", glow]
        motion = looks.motion_filter(scene.camera_move, frames, size, fps)
        last = looks.motion_filter(scene.camera_move, frames, size, fps, only_frame=frames - 1)
        # The last frame is drawn on its own from the one-frame still: taking it from a branch
        # of the moving picture would make ffmpeg hold every frame until the last one.
        graph = [
            f"[0:v][1:v]{looks.still_filters(scene, base)},trim=end_frame=1,split[still][end];"
            f"[still]{motion},setsar=1[moving];[end]{last},setsar=1[last]"
        ]
        picture = "moving"
        if start_image is not None:
            dissolve = min(CONTINUITY_DISSOLVE_S, scene.duration / 3)
            still = ["-loop", "1", "-framerate", str(fps), "-t", f"{dissolve + 1 / fps:.4f}"]
            inputs += [*still, "-i", start_image]
            # The start image fades out over the moving scene; overlay passes frames after it ends.
            graph.append(
                f"[2:v]{fit_filter(size)},fps={fps},format=yuva420p,"
                f"fade=t=out:st=0:d={dissolve:.4f}:alpha=1[start];"
                f"[moving][start]overlay=eof_action=pass:format=yuv420[picture]"
            )
            picture = "picture"
        graph.append(f"[{picture}]{self._caption_filter(size, caption_file)}[video]")
        return [
            *inputs,
            *("-filter_complex", ";".join(graph), "-map", "[video]"),
            *("-frames:v", str(frames), "-r", str(fps), *CLIP_ENCODING),
        ]

    def _caption_filter(self, size: tuple[int, int], caption_file: Path) -> str:
        height = size[1]
        font_size = caption_font_size(size)
        return (
            f"drawtext=fontfile={filter_path(self._font)}:textfile={filter_path(caption_file)}"
            f":expansion=none:fontsize={font_size}:fontcolor=white:line_spacing={font_size // 4}"
            f":box=1:boxcolor=black@0.45:boxborderw={font_size // 2}:text_align=C"
            f":x=(w-text_w)/2:y={int(height * 0.07)}:alpha='min(1,t/0.4)'"
        )


def _write_caption(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def fit_filter(size: tuple[int, int]) -> str:
    """Scale and centre-crop any picture to exactly `size`, square pixels, yuv420p."""
    width, height = size
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=increase,"
        f"crop={width}:{height},setsar=1,{looks.YUV420_TV}"
    )


def caption_font_size(size: tuple[int, int]) -> int:
    return max(12, round(min(size) * 0.042))


def wrap_caption(text: str, size: tuple[int, int]) -> str:
    """Wrap the action to the frame width, at most a few lines, ellipsised past that."""
    chars_per_line = max(12, int(size[0] * 0.86 / (caption_font_size(size) * 0.62)))
    lines = textwrap.wrap(" ".join(text.split()), width=chars_per_line)
    if len(lines) > MAX_CAPTION_LINES:
        lines = lines[:MAX_CAPTION_LINES]
        lines[-1] = lines[-1][: chars_per_line - 1].rstrip() + "…"
    return "\n".join(lines)
