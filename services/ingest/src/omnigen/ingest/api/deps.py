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


async def authenticated_user(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The token's subject; 401 for a missing or bad token, 429 when over the rate limit."""
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
    try:
        await ctx.limiter.check(principal.user_id)
    except LimitExceeded as exc:
        raise ApiError(
            429,
            "rate_limited",
            str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    return principal.user_id


UserId = Annotated[str, Depends(authenticated_user)]
