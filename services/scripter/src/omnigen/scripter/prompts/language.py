"""The language section of the system prompt: what the viewer hears and reads is written in the
job's language; what the video model reads stays English."""

from __future__ import annotations

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.media import language_info


def language_instruction(request: JobRequest) -> str:
    """The section for a job that names its language; empty for one that does not."""
    tag = request.options.language
    if tag is None:
        return ""
    name = language_info(tag).name
    return (
        f"\n## Language\nWrite everything the viewer hears or reads in {name} ({tag}): `title`, "
        f"every scene's `narration`, `audio_spec.voiceover_text` and "
        f"`metadata.call_to_action`, in natural {name} a native speaker would use. Write "
        "`generation_prompt`, `location`, `action`, `visual_style` and `music_style` in English "
        "for the video and music models, and keep every enum value exactly as the schema "
        "gives it.\n"
    )
