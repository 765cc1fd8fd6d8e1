"""Local sign-in for the web page: a one-time sign-in code (minted by `omnigen local up` with
the HS256 secret) is exchanged once for an access token. Only where ingest signs with a shared
secret (the local stack); with Cognito/JWKS the identity provider signs people in.

A code is a JWT with `token_use: "signin"`, a `jti` and a short life; the bearer check refuses
such a token, so a code in a link can never be used as an access token.

Each exchange also answers a fresh code of the same kind (`resume_code`, RESUME_CODE_LIFE_S):
the page keeps that one in its tab's sessionStorage and exchanges it after a reload, so a
reload does not sign the user out while the access token itself stays in memory only. Like the
link's code it works once, is no bearer token, and lives minutes; the open page renews it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import jwt

SIGNIN_USE: Final = "signin"
MAX_CODE_LIFE_S: Final = 15 * 60  # a code that claims a longer life is refused
RESUME_CODE_LIFE_S: Final = 10 * 60  # the page renews its resume code well before this


class SignInRefused(Exception):
    """The code is not valid, expired or already used; the message says which."""


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    access_token: str
    expires_in: int
    resume_code: str  # a fresh one-time code: exchanged after a reload of the page


@dataclass
class LocalSignIn:
    """Exchanges codes for access tokens; remembers used codes until they expire."""

    secret: str
    issuer: str | None
    audience: str | None
    token_ttl_s: int
    clock: Callable[[], float] = time.time
    _used: dict[str, float] = field(default_factory=dict)

    def exchange(self, code: str) -> SignedIn:
        claims = self._claims(code)
        now = self._now()
        self._used = {jti: exp for jti, exp in self._used.items() if exp > now}
        jti = claims["jti"]
        if jti in self._used:
            raise SignInRefused("this sign-in code was already used; start again for a new one")
        self._used[jti] = float(claims["exp"])
        user = claims["sub"]
        return SignedIn(user, self._mint(user, now), self.token_ttl_s, self._resume(user, now))

    def _now(self) -> float:
        return float(self.clock())

    def _claims(self, code: str) -> dict[str, str]:
        try:
            claims = jwt.decode(
                code,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat", "sub", "jti"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SignInRefused("this sign-in code has expired; start again for a new one") from exc
        except jwt.PyJWTError as exc:
            raise SignInRefused("this is not a valid sign-in code") from exc
        if claims.get("token_use") != SIGNIN_USE:
            raise SignInRefused("this is not a sign-in code")
        if float(claims["exp"]) - float(claims["iat"]) > MAX_CODE_LIFE_S:
            raise SignInRefused("this sign-in code lives too long to be accepted")
        sub, jti = claims["sub"], claims["jti"]
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
            raise SignInRefused("this is not a valid sign-in code")
        return {"sub": sub, "jti": jti, "exp": str(claims["exp"])}

    def _resume(self, user_id: str, now: float) -> str:
        issued = int(now)
        claims = {
            "sub": user_id,
            "iat": issued,
            "exp": issued + RESUME_CODE_LIFE_S,
            "jti": secrets.token_urlsafe(16),
            "token_use": SIGNIN_USE,
        }
        return str(jwt.encode(claims, self.secret, algorithm="HS256"))

    def _mint(self, user_id: str, now: float) -> str:
        issued = int(now)
        claims: dict[str, object] = {
            "sub": user_id,
            "iat": issued,
            "exp": issued + self.token_ttl_s,
        }
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        return str(jwt.encode(claims, self.secret, algorithm="HS256"))
