"""The web page: served by ingest itself at `/` (same origin as the API, so no CORS), its
static files under `/web/`, and the local sign-in that exchanges a one-time code for a token.

The page's Content-Security-Policy allows scripts, styles and requests to this origin only;
images and media also from the storage origin that presigned links point to, and requests to
it too (the page POSTs a user's upload straight to its presigned POST)."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from omnigen.ingest.api.deps import Context
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.signin import LocalSignIn, SignInRefused

router = APIRouter(tags=["web"])

WEB_FILES: Final = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
SIGNIN_TOKEN_TTL_S: Final = 8 * 3600
PAGE_CSP_BASE: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _web_dir() -> resources.abc.Traversable:
    return resources.files("omnigen.ingest") / "web"


def page_csp(storage_origin: str | None, signin_origin: str | None = None) -> str:
    media = "'self'" + (f" {storage_origin}" if storage_origin else "")
    csp = f"{PAGE_CSP_BASE}; img-src {media} data:; media-src {media}"
    # uploads go straight to storage (presigned POST); the hosted sign-in's code is exchanged
    # at the identity provider's token endpoint
    connect = " ".join(origin for origin in (media, signin_origin) if origin)
    return csp.replace("connect-src 'self'", f"connect-src {connect}")


async def _storage_origin(request: Request, ctx: Context) -> str | None:
    """The scheme and host presigned links point to (found once, from a presigned link)."""
    cached = getattr(request.app.state, "storage_origin", None)
    if cached is None:
        url = await ctx.ports.assets.presigned_url("web/origin-probe", 60)
        parts = urlsplit(url)
        cached = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
        request.app.state.storage_origin = cached
    return cached or None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, ctx: Context) -> HTMLResponse:
    html = (_web_dir() / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": page_csp(
                await _storage_origin(request, ctx), ctx.settings.auth_signin_url
            ),
            "Cache-Control": "no-cache",
        },
    )


@router.get("/web/{name}", include_in_schema=False)
async def web_file(name: Annotated[str, Path(max_length=40)]) -> FileResponse:
    media_type = WEB_FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", "no such file", field="name")
    with resources.as_file(_web_dir() / name) as path:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


class HostedSignIn(BaseModel):
    authorize_url: str
    token_url: str
    client_id: str
    scope: str = "openid"


class AuthConfig(BaseModel):
    """How the page signs people in (public: the page reads it before anyone is signed in)."""

    local_signin: bool = Field(description="POST /v1/auth/signin takes one-time codes")
    hosted: HostedSignIn | None = Field(
        default=None, description="authorization code + PKCE at the identity provider"
    )


@router.get("/v1/auth/config", response_model=AuthConfig, summary="How the web page signs in")
async def auth_config(request: Request, ctx: Context) -> AuthConfig:
    settings = ctx.settings
    hosted = None
    if settings.auth_signin_url and settings.auth_client_id:
        base = settings.auth_signin_url
        hosted = HostedSignIn(
            authorize_url=f"{base}/oauth2/authorize",
            token_url=f"{base}/oauth2/token",
            client_id=settings.auth_client_id,
        )
    local = getattr(request.app.state, "local_signin", None) is not None
    return AuthConfig(local_signin=local, hosted=hosted)


class SignInRequest(BaseModel):
    code: str = Field(min_length=1, max_length=4000, description="the link's one-time code")


class SignInAnswer(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the scheme's name, not a secret)
    expires_in: int = Field(description="seconds")
    user_id: str
    resume_code: str = Field(
        description="a fresh one-time sign-in code (10 minutes): the page keeps it in its "
        "tab's sessionStorage, exchanges it after a reload and renews it while open; not a "
        "bearer token"
    )


def local_signin(settings: IngestSettings) -> LocalSignIn | None:
    """A code exchanger where ingest signs with a shared secret; None with Cognito/JWKS."""
    if settings.auth_jwks_url or settings.auth_hs256_secret is None:
        return None
    return LocalSignIn(
        secret=settings.auth_hs256_secret.get_secret_value(),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        token_ttl_s=SIGNIN_TOKEN_TTL_S,
    )


@router.post(
    "/v1/auth/signin",
    response_model=SignInAnswer,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Exchange a one-time sign-in code for an access token (local stack)",
    description="The code comes from the sign-in link `omnigen local up` prints, or is the "
    "`resume_code` of an earlier answer; it works once and expires within minutes. 404 where "
    "ingest uses an identity provider (JWKS).",
)
async def signin(body: SignInRequest, request: Request) -> SignInAnswer:
    exchanger: LocalSignIn | None = getattr(request.app.state, "local_signin", None)
    if exchanger is None:
        raise ApiError(404, "not_found", "sign in with the identity provider instead", field="code")
    try:
        signed_in = exchanger.exchange(body.code)
    except SignInRefused as exc:
        raise ApiError(400, "invalid_signin_code", str(exc), field="code") from None
    return SignInAnswer(
        access_token=signed_in.access_token,
        expires_in=signed_in.expires_in,
        user_id=signed_in.user_id,
        resume_code=signed_in.resume_code,
    )
