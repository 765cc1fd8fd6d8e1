"""Which script writer to run and how to reach its model, from `OMNIGEN_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WriterSettings(BaseSettings):
    """With no API key the offline planner writes scripts, so the pipeline runs without one."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    script_writer: Literal["auto", "planner", "openai"] = Field(
        default="auto", description="auto: OpenAI when an API key is set, else the planner"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(
        default=None, description="any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=60.0, gt=0, le=600)
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    openai_retry_base_delay_s: float = Field(default=0.5, ge=0, le=60)
    openai_retry_max_delay_s: float = Field(default=8.0, ge=0, le=300)
    openai_max_retry_after_s: float = Field(
        default=60.0, ge=0, le=600, description="a longer Retry-After fails at once"
    )
    openai_max_completion_tokens: int | None = Field(default=None, ge=256)

    @property
    def uses_openai(self) -> bool:
        has_key = self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())
        return self.script_writer == "openai" or (self.script_writer == "auto" and has_key)
