"""Media errors; each message is what the job's `error_message` will say."""

from __future__ import annotations

from omnigen.shared.domain.errors import OmnigenError


class MediaError(OmnigenError):
    """A media step (clip, narration, music, composition, probe) could not be done."""


class FfmpegFailed(MediaError):
    """ffmpeg exited non-zero or timed out; the reason carries the tail of its stderr."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step} failed: {reason}")
        self.step = step
        self.reason = reason


class NarrationFailed(MediaError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"narration failed: {reason}")
        self.reason = reason


class ProbeFailed(MediaError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read media {path}: {reason}")
        self.reason = reason
