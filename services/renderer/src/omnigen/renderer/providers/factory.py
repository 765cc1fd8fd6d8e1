"""Build the renderer's clip, narration and music providers from settings.

Local adapters are the default and are imported only when chosen (the espeak narrator loads its
native library on import); hosted ones share one Replicate client between clips and music.
"""

from __future__ import annotations

from typing import NamedTuple

from omnigen.renderer.ports import ClipGenerator, KeyframeGenerator, MusicSource, Narrator
from omnigen.renderer.providers.replicate_predictions import PredictionBudget, ReplicatePredictions
from omnigen.renderer.providers.settings import ProviderSettings


class Providers(NamedTuple):
    """The four ports, plus `aclose` for the HTTP clients the hosted ones hold."""

    clips: ClipGenerator
    narrator: Narrator
    music: MusicSource
    keyframes: KeyframeGenerator | None = None  # None: drawn locally

    async def aclose(self) -> None:
        for provider in self:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


def build_providers(settings: ProviderSettings) -> Providers:
    """The configured adapters; hosted ones need their credentials (checked by the settings)."""
    predictions = _replicate(settings) if _uses_replicate(settings) else None
    return Providers(
        clips=_clips(settings, predictions),
        narrator=_narrator(settings),
        music=_music(settings, predictions),
        keyframes=_keyframes(settings, predictions),
    )


def _uses_replicate(settings: ProviderSettings) -> bool:
    return "replicate" in (settings.clip_provider, settings.music_provider, settings.keyframes)


def _replicate(settings: ProviderSettings) -> ReplicatePredictions:
    token = settings.replicate_api_token.get_secret_value() if settings.replicate_api_token else ""
    budget = PredictionBudget(
        deadline_s=settings.replicate_deadline_s,
        poll_interval_s=settings.replicate_poll_interval_s,
        poll_max_interval_s=settings.replicate_poll_max_interval_s,
        retry=settings.retry_policy,
        download_max_bytes=settings.replicate_download_max_bytes,
    )
    return ReplicatePredictions(
        api_token=token, base_url=settings.replicate_base_url, budget=budget
    )


def _clips(settings: ProviderSettings, predictions: ReplicatePredictions | None) -> ClipGenerator:
    if settings.clip_provider == "replicate" and predictions is not None:
        from omnigen.renderer.providers.replicate_clips import ReplicateClipGenerator

        return ReplicateClipGenerator(
            predictions,
            model=settings.replicate_video_model,
            durations=settings.replicate_video_durations,
            start_image_field=settings.replicate_video_start_image_field,
            style_reference_field=settings.replicate_video_style_reference_field,
            extra_input=settings.replicate_video_extra_input,
        )
    from omnigen.renderer.media.clips import LocalClipGenerator

    return LocalClipGenerator()


def _narrator(settings: ProviderSettings) -> Narrator:
    if settings.narration_provider == "openai":
        from omnigen.renderer.providers.openai_speech import OpenAISpeechNarrator

        return OpenAISpeechNarrator.from_settings(settings)
    from omnigen.renderer.media.narration import EspeakNarrator

    return EspeakNarrator()


def _music(settings: ProviderSettings, predictions: ReplicatePredictions | None) -> MusicSource:
    if settings.music_provider == "replicate" and predictions is not None:
        from omnigen.renderer.providers.replicate_music import ReplicateMusicSource

        return ReplicateMusicSource(
            predictions,
            model=settings.replicate_music_model,
            max_duration_s=settings.replicate_music_max_duration_s,
            extra_input=settings.replicate_music_extra_input,
        )
    from omnigen.renderer.media.music import SynthMusicSource

    return SynthMusicSource()


def _keyframes(
    settings: ProviderSettings, predictions: ReplicatePredictions | None
) -> KeyframeGenerator:
    if settings.keyframes == "replicate" and predictions is not None:
        from omnigen.renderer.providers.replicate_keyframes import ReplicateKeyframeGenerator

        return ReplicateKeyframeGenerator(
            predictions,
            model=settings.replicate_image_model,
            style_reference_field=settings.replicate_image_style_reference_field,
            extra_input=settings.replicate_image_extra_input,
        )
    from omnigen.renderer.media.keyframes import LocalKeyframeGenerator

    return LocalKeyframeGenerator()
