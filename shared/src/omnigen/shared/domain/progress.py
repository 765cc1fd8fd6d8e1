"""What a job has produced so far, as the workers record it in the job's `metadata` map.

The repository merges `metadata` key by key in one conditional write, so progress is stored as
flat keys (a scene's clip key is written without reading the others). This model is the one
place that names those keys: writers build a `RenderProgress` with only what they know and
store `.metadata()`; readers take `RenderProgress.of(job.metadata)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

_SCENE_CLIP: Final = re.compile(r"^scene_([1-9][0-9]*)_clip_key$")


def _scene_clip_key_name(scene_number: int) -> str:
    return f"scene_{scene_number}_clip_key"


class RenderProgress(BaseModel):
    """Scenes planned and finished, each finished scene's clip, the audio, and the video's
    facts once it is composed. Every field is optional: a write carries what it learned."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    scenes_total: int | None = Field(default=None, ge=1)
    scenes_complete: int | None = Field(default=None, ge=0)
    scene_clip_keys: dict[int, str] = Field(default_factory=dict)
    music_mood: str | None = None
    narration_s: float | None = Field(default=None, ge=0)
    thumbnail_key: str | None = None
    video_duration_s: float | None = Field(default=None, ge=0)
    video_bytes: int | None = Field(default=None, ge=0)
    resolution: str | None = None
    captions_srt_key: str | None = None  # sidecar captions (captions mode sidecar or both)
    captions_vtt_key: str | None = None

    def metadata(self) -> dict[str, Any]:
        """The flat `metadata` entries this progress writes (unset fields write nothing)."""
        plain = self.model_dump(exclude_none=True, exclude={"scene_clip_keys"})
        clips = {_scene_clip_key_name(n): key for n, key in self.scene_clip_keys.items()}
        return {**plain, **clips}

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> RenderProgress:
        """Read progress back from a job's `metadata` (unknown keys are ignored)."""
        clips = {
            int(match.group(1)): str(value)
            for key, value in metadata.items()
            if (match := _SCENE_CLIP.match(key)) and value
        }
        known = {k: v for k, v in metadata.items() if k in cls.model_fields and v is not None}
        if "scenes_total" not in known and metadata.get("scene_count"):
            known["scenes_total"] = metadata["scene_count"]  # jobs written before this model
        return cls.model_validate({**known, "scene_clip_keys": clips})

    def clip_key(self, scene_number: int) -> str | None:
        return self.scene_clip_keys.get(scene_number)


__all__ = ["RenderProgress"]
