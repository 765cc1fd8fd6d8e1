"""A job's style reference image, as the locally drawn pictures follow it: its average colour's
hue becomes the palette's hue (`looks.job_hue` otherwise), so a red reference paints warm
scenes and a blue one cool scenes. Hosted models take the image itself."""

from __future__ import annotations

import colorsys
from pathlib import Path

from omnigen.renderer.media.ffmpeg import run_ffmpeg

# The sky, most of the picture, spans the palette's hue to 35 degrees past it: its middle is
# put on the reference's hue.
SKY_MIDDLE_TURN = 17.5
# Below this saturation (0-1) the average colour is a grey: its hue says nothing.
GREY_SATURATION = 0.06


async def reference_hue(path: Path) -> float | None:
    """The palette hue (degrees) that puts the sky's middle on the hue of the image's average
    colour: one ffmpeg run scales it to one pixel and prints that pixel; None for an image
    whose average is a grey."""
    run = await run_ffmpeg(
        ["-i", path, "-vf", "scale=1:1:flags=area,format=rgb24", "-frames:v", "1",
         "-f", "rawvideo", "-"],
        what="reading the style reference image",
        timeout_s=60.0,
    )  # fmt: skip
    red, green, blue = (channel / 255 for channel in run.stdout[:3])
    hue, _, saturation = colorsys.rgb_to_hls(red, green, blue)
    if saturation < GREY_SATURATION:
        return None
    return round((hue * 360 - SKY_MIDDLE_TURN) % 360, 1)
