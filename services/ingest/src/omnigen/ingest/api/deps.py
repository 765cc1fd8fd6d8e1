"""Request dependencies: the process context, the authenticated user, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from omnigen.ingest.api.errors import ApiError
from omnigen.ingest.auth import AuthError, AuthUnavailable
from omnigen.ingest.context import IngestContext
from omnigen.ingest.limits import LimitExceeded

_bearer = HTTPBearer(auto_error=False, description="a JWT; its `sub` is the user id")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="omnigen"'}


def context(request: Request) -> IngestContext:
    ingest: IngestContext = request.app.state.ingest
    return ingest


Context = Annotated[IngestContext, Depends(context)]


async def token_subject(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The token's subject; 401 for a missing or bad token. The request is not yet counted
    against the rate limit: `authenticated_user` counts it, or the job's create does."""
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "a bearer token is required",
            field="Authorization",
            headers=_CHALLENGE,
        )
    try:
        principal = await ctx.verifier.verify(credentials.credentials)
    except AuthError as exc:
        raise ApiError(
            401, "unauthorized", str(exc), field="Authorization", headers=_CHALLENGE
        ) from None
    except AuthUnavailable as exc:
        raise ApiError(503, "auth_unavailable", str(exc), headers={"Retry-After": "5"}) from None
    return principal.user_id


Subject = Annotated[str, Depends(token_subject)]


async def authenticated_user(ctx: Context, user_id: Subject) -> str:
    """The token's subject, counted against the rate limit: 429 when over it."""
    try:
        await ctx.limiter.check(user_id)
    except LimitExceeded as exc:
        raise rate_limited(exc.retry_after_s) from None
    return user_id


def rate_limited(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        "too many requests; slow down",
        headers={"Retry-After": str(retry_after_s)},
    )


UserId = Annotated[str, Depends(authenticated_user)]
