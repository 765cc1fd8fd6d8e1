"""MusicSource on a Replicate music model (e.g. meta/musicgen): a bed from the script's mood.

Music models cap their length (musicgen: about 30 s), so a longer bed loops the output; one
ffmpeg pass turns whatever came back into a faded 44.1 kHz stereo 16-bit WAV of at least the
asked length.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import structlog

from omnigen.renderer.media.errors import FfmpegFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.renderer.providers.replicate_predictions import PROVIDER, ReplicatePredictions
from omnigen.shared.domain.scripts import Mood
from omnigen.shared.domain.usage import count_usage

log = structlog.get_logger()

SAMPLE_RATE = 44_100  # as the local bed, so the mix sees one format whichever source ran
TAIL_S = 0.05  # rounding margin so the bed is never a sample short
NORMALISE_TIMEOUT_S = 300.0


class ReplicateMusicSource:
    """The hosted MusicSource."""

    def __init__(
        self,
        predictions: ReplicatePredictions,
        *,
        model: str,
        max_duration_s: int = 30,
        extra_input: dict[str, Any] | None = None,
    ) -> None:
        self._predictions = predictions
        self._model = model
        self._max_duration_s = max_duration_s
        self._extra_input = dict(extra_input or {})

    async def aclose(self) -> None:
        await self._predictions.aclose()

    async def generate(self, mood: Mood, style: str, duration_s: float, out_path: Path) -> Path:
        await anyio.Path(out_path.parent).mkdir(parents=True, exist_ok=True)
        asked = max(1, min(math.ceil(duration_s), self._max_duration_s))
        inputs = {**self._extra_input, "prompt": music_prompt(mood, style), "duration": asked}
        raw = await self._predictions.run(
            model=self._model,
            inputs=inputs,
            what="music",
            dest_stem=out_path.with_name(out_path.stem + "_raw"),
        )
        count_usage(music_calls=1, music_seconds=asked)
        try:
            await run_ffmpeg(
                ["-stream_loop", "-1", "-i", raw, "-map", "0:a:0", "-af", bed_filter(duration_s),
                 "-ar", str(SAMPLE_RATE), "-ac", "2", "-c:a", "pcm_s16le", out_path],
                what="normalising the music",
                timeout_s=NORMALISE_TIMEOUT_S,
            )  # fmt: skip
        except FfmpegFailed as err:
            raise ProviderFailed(
                f"the music Replicate made could not be used: {err.reason}", provider=PROVIDER
            ) from err
        finally:
            await anyio.Path(raw).unlink(missing_ok=True)
        log.info(
            "music_generated",
            provider=PROVIDER,
            model=self._model,
            seconds=round(duration_s, 2),
            looped=asked < duration_s,
        )
        return out_path


def bed_filter(duration_s: float) -> str:
    """Cut the looped output to length with a short fade in and a longer fade out."""
    length = duration_s + TAIL_S
    fade_out = min(2.0, duration_s / 4)
    return (
        f"atrim=0:{length:.3f},afade=t=in:d={min(0.5, duration_s / 4):.3f},"
        f"afade=t=out:st={length - fade_out:.3f}:d={fade_out:.3f}"
    )


def music_prompt(mood: Mood, style: str) -> str:
    return f"{style.strip()}, {mood.value} mood, instrumental background music, no vocals"
