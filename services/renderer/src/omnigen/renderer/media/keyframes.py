"""Local keyframes: one ffmpeg run draws a scene's still in the render's shared look (its palette
and grade replace the scene's own), fitted to the frame, as a JPEG.

Only the still comes from `looks` (the sky, light, the style's shapes and the graded land the
local clips draw too), so a keyframe and the clip that starts from it look alike.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import structlog

from omnigen.renderer.media import looks
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.reference import reference_hue
from omnigen.shared.domain.keyframes import Look
from omnigen.shared.domain.scripts import Scene

log = structlog.get_logger()


def in_look(scene: Scene, look: Look) -> Scene:
    """The scene as the shared look paints it: one palette (mood) and grade for every scene."""
    return scene.model_copy(update={"mood": look.mood, "color_grade": look.grade})


class LocalKeyframeGenerator:
    """The offline KeyframeGenerator: the scene's still, drawn from the shared look."""

    def __init__(self, *, timeout_s: float = 120.0) -> None:
        self._timeout_s = timeout_s

    async def generate(
        self,
        scene: Scene,
        *,
        look: Look,
        size: tuple[int, int],
        out_path: Path,
        style_reference: Path | None = None,
        palette_seed: str = "",
    ) -> Path:
        await anyio.Path(out_path.parent).mkdir(parents=True, exist_ok=True)
        hue = None if style_reference is None else await reference_hue(style_reference)
        painted = in_look(scene, look)
        style = looks.style_look(look.style)
        picture = looks.picture_size(size, style)
        base = looks.base_size(picture)
        # the clips' palette seed (the job's), so the keyframe and its clip share one hue
        seed = palette_seed or str(look.seed)
        width, height = size
        graph = (
            f"{looks.still_graph(painted, base, style, looks.palette_hue(seed, hue), seed)};"
            f"[still]trim=end_frame=1,crop={picture[0]}:{picture[1]},setsar=1,"
            f"{looks.letterbox_filter(size, picture)}[keyframe]"
        )
        await run_ffmpeg(
            ["-filter_complex", graph, "-map", "[keyframe]",
             "-frames:v", "1", "-q:v", "2", "-update", "1", out_path],
            what=f"scene {scene.scene_number} keyframe",
            timeout_s=self._timeout_s,
        )  # fmt: skip
        log.info("scene_keyframe_drawn", scene=scene.scene_number, size=f"{width}x{height}")
        return out_path
