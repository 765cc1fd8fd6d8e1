"""Ingest's configuration: where AWS is (inherited) plus HTTP, auth and limits (`OMNIGEN_*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from omnigen.ingest.trust import ANY_USER, UpstreamTrust, check_patterns
from omnigen.shared.domain.media import OPENAI_VOICES
from omnigen.shared.settings import AwsSettings


class IngestSettings(AwsSettings):
    """Auth must be configured: RS256 through a JWKS URL (production) or an HS256 secret (local)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="bind address; 0.0.0.0 in a container")
    port: int = Field(default=8000, ge=0, le=65535)
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-Proto/-For are believed (uvicorn); '*' for all",
    )
    public_base_url: str | None = Field(
        default=None, description="prefix for links in responses; default: relative links"
    )

    auth_jwks_url: str | None = Field(default=None, description="RS256 keys, e.g. Cognito's")
    auth_issuer: str | None = Field(default=None, description="required `iss` claim")
    auth_audience: str | None = Field(default=None, description="required `aud` claim")
    auth_hs256_secret: SecretStr | None = Field(
        default=None, description="local mode: tokens signed with this shared secret"
    )
    auth_leeway_s: float = Field(default=30.0, ge=0, le=300, description="clock skew allowed")
    auth_jwks_cache_s: float = Field(default=600.0, gt=0, description="how long keys are kept")
    auth_jwks_refresh_min_s: float = Field(
        default=30.0, ge=0, description="least time between refetches for an unknown key id"
    )
    auth_jwks_timeout_s: float = Field(default=5.0, gt=0, le=60)
    auth_signin_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description="the web page's hosted sign-in (authorization code + PKCE): the identity "
        "provider's base URL with /oauth2/authorize and /oauth2/token (a Cognito domain, "
        "https://NAME.auth.REGION.amazoncognito.com); needs OMNIGEN_AUTH_CLIENT_ID",
    )
    auth_client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the web page's public app client id (no secret); its callback URL is the "
        "page's address (https://HOST/)",
    )
    webhooks_allow_loopback: bool = Field(
        default=False,
        description="accept webhook URLs and job callbacks to loopback addresses (local stack "
        "and tests only); the webhooks worker reads the same variable",
    )

    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="413 above this (a 20-scene script fits)"
    )
    max_batch_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="413 above this for POST /v1/jobs:batch"
    )
    rate_limit_per_minute: float = Field(default=120.0, gt=0, description="per user, sustained")
    rate_limit_burst: int = Field(
        default=30, ge=1, description="per user, requests in one window of burst/per_minute min"
    )
    rate_limit_store: Literal["dynamodb", "memory"] = Field(
        default="dynamodb", description="dynamodb: shared by every task; memory: per process"
    )
    max_running_jobs: int = Field(
        default=5, ge=1, description="unfinished jobs per user (one counter in the jobs table)"
    )
    running_jobs_retry_after_s: int = Field(default=30, ge=1)
    monthly_video_seconds_quota: int | None = Field(
        default=None,
        ge=1,
        description="seconds of video a user's accepted jobs may request per calendar month "
        "(UTC), decided by the create itself; unset: no quota (usage is counted either way)",
    )

    outbox_sweep_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="how often the outbox sweeper looks"
    )
    outbox_sweep_age_s: float = Field(
        default=30.0,
        ge=0,
        le=24 * 3600,
        description="a job unannounced for longer than this is announced by the sweeper",
    )

    script_writer: Literal["auto", "planner", "openai"] = Field(
        default="auto",
        description="the scripter's writer (same variable as the scripter's): openai writes "
        "every language; planner, and auto (ingest cannot see the scripter's key), English only: "
        "other languages get a 422",
    )
    narration_provider: Literal["local", "openai"] = Field(
        default="local",
        description="the renderer's narrator (same variable as the renderer's), for GET /v1/voices",
    )
    speech_voices: tuple[str, ...] = Field(
        default=OPENAI_VOICES,
        description="the speech provider's voices (same variable as the renderer's), for "
        "GET /v1/voices",
    )

    video_url_expiry_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    sse_poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="how fresh a job's event stream is after a change"
    )
    sse_poll_max_interval_s: float = Field(
        default=8.0,
        gt=0,
        le=300,
        description="the longest a stream waits between reads while nothing changes (the wait "
        "doubles from the poll interval); one read per job serves every stream on a task",
    )
    sse_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    sse_max_duration_s: float = Field(default=3600.0, gt=0, description="clients reconnect")
    sse_max_streams_per_user: int = Field(
        default=5, ge=1, description="open event streams per user on one ingest task; 429 above"
    )
    sse_retry_after_s: int = Field(default=5, ge=1, description="Retry-After of that 429")
    upstream_user_rules: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON: upstream publisher name -> the user ids it may request jobs for "
        "(exact ids, or prefixes ending in '*'), for requests that come through its own topic "
        "<prefix>-job-requests-<name>; a publisher topic without a rule is refused everything",
    )
    upstream_shared_topic_users: list[str] = Field(
        default_factory=lambda: [ANY_USER],
        description="JSON list: the user ids requests through the shared topic "
        "<prefix>-job-requests (or sent to the ingest queue directly) may name; [] closes it",
    )
    readiness_timeout_s: float = Field(default=3.0, gt=0, le=30)
    shutdown_timeout_s: float = Field(default=20.0, gt=0, description="HTTP drain on SIGTERM")

    @field_validator("upstream_user_rules")
    @classmethod
    def _rules(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {name: check_patterns(patterns) for name, patterns in value.items()}

    @field_validator("upstream_shared_topic_users")
    @classmethod
    def _shared_rule(cls, value: list[str]) -> list[str]:
        return check_patterns(value)

    @property
    def upstream_trust(self) -> UpstreamTrust:
        return UpstreamTrust.of(
            self.resources, self.upstream_shared_topic_users, self.upstream_user_rules
        )

    @model_validator(mode="after")
    def _auth_configured(self) -> IngestSettings:
        if self.auth_jwks_url:
            if not (self.auth_issuer and self.auth_audience):
                raise ValueError(
                    "OMNIGEN_AUTH_JWKS_URL needs OMNIGEN_AUTH_ISSUER and OMNIGEN_AUTH_AUDIENCE"
                )
        elif self.auth_hs256_secret is None:
            raise ValueError("set OMNIGEN_AUTH_JWKS_URL (RS256) or OMNIGEN_AUTH_HS256_SECRET")
        elif len(self.auth_hs256_secret.get_secret_value()) < 32:
            raise ValueError("OMNIGEN_AUTH_HS256_SECRET must be at least 32 characters")
        if (self.auth_signin_url is None) != (self.auth_client_id is None):
            raise ValueError("set OMNIGEN_AUTH_SIGNIN_URL and OMNIGEN_AUTH_CLIENT_ID together")
        return self
