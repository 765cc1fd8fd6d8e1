"""ClipGenerator on a Replicate video model (e.g. Kling or Veo), continuity by start image.

Models answer in their own size, frame rate and a few fixed lengths; one ffmpeg pass turns the
download into what the composition expects (the local clips' format: exact size by scale and
centre-crop, constant frame rate, exact frame count, H.264, no audio) and saves the last frame.
"""

from __future__ import annotations

import base64
import math
import mimetypes
from pathlib import Path
from typing import Any

import anyio
import structlog

from omnigen.renderer.media.clips import CLIP_ENCODING, fit_filter, frame_count, save_last_frame
from omnigen.renderer.media.errors import FfmpegFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.ports import ClipLook, ClipResult
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.renderer.providers.replicate_predictions import PROVIDER, ReplicatePredictions
from omnigen.shared.domain.scripts import CameraMove, Scene
from omnigen.shared.domain.usage import count_usage

log = structlog.get_logger()

NORMALISE_TIMEOUT_S = 600.0
DATA_URI_MAX_BYTES = 700_000  # base64 adds a third; Replicate advises data URIs under 1 MB
START_IMAGE_MAX_SIDE = 1280
# Aspect ratios video models commonly accept; a size is asked for as the nearest one.
MODEL_ASPECT_RATIOS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


class ReplicateClipGenerator:
    """The hosted ClipGenerator; the job's scene text becomes the model's prompt."""

    # Image-to-video: `keyframes` continuity is its default (every clip in parallel from its
    # keyframe, about one prediction's time for the job, instead of one per scene in `chain`).
    prefers_keyframes = True

    def __init__(
        self,
        predictions: ReplicatePredictions,
        *,
        model: str,
        durations: tuple[int, ...] = (5, 10),
        start_image_field: str = "start_image",
        start_image_max_bytes: int = DATA_URI_MAX_BYTES,
        style_reference_field: str = "",
        extra_input: dict[str, Any] | None = None,
    ) -> None:
        if not durations:
            raise ValueError("the video model needs at least one clip duration")
        self._predictions = predictions
        self._model = model
        self._durations = tuple(sorted(durations))
        self._start_image_field = start_image_field
        self._start_image_max_bytes = start_image_max_bytes
        self._style_reference_field = style_reference_field
        self._extra_input = dict(extra_input or {})

    async def aclose(self) -> None:
        await self._predictions.aclose()

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
        await anyio.Path(out_dir).mkdir(parents=True, exist_ok=True)
        stem = f"scene_{scene.scene_number:02d}"
        clip_path, last_frame = out_dir / f"{stem}.mp4", out_dir / f"{stem}_last.jpg"
        what = f"scene {scene.scene_number} clip"
        reference = look.style_reference if look is not None else None
        inputs = await self.prediction_input(scene, size, start_image, reference)
        raw = await self._predictions.run(
            model=self._model, inputs=inputs, what=what, dest_stem=out_dir / f"{stem}_raw"
        )
        billed = inputs.get("duration", scene.duration)  # the model bills the length it made
        count_usage(clip_calls=1, clip_seconds=float(billed))
        try:
            await normalise_clip(
                raw,
                clip_path,
                last_frame,
                size=size,
                fps=fps,
                frames=frame_count(scene.duration, fps),
                what=what,
            )
        except FfmpegFailed as err:
            raise ProviderFailed(
                f"the video Replicate made for {what} could not be used: {err.reason}",
                provider=PROVIDER,
            ) from err
        finally:
            await anyio.Path(raw).unlink(missing_ok=True)
        log.info(
            "scene_clip_rendered",
            scene=scene.scene_number,
            provider=PROVIDER,
            model=self._model,
            size=f"{size[0]}x{size[1]}",
            continuity=start_image is not None,
        )
        return ClipResult(path=clip_path, last_frame_path=last_frame)

    async def prediction_input(
        self,
        scene: Scene,
        size: tuple[int, int],
        start_image: Path | None,
        style_reference: Path | None = None,
    ) -> dict[str, Any]:
        """The model input: operator extras, then the scene's prompt, length, shape, start image
        and (when the model takes one) the job's style reference image."""
        inputs: dict[str, Any] = {
            **self._extra_input,
            "prompt": clip_prompt(scene),
            "duration": model_duration(scene.duration, self._durations),
            "aspect_ratio": model_aspect_ratio(size),
        }
        if start_image is not None:
            inputs[self._start_image_field] = await image_data_uri(
                start_image, max_bytes=self._start_image_max_bytes
            )
        if style_reference is not None and self._style_reference_field:
            inputs[self._style_reference_field] = await image_data_uri(
                style_reference, max_bytes=self._start_image_max_bytes
            )
        return inputs


