"""Local scene clips: one ffmpeg run draws a still from the scene's and the job's look, moves a
camera over it, opens the first scene on the title card, encodes once, and saves the last frame
for continuity. No prompt text is ever drawn: the picture carries the scene.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path

import structlog

from omnigen.renderer.media import looks
from omnigen.renderer.media.captions import safe_zone_for
from omnigen.renderer.media.ffmpeg import filter_path, run_ffmpeg
from omnigen.renderer.media.fonts import CAPTION_FONT, caption_font
from omnigen.renderer.media.reference import reference_hue
from omnigen.renderer.media.titles import TitleCard, write_title_card
from omnigen.renderer.ports import ClipLook, ClipResult
from omnigen.shared.domain.media import language_info
from omnigen.shared.domain.scripts import Scene

log = structlog.get_logger()

# What the composition relies on: H.264 yuv420p, constant frame rate, square pixels, no audio.
# ultrafast: the clip is an intermediate that is decoded once more, not delivered; keyframes
# every two seconds keep the composition's seeks (poster, cross-fade tails) short.
CLIP_ENCODING: tuple[str, ...] = (
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "60",
    "-pix_fmt", "yuv420p", "-an",
)  # fmt: skip
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
    """The offline ClipGenerator: a procedurally drawn, camera-moved scene in the job's look,
    the first one opening on the title card."""

    def __init__(self, *, timeout_s: float = 600.0) -> None:
        self._timeout_s = timeout_s

    async def generate(
        self,
        scene: Scene,
        *,
        size: tuple[int, int],
        fps: int,
        start_image: Path | None,
        out_dir: Path,
        look: ClipLook | None = None,
    ) -> ClipResult:
        look = look or ClipLook()
        if look.hue is None and look.style_reference is not None:
            look = replace(look, hue=await reference_hue(look.style_reference))
        stem = f"scene_{scene.scene_number:02d}"
        clip_path, last_frame = out_dir / f"{stem}.mp4", out_dir / f"{stem}_last.jpg"
        title_dir = out_dir / f"{stem}_title"
        frames = frame_count(scene.duration, fps)
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        try:
            title = await asyncio.to_thread(prepare_title_card, scene, look, size, title_dir)
            await run_ffmpeg(
                [
                    *synthetic_clip_arguments(scene, look, size, fps, frames, start_image, title),
                    clip_path,
                    *("-map", "[last]", "-frames:v", "1", "-q:v", "2", "-update", "1"),
                    last_frame,
                ],
                what=f"scene {scene.scene_number} clip",
                timeout_s=self._timeout_s,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, title_dir, ignore_errors=True)
        log.info(
            "scene_clip_rendered",
            scene=scene.scene_number,
            frames=frames,
            size=f"{size[0]}x{size[1]}",
            continuity=start_image is not None,
            style=looks.style_look(look.style).name,
            title_card=title is not None,
        )
        return ClipResult(path=clip_path, last_frame_path=last_frame)


def synthetic_clip_arguments(
    scene: Scene,
    look: ClipLook,
    size: tuple[int, int],
    fps: int,
    frames: int,
    start_image: Path | None,
    title: Path | None,
) -> list[str | Path]:
    """ffmpeg inputs, graph and encoding of a drawn scene: `[video]` is the clip, `[last]`
    its last frame without the title card (the next scene starts from it)."""
    inputs: list[str | Path] = []
    graph = synthetic_picture(scene, look, size, fps, frames)
    picture = "moving"
    if start_image is not None:
        dissolve = min(CONTINUITY_DISSOLVE_S, scene.duration / 3)
        still = ["-loop", "1", "-framerate", str(fps), "-t", f"{dissolve + 1 / fps:.4f}"]
        inputs += [*still, "-i", start_image]
        # The start image fades out over the moving scene; overlay passes frames after it ends.
        graph.append(
            f"[0:v]{fit_filter(size)},fps={fps},format=yuva420p,"
            f"fade=t=out:st=0:d={dissolve:.4f}:alpha=1[start];"
            f"[moving][start]overlay=eof_action=pass:format=yuv420[picture]"
        )
        picture = "picture"
    graph.append(f"[{picture}]{title_card_filter(title)}[video]")
    return [
        *inputs,
        *("-filter_complex", ";".join(graph), "-map", "[video]"),
        *("-frames:v", str(frames), "-r", str(fps), *CLIP_ENCODING),
    ]


def synthetic_picture(
    scene: Scene, look: ClipLook, size: tuple[int, int], fps: int, frames: int
) -> list[str]:
    """Graph chains drawing the scene's still once and moving the camera over it: `[moving]`
    and, drawn on its own from the one-frame still, `[last]` (taking it from a branch of the
    moving picture would make ffmpeg hold every frame until the last one)."""
    style = looks.style_look(look.style)
    picture = looks.picture_size(size, style)
    base = looks.base_size(picture)
    hue = looks.palette_hue(look.palette_seed, look.hue)
    motion = looks.motion_filter(scene.camera_move, frames, picture, fps)
    last = looks.motion_filter(scene.camera_move, frames, picture, fps, only_frame=frames - 1)
    bars = looks.letterbox_filter(size, picture)
    return [
        looks.still_graph(scene, base, style, hue, look.palette_seed),
        "[still]trim=end_frame=1,split[first][end]",
        f"[first]{motion},setsar=1,{bars}[moving]",
        f"[end]{last},setsar=1,{bars}[last]",
    ]


def prepare_title_card(
    scene: Scene, look: ClipLook, size: tuple[int, int], into: Path
) -> Path | None:
    """The first scene's title card as an ASS file, with its font beside it in `into/fonts`;
    None for any other scene, or a job without a title."""
    title = " ".join((look.title or "").split())
    if scene.scene_number != 1 or not title:
        return None
    info = language_info(look.language)
    font = caption_font(look.language, [title])
    style = looks.style_look(look.style)
    hue = looks.palette_hue(look.palette_seed, look.hue)
    card = TitleCard(
        title=title,
        font=font,
        zone=safe_zone_for(size, look.safe_zone),
        caption_position=look.caption_position,
        style=style,
        accent=looks.scene_colours(scene, hue, style).accent,
        rtl=info.rtl,
        latin=info.script == "Latn",
    )
    path = into / "title.ass"
    write_title_card(card, size, scene.duration, path)
    fonts = into / "fonts"
    fonts.mkdir()
    for font_file in {font.path, CAPTION_FONT}:
        (fonts / font_file.name).symlink_to(font_file)
    return path


def title_card_filter(title: Path | None) -> str:
    if title is None:
        return "null"
    fonts = title.parent / "fonts"
    return f"subtitles=filename={filter_path(title)}:fontsdir={filter_path(fonts)}"


def fit_filter(size: tuple[int, int]) -> str:
    """Scale and centre-crop any picture to exactly `size`, square pixels, yuv420p."""
    width, height = size
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=increase,"
        f"crop={width}:{height},setsar=1,{looks.YUV420_TV}"
    )
