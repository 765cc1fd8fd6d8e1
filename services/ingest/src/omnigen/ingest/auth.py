"""Bearer JWT verification: RS256 with keys from a JWKS URL (Cognito) or HS256 with a shared
secret for local use. The token's subject is the user id; every failure is an `AuthError`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import jwt
import structlog

from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.signin import SIGNIN_USE

log = structlog.get_logger()

MAX_USER_ID: Final = 200  # the event envelope's bound on user_id


class AuthError(Exception):
    """The request is not authenticated; the message says why (never echoes the token)."""


class AuthUnavailable(Exception):
    """Keys could not be fetched: a server-side problem, not the client's."""


@dataclass(frozen=True)
class Principal:
    user_id: str


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class JwksCache:
    """Signing keys by `kid`, fetched over HTTP and kept for `ttl_s`. An unknown `kid` triggers a
    refetch (key rotation), but at most once per `refresh_min_s`, also after a failed fetch."""

    def __init__(
        self, url: str, client: httpx.AsyncClient, *, ttl_s: float, refresh_min_s: float
    ) -> None:
        self._url = url
        self._client = client
        self._ttl_s = ttl_s
        self._refresh_min_s = refresh_min_s
        self._keys: dict[str, Any] = {}
        self._expires_at = 0.0
        self._hold_until = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any:
        if self._needs_refresh(kid):
            await self._refresh(kid)
        if not self._keys:
            raise AuthUnavailable("signing keys are unavailable")
        if kid not in self._keys:
            raise AuthError("token signed with an unknown key")
        return self._keys[kid]

    def _needs_refresh(self, kid: str) -> bool:
        now = time.monotonic()
        if now < self._hold_until:
            return False
        return now >= self._expires_at or kid not in self._keys

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            if not self._needs_refresh(kid):  # another request refreshed while we waited
                return
            self._hold_until = time.monotonic() + self._refresh_min_s
            try:
                response = await self._client.get(self._url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                log.error("jwks_fetch_failed", url=self._url, error=str(exc))
                return  # keep serving the keys we have, if any
            self._keys = {k.key_id: k.key for k in keys if k.key_id}
            self._expires_at = time.monotonic() + self._ttl_s
            log.info("jwks_refreshed", keys=len(self._keys))


class JwtVerifier:
    """One algorithm per deployment, so a token can never pick a weaker one."""

    def __init__(
        self,
        *,
        algorithm: str,
        issuer: str | None,
        audience: str | None,
        leeway_s: float,
        secret: str | None = None,
        jwks: JwksCache | None = None,
    ) -> None:
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._secret = secret
        self._jwks = jwks

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        if header.get("alg") != self._algorithm:
            raise AuthError(f"token must be signed with {self._algorithm}")
        key = await self._key(header)
        required = ["exp", "sub"] + [
            name for name, value in (("iss", self._issuer), ("aud", self._audience)) if value
        ]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature is invalid") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("token issuer is not accepted") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("token audience is not accepted") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if claims.get("token_use") == SIGNIN_USE:
            raise AuthError("a sign-in code is not an access token; exchange it first")
        return Principal(user_id=_subject(claims))

    async def _key(self, header: dict[str, Any]) -> Any:
        if self._jwks is None:
            return self._secret
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token header lacks a key id (kid)")
        return await self._jwks.key(kid)


def _subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_ID:
        raise AuthError(f"token subject must be a non-empty string of at most {MAX_USER_ID}")
    return sub


def build_verifier(settings: IngestSettings, http: httpx.AsyncClient) -> JwtVerifier:
    """RS256 via JWKS when a JWKS URL is set, else HS256 with the local secret."""
    if settings.auth_jwks_url:
        jwks = JwksCache(
            settings.auth_jwks_url,
            http,
            ttl_s=settings.auth_jwks_cache_s,
            refresh_min_s=settings.auth_jwks_refresh_min_s,
        )
        return JwtVerifier(
            algorithm="RS256",
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_s=settings.auth_leeway_s,
            jwks=jwks,
        )
    assert settings.auth_hs256_secret is not None  # guaranteed by IngestSettings' validator
    return JwtVerifier(
        algorithm="HS256",
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_s=settings.auth_leeway_s,
        secret=settings.auth_hs256_secret.get_secret_value(),
    )
