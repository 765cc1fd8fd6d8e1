"""Which script writer to run and how to reach its model, from `OMNIGEN_*` environment variables."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from omnigen.shared.providers import ProviderRetrySettings

# What a keyless local model server (Ollama, llama.cpp's llama-server, vLLM) is sent as its
# API key: the openai client needs one, and those servers ignore it.
LOCAL_SERVER_KEY: Final = "no-key"


class WriterSettings(ProviderRetrySettings):
    """With no API key the offline planner writes scripts, so the pipeline runs without one;
    retries follow the shared `OMNIGEN_PROVIDER_RETRY_*` settings."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    script_writer: Literal["auto", "planner", "openai"] = Field(
        default="auto", description="auto: OpenAI when an API key is set, else the planner"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(
        default=None,
        description="any OpenAI-compatible server, e.g. a local Ollama at "
        "http://127.0.0.1:11434/v1 (with a base URL the key may be left unset)",
    )
    openai_model: str = Field(default="gpt-4o-mini", description="e.g. llama3.1:8b on Ollama")
    openai_timeout_s: float = Field(default=60.0, gt=0, le=600, description="per attempt")
    openai_max_completion_tokens: int | None = Field(default=None, ge=256)

    @property
    def api_key(self) -> SecretStr | None:
        """The key to send: the configured one, else (a local server at a base URL, which
        needs none) a placeholder."""
        if self.openai_api_key is not None and self.openai_api_key.get_secret_value():
            return self.openai_api_key
        return SecretStr(LOCAL_SERVER_KEY) if self.openai_base_url else None

    @property
    def uses_openai(self) -> bool:
        has_key = self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())
        return self.script_writer == "openai" or (self.script_writer == "auto" and has_key)
