"""The SSRF guard's second half: resolve a webhook URL's host and refuse it when any address
it resolves to is not public (`domain.webhooks.address_refusal`). Run at registration and
again before every delivery (DNS may have changed); the sender then connects to the checked
address itself, so a second lookup cannot point it elsewhere."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from omnigen.shared.domain.webhooks import UnsafeWebhookUrl, address_refusal, check_url

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[Address]]]
RESOLVE_TIMEOUT_S = 5.0


async def system_resolver(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    port: int
    address: Address  # the one to connect to: every address of the host was checked


@dataclass(frozen=True)
class UrlGuard:
    allow_loopback: bool = False
    resolver: Resolver = system_resolver

    async def check(self, url: str) -> CheckedUrl:
        """The URL with the address to call, or `UnsafeWebhookUrl` saying why not."""
        host, port = check_url(url, allow_loopback=self.allow_loopback)
        try:
            addresses = await asyncio.wait_for(
                self.resolver(host.strip("[]"), port), RESOLVE_TIMEOUT_S
            )
        except (OSError, TimeoutError, UnicodeError):
            raise UnsafeWebhookUrl(f"host {host} does not resolve") from None
        if not addresses:
            raise UnsafeWebhookUrl(f"host {host} does not resolve")
        for address in addresses:
            refusal = address_refusal(address, allow_loopback=self.allow_loopback)
            if refusal:
                raise UnsafeWebhookUrl(f"host {host} resolves to {refusal}")
        return CheckedUrl(url=url, host=host, port=port, address=addresses[0])