def clip_prompt(scene: Scene) -> str:
    """The scene's own generation prompt plus the cinematography the script chose."""
    static = scene.camera_move is CameraMove.STATIC
    camera = "a static camera" if static else f"camera move: {_words(scene.camera_move)}"
    return (
        f"{scene.generation_prompt.strip()} "
        f"Shot: {_words(scene.shot_type)}, {_words(scene.camera_angle)} angle, {camera}. "
        f"Lighting: {_words(scene.lighting)}. Colour grade: {_words(scene.color_grade)}. "
        f"Mood: {_words(scene.mood)}. No text, captions or watermarks."
    )


def model_duration(seconds: float, durations: tuple[int, ...]) -> int:
    """The shortest length the model offers that covers the scene (else its longest)."""
    needed = math.ceil(seconds - 1e-6)
    return next((d for d in sorted(durations) if d >= needed), max(durations))


def model_aspect_ratio(size: tuple[int, int]) -> str:
    ratio = size[0] / size[1]
    return min(
        MODEL_ASPECT_RATIOS, key=lambda name: abs(math.log(MODEL_ASPECT_RATIOS[name] / ratio))
    )


async def image_data_uri(path: Path, *, max_bytes: int = DATA_URI_MAX_BYTES) -> str:
    """The start image inline, so no upload step sits between us and the model. Replicate
    advises data URIs only under 1 MB, so a bigger image is sent as a smaller JPEG."""
    data = await anyio.Path(path).read_bytes()
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    if len(data) > max_bytes:
        data, mime = await _smaller_jpeg(path), "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


async def _smaller_jpeg(path: Path) -> bytes:
    """`path` as a JPEG at most START_IMAGE_MAX_SIDE px on its long side, at medium quality."""
    side = START_IMAGE_MAX_SIDE
    run = await run_ffmpeg(
        ["-i", path, "-vf",
         f"scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease",
         "-frames:v", "1", "-q:v", "8", "-f", "mjpeg", "-"],
        what=f"shrinking the start image {path.name}",
    )  # fmt: skip
    return run.stdout


async def normalise_clip(
    raw: Path,
    clip_path: Path,
    last_frame: Path,
    *,
    size: tuple[int, int],
    fps: int,
    frames: int,
    what: str,
) -> None:
    """One decode and encode: fit to `size`, resample to `fps`, pad (repeat the last frame) or
    trim to exactly `frames`; then the final frame as a JPEG (`save_last_frame`)."""
    graph = (
        f"[0:v]{fit_filter(size)},fps={fps},tpad=stop={frames}:stop_mode=clone,"
        f"trim=end_frame={frames},setpts=PTS-STARTPTS[video]"
    )
    await run_ffmpeg(
        ["-i", raw, "-filter_complex", graph,
         "-map", "[video]", "-r", str(fps), *CLIP_ENCODING, clip_path],
        what=f"normalising the {what}",
        timeout_s=NORMALISE_TIMEOUT_S,
    )  # fmt: skip
    await save_last_frame(clip_path, last_frame, what=what, timeout_s=NORMALISE_TIMEOUT_S)


def _words(value: str) -> str:
    return str(value).replace("_", " ")
