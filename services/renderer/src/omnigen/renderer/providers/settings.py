"""Which clip, narration and music providers the renderer uses, and how to reach the hosted ones.

Everything comes from `OMNIGEN_*` environment variables. The defaults are the local providers,
so the pipeline runs offline with no credentials; choosing a hosted one without its credential
is a start-up error rather than a failed job later.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from omnigen.shared.domain.media import OPENAI_VOICES
from omnigen.shared.domain.usage import DEFAULT_PRICE_TABLE, PriceTable
from omnigen.shared.providers import ProviderRetrySettings

# The built-in voices of OpenAI's speech endpoint (omnigen.shared.domain.media); other job voices
# fall back to `speech_voice`.
__all__ = ["OPENAI_VOICES", "ProviderSettings"]


class ProviderSettings(ProviderRetrySettings):
    """Provider choice and the hosted providers' endpoints, models, budgets and credentials;
    retries follow the shared `OMNIGEN_PROVIDER_RETRY_*` settings."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    clip_provider: Literal["local", "replicate"] = "local"
    narration_provider: Literal["local", "openai"] = "local"
    music_provider: Literal["local", "replicate"] = "local"

    replicate_api_token: SecretStr | None = None
    price_table: PriceTable | None = Field(
        default=None,
        description="JSON: the versioned prices a completed job's usage is costed with "
        "(version, llm_input_per_million_tokens, llm_output_per_million_tokens, "
        "clip_per_second, speech_per_million_characters, music_per_second; USD); unset: "
        f"the table shipped in the package (version {DEFAULT_PRICE_TABLE.version})",
    )

    replicate_base_url: str | None = Field(
        default=None, description="None: the replicate client's own default endpoint"
    )
    replicate_video_model: str = Field(
        default="kwaivgi/kling-v2.1", description="owner/name, or owner/name:version"
    )
    replicate_video_durations: tuple[int, ...] = Field(
        default=(5, 10), min_length=1, description="clip lengths (s) the video model accepts"
    )
    replicate_video_start_image_field: str = Field(
        default="start_image", description="the model's input for the first frame (veo: image)"
    )
    replicate_video_style_reference_field: str = Field(
        default="",
        pattern=r"^$|^[a-z][a-z0-9_]{0,39}$",
        description="the video model's input for the job's style_reference_image (a data URI); "
        "empty: the model takes none (kling-v2.1 takes none; its keyframes carry the style)",
    )
    replicate_video_extra_input: dict[str, Any] = Field(
        default_factory=dict, description='model-specific inputs, e.g. {"mode": "standard"}'
    )
    keyframe_provider: Literal["local", "replicate"] | None = Field(
        default=None,
        description="who draws keyframes (keyframes continuity); unset: replicate when the "
        "clips are, else local",
    )
    replicate_image_model: str = Field(
        default="black-forest-labs/flux-schnell",
        description="the keyframe image model: owner/name, or owner/name:version",
    )
    replicate_image_style_reference_field: str = Field(
        default="",
        pattern=r"^$|^[a-z][a-z0-9_]{0,39}$",
        description="the image model's input for the job's style_reference_image (a data URI), "
        "e.g. image_prompt for FLUX 1.1 pro; empty (the default flux-schnell has no such "
        "input): the model takes none",
    )
    replicate_image_extra_input: dict[str, Any] = Field(
        default_factory=dict, description='model-specific inputs, e.g. {"go_fast": true}'
    )
    replicate_music_model: str = "meta/musicgen"
    replicate_music_max_duration_s: int = Field(
        default=30, ge=1, description="longest bed the music model makes; longer beds loop it"
    )
    replicate_music_extra_input: dict[str, Any] = Field(
        default_factory=lambda: {
            "model_version": "stereo-melody-large",
            "output_format": "wav",
            "normalization_strategy": "peak",
        }
    )
    replicate_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="first wait before asking whether a prediction finished (then x1.5)",
    )
    replicate_poll_max_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="longest wait between two asks: a finished prediction waits at most this "
        "long to be noticed (a 15 s cap cost up to 15 s on every clip and keyframe)",
    )
    replicate_deadline_s: float = Field(
        default=300.0, gt=0, le=3600, description="per prediction, from create to output"
    )
    replicate_download_max_bytes: int = Field(default=1_000_000_000, gt=0)

    speech_api_key: SecretStr | None = None
    speech_base_url: str | None = Field(
        default=None, description="any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    speech_model: str = "gpt-4o-mini-tts"
    speech_voice: str = Field(default="alloy", description="used when the job names no voice")
    speech_voices: tuple[str, ...] = Field(
        default=OPENAI_VOICES, description="voices a job may ask for; others use speech_voice"
    )
    speech_timeout_s: float = Field(default=120.0, gt=0, le=600, description="per attempt")
    speech_language_field: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="the request field that carries the job's language to an OpenAI-compatible "
        "server that takes one (e.g. lang_code); unset: not sent (OpenAI reads it from the text)",
    )

    @model_validator(mode="after")
    def _hosted_providers_have_credentials(self) -> ProviderSettings:
        uses_replicate = "replicate" in (
            self.clip_provider,
            self.music_provider,
            self.keyframe_provider,
        )
        if uses_replicate and not _has_secret(self.replicate_api_token):
            raise ValueError("OMNIGEN_REPLICATE_API_TOKEN is required for the Replicate providers")
        if self.narration_provider == "openai" and not _has_secret(self.speech_api_key):
            raise ValueError("OMNIGEN_SPEECH_API_KEY is required for the OpenAI speech narrator")
        if self.replicate_poll_max_interval_s < self.replicate_poll_interval_s:
            raise ValueError("replicate_poll_max_interval_s must be >= replicate_poll_interval_s")
        return self

    @property
    def keyframes(self) -> Literal["local", "replicate"]:
        """Who draws keyframes: as configured, else whoever makes the clips."""
        return self.keyframe_provider or self.clip_provider

    @property
    def prices(self) -> PriceTable:
        """The price table a completed job's usage is costed with."""
        return self.price_table or DEFAULT_PRICE_TABLE


def _has_secret(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value())
