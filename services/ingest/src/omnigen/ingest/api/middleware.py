"""Per-request trace id (bound to every log line and returned as X-Trace-Id) and access log."""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

log = structlog.get_logger()

_TRACE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class TraceMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = _incoming_trace_id(scope) or uuid.uuid4().hex
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

        with bound_contextvars(trace_id=trace_id):
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


def _incoming_trace_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-trace-id":
            text = value.decode("latin-1")
            return text if _TRACE_ID.match(text) else None
    return None
