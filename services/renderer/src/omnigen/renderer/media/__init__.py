"""Local media: ffmpeg from the imageio-ffmpeg wheel and espeak-ng from the espeakng-loader wheel.

`clips`, `narration` and `music` are the offline provider adapters; `compose` makes the final
video in one ffmpeg run; `probe` measures files without ffprobe.
"""
