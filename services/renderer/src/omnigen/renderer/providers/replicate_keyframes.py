"""KeyframeGenerator on a Replicate image model (e.g. FLUX schnell): the scene's prompt in the
render's shared look (style, palette, grade) with the shared seed, so the scenes belong
together; one ffmpeg pass fits the image to the frame as a JPEG (what the clip model starts
from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import structlog

from omnigen.renderer.media.clips import fit_filter
from omnigen.renderer.media.errors import FfmpegFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.renderer.providers.replicate_clips import image_data_uri, model_aspect_ratio
from omnigen.renderer.providers.replicate_predictions import PROVIDER, ReplicatePredictions
from omnigen.shared.domain.keyframes import Look
from omnigen.shared.domain.scripts import Scene

log = structlog.get_logger()


class ReplicateKeyframeGenerator:
    """The hosted KeyframeGenerator; shares the Replicate client with the clips."""

    def __init__(
        self,
        predictions: ReplicatePredictions,
        *,
        model: str,
        style_reference_field: str = "",
        extra_input: dict[str, Any] | None = None,
    ) -> None:
        self._predictions = predictions
        self._model = model
        self._style_reference_field = style_reference_field
        self._extra_input = dict(extra_input or {})

    async def aclose(self) -> None:
        await self._predictions.aclose()

    async def generate(
        self,
        scene: Scene,
        *,
        look: Look,
        size: tuple[int, int],
        out_path: Path,
        style_reference: Path | None = None,
        palette_seed: str = "",  # the model draws its own palette from `look`
    ) -> Path:
        await anyio.Path(out_path.parent).mkdir(parents=True, exist_ok=True)
        what = f"scene {scene.scene_number} keyframe"
        inputs = self.prediction_input(scene, look, size)
        if style_reference is not None and self._style_reference_field:
            inputs[self._style_reference_field] = await image_data_uri(style_reference)
        raw = await self._predictions.run(
            model=self._model,
            inputs=inputs,
            what=what,
            dest_stem=out_path.with_name(f"{out_path.stem}_raw"),
        )
        try:
            await run_ffmpeg(
                ["-i", raw, "-vf", fit_filter(size), "-frames:v", "1", "-q:v", "2",
                 "-update", "1", out_path],
                what=f"fitting the {what}",
            )  # fmt: skip
        except FfmpegFailed as err:
            raise ProviderFailed(
                f"the image Replicate made for {what} could not be used: {err.reason}",
                provider=PROVIDER,
            ) from err
        finally:
            await anyio.Path(raw).unlink(missing_ok=True)
        log.info("scene_keyframe_drawn", scene=scene.scene_number, provider=PROVIDER,
                 model=self._model, size=f"{size[0]}x{size[1]}")  # fmt: skip
        return out_path

    def prediction_input(self, scene: Scene, look: Look, size: tuple[int, int]) -> dict[str, Any]:
        """Operator extras, then the prompt in the shared look, its seed and the frame's shape."""
        return {
            "output_format": "jpg",
            "num_outputs": 1,
            **self._extra_input,
            "prompt": keyframe_prompt(scene, look),
            "seed": look.seed,
            "aspect_ratio": model_aspect_ratio(size),
        }


def keyframe_prompt(scene: Scene, look: Look) -> str:
    """The scene's first frame, painted in the look every scene of the video shares."""
    return (
        f"{scene.generation_prompt.strip()} "
        f"Style: {look.style}. Palette: {look.mood.value}. "
        f"Colour grade: {look.grade.value.replace('_', ' ')}. "
        f"Lighting: {scene.lighting.value.replace('_', ' ')}. "
        "A single cinematic still frame. No text, captions or watermarks."
    )
