"""A fake hosted sign-in on 127.0.0.1 speaking the OAuth 2.0 endpoints Cognito's hosted UI
serves: /oauth2/authorize (signs `user` in at once and redirects back with a code),
/oauth2/token (authorization code + PKCE S256, once per code; CORS for the page's origin, as
Cognito answers a browser) and /.well-known/jwks.json (the RS256 key its tokens are signed
with). The ID token's `aud` is the client id and its `iss` the server's origin."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from omnigen.testing.http_server import ThreadedServer


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    user: str


class FakeHostedSignIn(ThreadedServer):
    def __init__(self, client_id: str, user: str = "hosted-user", token_ttl_s: int = 3600) -> None:
        super().__init__()
        self.client_id = client_id
        self.user = user
        self.token_ttl_s = token_ttl_s
        self.kid = "fake-idp-key"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._grants: dict[str, _Grant] = {}
        self.token_requests: list[dict[str, str]] = []

    @property
    def jwks_url(self) -> str:
        return f"{self.origin}/.well-known/jwks.json"

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/.well-known/jwks.json", self._jwks)

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return web.Response(status=400, text="unknown client or response type")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return web.Response(status=400, text="PKCE with S256 is required")
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            self.client_id, query["redirect_uri"], query["code_challenge"], self.user
        )
        back = urlencode({"code": code, "state": query.get("state", "")})
        raise web.HTTPFound(f"{query['redirect_uri']}?{back}")

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        cors = {"Access-Control-Allow-Origin": request.headers.get("Origin", "*")}
        grant = self._grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != grant.client_id
            or form.get("redirect_uri") != grant.redirect_uri
            or challenge != grant.challenge
        ):
            body = json.dumps({"error": "invalid_grant"})
            return web.Response(
                status=400, text=body, content_type="application/json", headers=cors
            )
        answer = {
            "id_token": self.token(grant.user, {"aud": self.client_id, "token_use": "id"}),
            "access_token": self.token(
                grant.user, {"client_id": self.client_id, "token_use": "access"}
            ),
            "token_type": "Bearer",
            "expires_in": self.token_ttl_s,
        }
        return web.json_response(answer, headers=cors)

    async def _jwks(self, request: web.Request) -> web.Response:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return web.json_response({"keys": [{**public, "kid": self.kid, "alg": "RS256"}]})

    def token(self, user: str, claims: dict[str, Any]) -> str:
        now = int(time.time())
        payload = {
            "sub": user,
            "iss": self.origin,
            "iat": now,
            "exp": now + self.token_ttl_s,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self.kid})
