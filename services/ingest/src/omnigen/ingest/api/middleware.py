"""Per-request trace id (bound to every log line and returned as X-Trace-Id), the request's
server span (tracing on), access log, the security headers every answer carries, and the 500
of an unhandled error answered inside them.

The trace id is a W3C trace id (32 hex), the trace's own: the caller's `traceparent` names it
(and its span becomes the parent of ours), else the caller's X-Trace-Id does (one that is not
a W3C trace id is mapped: `omnigen.shared.telemetry.tracing.w3c_trace_id`), else a new one.
A job submitted by the request keeps it, and every event of the job carries it."""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from omnigen.ingest.api.errors import unexpected_error
from omnigen.shared.telemetry.tracing import incoming_trace_id, request_span, w3c_trace_id

log = structlog.get_logger()

_TRACE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_JOB_PATH: Final = re.compile(r"^/v1/jobs/[^/]+")  # span names: one per route, not per job


class TraceMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _trace_headers(scope)
        trace_id = _trace_id(headers)
        scope.setdefault("state", {})["trace_id"] = trace_id
        status = 0
        began = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-trace-id", trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        route = f"{scope['method']} {_JOB_PATH.sub('/v1/jobs/{job_id}', scope['path'])}"
        with (
            bound_contextvars(trace_id=trace_id),
            request_span(
                route,
                trace_id,
                headers,
                attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
            ),
        ):
            try:
                await self.app(scope, receive, send_with_trace)
            finally:
                log.info(
                    "http_request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - began) * 1000, 1),
                )


def _trace_headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name in (b"x-trace-id", b"traceparent")
    }


def _trace_id(headers: dict[str, str]) -> str:
    from_parent = incoming_trace_id(headers)
    if from_parent is not None:
        return from_parent
    given = headers.get("x-trace-id", "")
    if _TRACE_ID.match(given):
        return w3c_trace_id(given)
    return uuid.uuid4().hex


_API_CSP: Final = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP: Final = b"frame-ancestors 'none'"  # the docs pages load Swagger UI / ReDoc assets
_DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
_HSTS: Final = b"max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """nosniff, no referrer, a CSP that forbids framing (and everything else for API answers),
    and HSTS when the request came over https: directly, or through a proxy that said so in
    X-Forwarded-Proto (uvicorn's proxy_headers rewrites the scheme for trusted proxies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = _DOCS_CSP if scope["path"] in _DOCS_PATHS else _API_CSP
        page = scope["path"] == "/"  # the web page sets its own (it names the storage origin)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = list(message.get("headers", []))
                own = [v for n, v in given if page and n.lower() == b"content-security-policy"]
                headers = [(n, v) for n, v in given if n.lower() not in _SECURITY_HEADER_NAMES]
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", own[0] if own else csp),
                ]
                if https:
                    headers.append((b"strict-transport-security", _HSTS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECURITY_HEADER_NAMES: Final = frozenset(
    {
        b"x-content-type-options",
        b"referrer-policy",
        b"content-security-policy",
        b"strict-transport-security",
    }
)


class UnhandledErrorMiddleware:
    """An exception no handler took becomes the API's 500 here, inside the trace and
    security-header middlewares, so that answer too carries X-Trace-Id and the security headers
    (Starlette's own last-resort 500 is sent from outside every middleware). Once an answer has
    started (a stream), it is too late for another: the error goes on and the server ends the
    connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, send)
