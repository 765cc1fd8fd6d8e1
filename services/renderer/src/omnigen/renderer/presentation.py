"""A job's language, voice, caption and music options as the render needs them, and its
sidecar caption files (SRT and WebVTT beside the video, the burned captions' very cues)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from omnigen.renderer.media.captions import CaptionCue, write_srt, write_vtt
from omnigen.renderer.media.compose import Presentation
from omnigen.renderer.ports import ClipLook
from omnigen.shared.domain.creative import loudness_target
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.media import CaptionOptions, MusicOptions, safe_zone
from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.domain.scripts import Mood, Script
from omnigen.shared.ports import AssetStore, captions_key

SIDECAR_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt"}


def caption_options(job: Job) -> CaptionOptions:
    return job.options.captions or CaptionOptions()


def music_options(job: Job) -> MusicOptions:
    return job.options.music or MusicOptions()


def music_mood(job: Job, script_mood: Mood) -> Mood | None:
    """The music bed's mood, or None for a job that asked for no music."""
    music = music_options(job)
    return None if music.silent else music.mood_for(script_mood)


def presentation_for(job: Job) -> Presentation:
    captions, music = caption_options(job), music_options(job)
    return Presentation(
        language=job.options.language,
        caption_style=captions.style,
        caption_position=captions.position,
        safe_zone=safe_zone(job.aspect_ratio.value, job.options.platform),
        music_volume_db=music.volume_db,
        ducking=music.ducking,
        loudness_lufs=loudness_target(job.options.platform),
    )


def clip_look(job: Job, script: Script) -> ClipLook:
    """One look for all of a job's scenes: its palette comes from the job id, so every scene
    (and a re-render) shares it; the title card says the job's title, else the script's."""
    style = getattr(job.options, "style", None)
    return ClipLook(
        palette_seed=job.job_id,
        style=None if style is None else str(getattr(style, "value", style)),
        title=getattr(job.options, "title", None) or script.title,
        language=job.options.language,
        safe_zone=safe_zone(job.aspect_ratio.value, job.options.platform),
        caption_position=caption_options(job).position,
    )


async def upload_sidecars(
    assets: AssetStore,
    job: Job,
    render_id: str,
    cues: Sequence[CaptionCue],
    work: Path,
) -> RenderProgress:
    """SRT and WebVTT beside the video when the job asked for them; their keys as progress."""
    if not caption_options(job).mode.sidecar:
        return RenderProgress()
    paths = {"srt": work / "captions.srt", "vtt": work / "captions.vtt"}
    await asyncio.to_thread(write_srt, cues, paths["srt"])
    await asyncio.to_thread(write_vtt, cues, paths["vtt"], job.options.language)
    keys = {ext: captions_key(job.job_id, render_id, ext) for ext in paths}
    for ext, path in paths.items():
        await assets.put_file(keys[ext], path, SIDECAR_TYPES[ext])
    return RenderProgress(captions_srt_key=keys["srt"], captions_vtt_key=keys["vtt"])
