"""Settings shared by every service (pydantic-settings, env prefix `OMNIGEN_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.shared.resources import DEFAULT_PREFIX, ResourceSpec, resource_spec


class AwsSettings(BaseSettings):
    """Where the AWS resources are. Endpoints left unset fall back to botocore's own resolution
    (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, ... or real AWS)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    region: str = Field(default="us-east-1", description="AWS region")
    endpoint_url: str | None = Field(default=None, description="one endpoint for every service")
    dynamodb_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    sns_endpoint_url: str | None = None
    s3_endpoint_url: str | None = None
    resource_prefix: str = Field(default=DEFAULT_PREFIX, pattern=r"^[a-z][a-z0-9-]{1,40}$")
    bucket_name: str | None = Field(default=None, description="overrides <prefix>-assets")
    max_pool_connections: int = Field(default=50, ge=1)

    def endpoint_for(self, service: str) -> str | None:
        specific: str | None = getattr(self, f"{service}_endpoint_url", None)
        return specific or self.endpoint_url

    @property
    def resources(self) -> ResourceSpec:
        return resource_spec(self.resource_prefix, self.bucket_name)


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_LOG_", extra="ignore")

    level: str = "INFO"
    json_output: bool = Field(default=True, alias="OMNIGEN_LOG_JSON")
