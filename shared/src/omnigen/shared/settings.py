"""Settings shared by every service (pydantic-settings, env prefix `OMNIGEN_`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.resources import (
    DEFAULT_PREFIX,
    PUBLISHER_NAME,
    Queue,
    ResourceSpec,
    resource_spec,
)


class AwsSettings(BaseSettings):
    """Where the AWS resources are. Endpoints left unset fall back to botocore's own resolution
    (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, ... or real AWS)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    region: str = Field(default="us-east-1", description="AWS region")
    endpoint_url: str | None = Field(default=None, description="one endpoint for every service")
    dynamodb_endpoint_url: str | None = Field(default=None, description="DynamoDB's own endpoint")
    sqs_endpoint_url: str | None = Field(default=None, description="SQS's own endpoint")
    sns_endpoint_url: str | None = Field(default=None, description="SNS's own endpoint")
    s3_endpoint_url: str | None = Field(default=None, description="S3's own endpoint")
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="the S3 endpoint presigned links point at, when clients reach S3 by "
        "another address than the services (docker-compose: the host's 127.0.0.1:4566)",
    )
    resource_prefix: str = Field(
        default=DEFAULT_PREFIX,
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="names every topic, queue, table and bucket: <prefix>-jobs, ...",
    )
    bucket_name: str | None = Field(default=None, description="overrides <prefix>-assets")
    max_pool_connections: int = Field(default=50, ge=1)
    upstream_publishers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON: upstream publisher name -> the IAM principals (account root or role "
        "ARNs) that alone may publish to its own requests topic <prefix>-job-requests-<name> "
        "(bootstrap creates it; ingest's OMNIGEN_UPSTREAM_USER_RULES says whom it may act for)",
    )

    web_origins: list[str] = Field(
        default_factory=list,
        description='JSON list: origins of the web page (e.g. ["http://localhost:8000"]) '
        "whose uploads may POST to the bucket: bootstrap gives the bucket the CORS rule "
        "Terraform's web_origins gives it (empty: bootstrap sets none)",
    )

    @field_validator("web_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest:
                raise ValueError(f"{origin!r}: an origin is scheme://host[:port], no path")
        return value

    @field_validator("upstream_publishers")
    @classmethod
    def _publisher_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, principals in value.items():
            if not PUBLISHER_NAME.match(name):
                raise ValueError(f"publisher name {name!r}: lowercase letters, digits and '-'")
            if not principals or not all(p.startswith("arn:") for p in principals):
                raise ValueError(f"publisher {name!r}: one or more principal ARNs")
        return value

    def endpoint_for(self, service: str) -> str | None:
        specific: str | None = getattr(self, f"{service}_endpoint_url", None)
        return specific or self.endpoint_url

    @property
    def resources(self) -> ResourceSpec:
        return resource_spec(
            self.resource_prefix, self.bucket_name, self.upstream_publishers, self.web_origins
        )


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_LOG_", extra="ignore")

    level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    json_output: bool = Field(
        default=True, alias="OMNIGEN_LOG_JSON", description="JSON lines; false: for a terminal"
    )


class WorkerSettings(BaseSettings):
    """How a worker consumes its queue (`OMNIGEN_WORKER_*`)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_WORKER_", extra="ignore")

    concurrency: int = Field(default=2, ge=1, le=64)
    wait_time_s: int = Field(default=20, ge=0, le=20)
    drain_timeout_s: float = Field(default=90.0, gt=0, description="under the ECS stop timeout")
    retry_base_s: int = Field(default=2, ge=0)
    retry_max_s: int = Field(default=300, ge=0)
    events_topic_arn: str | None = Field(default=None, description="skip the lookup by name")
    resource_wait_s: float = Field(
        default=120.0,
        ge=0,
        description="at start, how long to wait for the table, topic and queue to exist "
        "(retrying with backoff) before exiting 2",
    )
    visibility_timeout_s: int | None = Field(
        default=None, ge=1, le=43200, description="default: the queue's own (resource spec)"
    )
    lease_s: float | None = Field(
        default=None,
        gt=0,
        le=43200,
        description="a step's lease, renewed by every heartbeat; a crashed holder frees the step "
        "this long after its last heartbeat (default: the visibility timeout)",
    )

    def step_lease_s(self, queue: Queue) -> float:
        return self.lease_s or float(self.visibility_timeout_s or queue.visibility_timeout_s)

    def consumer_settings(self, queue: Queue) -> ConsumerSettings:
        return ConsumerSettings(
            max_concurrency=self.concurrency,
            wait_time_s=self.wait_time_s,
            visibility_timeout_s=self.visibility_timeout_s or queue.visibility_timeout_s,
            retry_base_s=self.retry_base_s,
            retry_max_s=self.retry_max_s,
            drain_timeout_s=self.drain_timeout_s,
            max_receive_count=queue.max_receive_count,
        )


class TelemetrySettings(BaseSettings):
    """Traces and metrics, both off by default (and then free)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    tracing: bool = Field(
        default=False,
        description="export OpenTelemetry traces over OTLP/HTTP, to where the standard "
        "OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) or "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT says; the other OTEL_* variables apply too",
    )
    metrics: bool = Field(
        default=False,
        description="write CloudWatch embedded-metric-format JSON lines to stdout (logs are on "
        "stderr); Terraform turns it on in ECS",
    )


class WebhookGuardSettings(BaseSettings):
    """Where webhooks may go (`OMNIGEN_WEBHOOKS_*`), read by ingest at registration and by the
    webhooks worker before every delivery."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_WEBHOOKS_", extra="ignore")

    allow_loopback: bool = Field(
        default=False,
        description="accept http:// and https:// to loopback addresses (127.0.0.0/8, ::1, "
        "localhost); for the local stack and tests only, never in a deployment",
    )
