"""Tokens for deployments that sign with a shared secret (HS256): the local stack, and a
standalone ingest configured with `OMNIGEN_AUTH_HS256_SECRET`. Ingest requires `sub` and `exp`,
plus `iss` and `aud` when it is configured with them."""

from __future__ import annotations

import time

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32  # what ingest accepts


class TokenSettings(BaseSettings):
    """The same variables ingest reads, so a token minted here is one it accepts."""

    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    auth_hs256_secret: SecretStr | None = Field(default=None, description="ingest's HS256 secret")
    auth_issuer: str | None = None
    auth_audience: str | None = None


def mint_hs256_token(
    secret: str,
    user_id: str,
    *,
    ttl_s: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    import jwt  # the CLI's dependency; the services verify, they never mint

    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return str(jwt.encode(claims, secret, algorithm="HS256"))


SIGNIN_CODE_TTL_S = 10 * 60  # ingest refuses a code that lives longer than 15 minutes


def mint_signin_code(secret: str, user_id: str, *, ttl_s: int = SIGNIN_CODE_TTL_S) -> str:
    """A one-time sign-in code for the web page (`<api>/#signin=<code>`): ingest exchanges it
    once for an access token (POST /v1/auth/signin) and refuses it as a bearer token."""
    import secrets

    import jwt

    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "token_use": "signin",
    }
    return str(jwt.encode(claims, secret, algorithm="HS256"))
