"""The hosted-provider retry settings every service that calls a provider shares."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.shared.providers.retry import RetryPolicy


class ProviderRetrySettings(BaseSettings):
    """`OMNIGEN_PROVIDER_RETRY_*`: a base for the services' provider settings, so the script
    model, speech and Replicate are all equally patient."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    provider_retry_budget_s: float = Field(
        default=300.0, gt=0, le=3600, description="how long one call keeps retrying"
    )
    provider_retry_base_delay_s: float = Field(default=1.0, ge=0, le=60)
    provider_retry_max_delay_s: float = Field(default=30.0, ge=0, le=300)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            budget_s=self.provider_retry_budget_s,
            base_delay_s=self.provider_retry_base_delay_s,
            max_delay_s=self.provider_retry_max_delay_s,
        )
