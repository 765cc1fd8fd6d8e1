"""One HTTP attempt at a webhook: the SSRF guard again (DNS may have changed since the target
was registered), then a POST to the very address the guard checked (the URL's host kept for
the Host header, TLS SNI and certificate check), no redirects followed, the whole attempt
bounded by a timeout. The answer's body is never read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from omnigen.shared.adapters.netguard import CheckedUrl, UrlGuard
from omnigen.shared.domain.webhooks import UnsafeWebhookUrl


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    refused: bool = False  # the guard refused the target: no request was made


class Sender(Protocol):
    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult: ...


def pinned(checked: CheckedUrl) -> tuple[str, str]:
    """The URL pointing at the checked address, and the Host header it must carry."""
    parts = urlsplit(checked.url)
    address = str(checked.address)
    literal = f"[{address}]" if ":" in address else address
    default = 443 if parts.scheme == "https" else 80
    netloc = literal if checked.port == default else f"{literal}:{checked.port}"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host


class HttpSender:
    def __init__(self, guard: UrlGuard, *, timeout_s: float, user_agent: str) -> None:
        self._guard = guard
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s),
            trust_env=False,  # no proxy from the environment: the guard checked this address
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        began = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - began) * 1000)

        try:
            checked = await self._guard.check(url)
        except UnsafeWebhookUrl as exc:
            return SendResult(None, took(), f"refused: the URL {exc}", refused=True)
        target, host = pinned(checked)
        request_headers = {
            **headers,
            "Host": host,
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._client.stream(
                    "POST",
                    target,
                    content=body,
                    headers=request_headers,
                    extensions={"sni_hostname": checked.host.strip("[]")},
                ) as response:
                    status = response.status_code
        except TimeoutError:
            return SendResult(None, took(), f"timed out after {self._timeout_s:g} s")
        except httpx.TimeoutException:
            return SendResult(None, took(), f"timed out after {self._timeout_s:g} s")
        except httpx.ConnectError:
            return SendResult(None, took(), "could not connect")
        except httpx.HTTPError as exc:
            return SendResult(None, took(), f"HTTP error: {type(exc).__name__}")
        error = None
        if 300 <= status < 400:
            error = "redirect not followed"
        return SendResult(status, took(), error)
