"""One error shape for every 4xx and 5xx: `{"error": {"code", "message", "field",
"request_id"}}`. A 5xx says what kind of thing failed and nothing about how: AWS error text,
endpoints and resource names go to the log under the same request id (X-Trace-Id)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnigen.shared.domain.errors import RepositoryError, RepositoryUnavailable
from omnigen.shared.domain.text import error_message

log = structlog.get_logger()


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable")
    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(default=None, description="the offending field or header, if any")
    request_id: str | None = Field(
        default=None, description="this request's id (X-Trace-Id): quote it, the log has details"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raised by routes and dependencies; rendered as the error shape with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def request_id_of(request: Request) -> str | None:
    trace_id = getattr(request.state, "trace_id", None)
    return trace_id if isinstance(trace_id, str) else None


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    detail = ErrorDetail(code=code, message=message, field=field, request_id=request_id_of(request))
    body = ErrorBody(error=detail)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, exc.field, exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        field = _field_of(errors[0]) if errors else None
        message = "; ".join(f"{_field_of(e) or 'body'}: {_message_of(e)}" for e in errors)
        return error_response(request, 422, "validation_error", message or "invalid request", field)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "internal")
        headers = dict(exc.headers) if exc.headers else None
        field = "body" if exc.status_code == 400 else None  # FastAPI could not parse the body
        return error_response(request, exc.status_code, code, str(exc.detail), field, headers)

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RepositoryError)
        log.error("request_failed", error=f"{type(exc).__name__}: {exc}")  # details: logged
        if isinstance(exc, RepositoryUnavailable):
            message = "the job store is unavailable; retry later"
            return error_response(
                request, 503, "unavailable", message, headers={"Retry-After": "2"}
            )
        return error_response(request, 500, "internal", "internal error; the request failed")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RepositoryError, store_unavailable)
    # The last resort, outside every middleware; `UnhandledErrorMiddleware` answers first.
    app.add_exception_handler(Exception, unexpected_error)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """An exception no handler took: logged with its traceback, answered with a bare 500."""
    log.error("request_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
    return error_response(request, 500, "internal", "internal error; the request can be retried")


def _field_of(error: Any) -> str | None:
    """`("body", "options", "style")` -> "options.style", `("body", "script", "scenes", 2,
    "narration")` -> "script.scenes[2].narration"; headers keep their HTTP spelling."""
    raw = list(error.get("loc", ()))
    if not raw:
        return None
    where, path = str(raw[0]), raw[1:]
    if where == "header" and path:
        return "-".join(word.capitalize() for word in str(path[0]).split("-"))
    if where == "body" and (not path or isinstance(path[0], int) or str(path[0]).isdigit()):
        return "body"  # the body as a whole (e.g. not JSON; position given as a number)
    # `script.scenes[2].narration`: list positions in brackets, as the script rules name them
    named = ""
    for part in path:
        named += f"[{part}]" if isinstance(part, int) else (f".{part}" if named else str(part))
    return named or where


def _message_of(error: Any) -> str:
    message = error_message(error)
    if error.get("type") == "json_invalid":
        return "request body is not valid JSON"
    return message
