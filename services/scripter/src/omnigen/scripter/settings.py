"""Which script writer to run and how to reach its model, from `OMNIGEN_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from omnigen.shared.providers import ProviderRetrySettings


class WriterSettings(ProviderRetrySettings):
    """With no API key the offline planner writes scripts, so the pipeline runs without one;
    retries follow the shared `OMNIGEN_PROVIDER_RETRY_*` settings."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    script_writer: Literal["auto", "planner", "openai"] = Field(
        default="auto", description="auto: OpenAI when an API key is set, else the planner"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(
        default=None, description="any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=60.0, gt=0, le=600, description="per attempt")
    openai_max_completion_tokens: int | None = Field(default=None, ge=256)

    @property
    def uses_openai(self) -> bool:
        has_key = self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())
        return self.script_writer == "openai" or (self.script_writer == "auto" and has_key)
